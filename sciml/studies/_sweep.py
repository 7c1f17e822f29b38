"""Sweeps: a grid of one experiment's settings, each member a separate `sciml run` process, and one table of them.

`plan_sweep` expands ``{key: [value, ...]}`` (from ``--set key=v1,v2``) into the Cartesian grid; each member runs as
``python -m sciml.cli run NAME [--config FILE] --set ... --out OUT/MEMBER`` where MEMBER names its swept settings
(``seed=0,learning_rate=0.001``). `run_sweep` runs the members on an executor: `LocalPool` (processes on this
machine, one per core by default) or `Submitit` (Slurm through submitit's `AutoExecutor`, or submitit's local
executor). A rerun skips finished members and resumes unfinished ones (the run folder's lifecycle: checkpoints); a
member that fails is reported with its exit code and the end of its stderr (its full logs are in ``OUT/logs``) and
the others are kept. Then `OUT/sweep.nc` holds one row per member (every numeric summary metric, the swept settings
as coordinates) and `OUT/sweep.md` the table of members and, per setting, mean +- std and median over the seeds.
`best_member(OUT, metric)` is the folder of the best member, for `sciml.load`.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import json
import math
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sciml._errors import ConfigError, DataError
from sciml.data import with_provenance, write_dataset
from sciml.studies._config import config_dict, flatten_config, parse_overrides, read_config_file, resolve_config
from sciml.studies._run import _read_json, load_experiment

SEED_KEY = "train.seed"
_TAIL_LINES = 15


def split_values(text: str) -> list[str]:
    """``"a,b,[c,d]"`` -> ``["a", "b", "[c,d]"]``: commas inside brackets or parentheses belong to one (tuple) value."""
    values, depth, current = [], 0, ""
    for char in text:
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        if char == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += char
    values.append(current.strip())
    if any(not value for value in values):
        raise ConfigError(f"--set {text!r}: an empty value in the comma list; expected key=v1,v2,... (a tuple value "
                          "in brackets: key=[0.1,1.0],[0.2])")
    return values


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """``--set key=v1,v2`` strings as ``{key: [v1, v2]}`` (one value: fixed for every member)."""
    return {key: split_values(text) for key, text in parse_overrides(items).items()}


@dataclasses.dataclass(frozen=True)
class SweepMember:
    """One point of the grid: its folder name, its settings (key -> value text) and its resolved config."""

    name: str
    settings: dict[str, str]
    values: dict[str, Any]
    """The swept keys' values as the config holds them (typed)."""
    config: dict[str, Any]
    """The member's resolved config (as `config.json` stores it)."""


@dataclasses.dataclass(frozen=True)
class Sweep:
    """The planned grid of experiment `experiment` under folder `out`."""

    experiment: str
    out: Path
    members: list[SweepMember]
    swept: list[str]
    """Keys with more than one value, or every key of the grid when none has (they name the members and are the
    table's coordinates)."""
    config_file: Path | None = None

    def path(self, member: SweepMember) -> Path:
        return self.out / member.name

    def command(self, member: SweepMember) -> list[str]:
        """The member's `sciml run` command line."""
        config = ["--config", str(self.config_file)] if self.config_file is not None else []
        settings = [arg for key, text in member.settings.items() for arg in ("--set", f"{key}={text}")]
        return [sys.executable, "-m", "sciml.cli", "run", self.experiment, *config, *settings,
                "--out", str(self.path(member).absolute())]

    def finished(self, member: SweepMember) -> bool:
        """True when the member's folder holds its run, finished."""
        path = self.path(member)
        return (_read_json(path / "config.json") == {"experiment": self.experiment, "config": member.config}
                and _read_json(path / "summary.json") is not None)


def _label(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "_".join(_label(item) for item in value)
    if value is None:
        return "none"
    return repr(value) if isinstance(value, float) else str(value)


def _member_name(values: Mapping[str, Any]) -> str:
    short = [key.rsplit(".", 1)[-1] for key in values]
    labels = [s if short.count(s) == 1 else key for s, key in zip(short, values, strict=True)]
    name = ",".join(f"{label}={_label(value)}" for label, value in zip(labels, values.values(), strict=True))
    return re.sub(r"[^A-Za-z0-9._=,+-]", "_", name) or "default"


def plan_sweep(name: str, grid: Mapping[str, Sequence[str]], out: str | Path, *,
               config_file: str | Path | None = None) -> Sweep:
    """The Cartesian grid of `grid`'s values (texts, as `--set` takes them) on top of `config_file`'s settings.

    Every member's config is resolved here, so that a bad key or value fails before anything runs.
    """
    experiment = load_experiment(name)
    config_type = experiment.config_type
    config_path = Path(config_file).resolve() if config_file is not None else None
    base = read_config_file(config_path, config_type, name) if config_path is not None else {}
    swept = [key for key, values in grid.items() if len(values) > 1] or list(grid)
    members = []
    for combination in itertools.product(*grid.values()):
        settings = dict(zip(grid, combination, strict=True))
        config = resolve_config(config_type, {**base, **settings})
        flat = flatten_config(config)
        values = {key: flat[key] for key in swept}
        members.append(SweepMember(_member_name(values), settings, values, config_dict(config)))
    names = [member.name for member in members]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"sweep members {twice} would share a folder: two values of a key name the same setting; "
                          "give each value once")
    return Sweep(name, Path(out), members, swept, config_path)


@dataclasses.dataclass(frozen=True)
class MemberOutcome:
    """How a member ended: exit code 0 (finished, or found finished and skipped) or its failure."""

    member: SweepMember
    exit_code: int
    stderr_tail: str = ""
    skipped: bool = False


def _tail(path: Path, lines: int = _TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_member(command: list[str], logs: Path, name: str) -> tuple[int, str]:
    """Run one member's command with stdout and stderr in ``LOGS/NAME.out`` and ``.err``; return (exit code, the
    last lines of its stderr)."""
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.out", "w") as out, open(logs / f"{name}.err", "w") as err:
        code = subprocess.run(command, stdout=out, stderr=err, check=False).returncode
    return code, _tail(logs / f"{name}.err")


Report = Callable[[MemberOutcome], None]


@dataclasses.dataclass(frozen=True)
class LocalPool:
    """Members as processes on this machine, `jobs` at a time."""

    jobs: int | None = None
    """Members running at once (None: one per core)."""

    def run(self, sweep: Sweep, members: Sequence[SweepMember], report: Report) -> list[MemberOutcome]:
        logs = sweep.out / "logs"
        outcomes = []
        with concurrent.futures.ThreadPoolExecutor(self.jobs or os.cpu_count() or 1) as pool:
            futures = {pool.submit(run_member, sweep.command(m), logs, m.name): m for m in members}
            for future in concurrent.futures.as_completed(futures):
                outcomes.append(MemberOutcome(futures[future], *future.result()))
                report(outcomes[-1])
        return outcomes


@dataclasses.dataclass(frozen=True)
class Submitit:
    """Members as submitit jobs (one job array): on Slurm (``cluster="slurm"``) or, to try a sweep out, with
    submitit's local executor (``cluster="local"``). Job scripts and submitit's logs go to ``OUT/logs/submitit``."""

    cluster: str = "slurm"
    """submitit's executor: "slurm", or "local" (its local executor)."""
    partition: str | None = None
    """Slurm partition (None: the cluster's default)."""
    time_min: int = 60
    """Time limit of each member's job in minutes."""
    cpus_per_task: int = 1
    """CPUs of each member's job."""
    gpus_per_node: int = 0
    """GPUs of each member's job."""
    mem_gb: float | None = None
    """Memory of each member's job in GB (None: the cluster's default)."""
    jobs: int | None = None
    """Members running at once (Slurm's array parallelism; None: no limit)."""

    def run(self, sweep: Sweep, members: Sequence[SweepMember], report: Report) -> list[MemberOutcome]:
        # Imported, submitit reconfigures the `logging` module and so closes the handlers of the process (a
        # notebook's, pytest's); unless the caller chose otherwise, it leaves logging alone.
        os.environ.setdefault("SUBMITIT_LOG_LEVEL", "NOCONFIG")
        import submitit

        logs = sweep.out / "logs"
        executor = submitit.AutoExecutor(folder=logs / "submitit", cluster=self.cluster)
        executor.update_parameters(name=f"sciml-{sweep.experiment}", timeout_min=self.time_min,
                                   cpus_per_task=self.cpus_per_task, gpus_per_node=self.gpus_per_node,
                                   mem_gb=self.mem_gb, slurm_partition=self.partition,
                                   slurm_array_parallelism=self.jobs)
        with executor.batch():
            jobs = [executor.submit(run_member, sweep.command(m), logs, m.name) for m in members]
        outcomes = []
        for member, job in zip(members, jobs, strict=True):
            try:
                outcome = MemberOutcome(member, *job.result())
            except (submitit.core.utils.UncompletedJobError, submitit.core.utils.FailedJobError) as err:
                outcome = MemberOutcome(member, -1, "\n".join(str(err).splitlines()[-_TAIL_LINES:]))
            outcomes.append(outcome)
            report(outcome)
        return outcomes


def _numbers(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric entries of a summary's metrics, nested dicts flattened with dots."""
    found = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}".replace("/", "_")
        if isinstance(value, Mapping):
            found.update(_numbers(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found[name] = float(value)
        elif value is None:  # NaN, which summary.json writes as null
            found[name] = math.nan
    return found


def _coordinate(values: list) -> np.ndarray:
    if all(isinstance(v, (bool, int, float, str)) for v in values):
        return np.asarray(values)
    return np.asarray([_label(v) for v in values])


def sweep_table(sweep: Sweep, outcomes: Mapping[str, MemberOutcome]) -> xr.Dataset:
    """One row per member (dim ``member``): every numeric summary metric (NaN where a member has none), the wall time,
    the exit code; the swept settings as coordinates along ``member``."""
    rows = {}
    for member in sweep.members:
        summary = _read_json(sweep.path(member) / "summary.json") if sweep.finished(member) else None
        rows[member.name] = ({**_numbers(summary["metrics"] or {}), "wall_time_s": summary["wall_time_s"]}
                             if summary else {})
    metrics = list(dict.fromkeys(name for row in rows.values() for name in row))
    data = {name: ("member", np.asarray([rows[m.name].get(name, math.nan) for m in sweep.members], np.float64),
                   {"long_name": f"summary metric {name} of each member"}) for name in metrics}
    if "wall_time_s" in data:
        data["wall_time_s"][2].update(long_name="wall time of the member's run", units="s")
    codes = [outcomes[m.name].exit_code if m.name in outcomes else (0 if sweep.finished(m) else -1)
             for m in sweep.members]
    data["exit_code"] = ("member", np.asarray(codes, np.int64),
                         {"long_name": "exit code of the member's `sciml run` (0: finished; -1: did not run)",
                          "units": "1"})
    coords = {"member": ("member", [m.name for m in sweep.members], {"long_name": "member folder under the sweep"})}
    for key in sweep.swept:
        coords[key] = ("member", _coordinate([m.values[key] for m in sweep.members]),
                       {"long_name": f"swept setting {key}"})
    return xr.Dataset(data, coords=coords, attrs={
        "experiment": sweep.experiment, "swept": json.dumps(sweep.swept),
        "config_file": str(sweep.config_file or ""), "title": f"sciml sweep of {sweep.experiment}"})


def _format(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.4g}"


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


def sweep_markdown(table: xr.Dataset, outcomes: Mapping[str, MemberOutcome]) -> str:
    """The sweep's report: every member, then mean +- std (over the seeds, ddof 1) and median per setting of the
    swept keys other than the seed, then the failures with the end of their stderr."""
    swept = json.loads(table.attrs["swept"])
    metrics = [name for name in table.data_vars if name != "exit_code"]
    codes = table.exit_code.values
    status = ["finished" if code == 0 else ("not run" if code == -1 else f"failed ({code})") for code in codes]
    lines = [f"# Sweep of `{table.attrs['experiment']}`: {table.sizes['member']} members, "
             f"{int((codes != 0).sum())} not finished", "",
             "Written by `sciml sweep` from each member's `summary.json`; `sweep.nc` holds the same numbers.", "",
             "## Members", ""]
    rows = [[str(table.member.values[i]), status[i], *(str(table[k].values[i]) for k in swept),
             *(_format(float(table[m].values[i])) for m in metrics)] for i in range(table.sizes["member"])]
    lines += _markdown_table(["member", "status", *swept, *metrics], rows)
    groups = [k for k in swept if k != SEED_KEY]
    lines += ["", f"## By setting: mean +- std and (median) over {'seeds' if SEED_KEY in swept else 'members'}", ""]
    keys = [tuple(str(table[k].values[i]) for k in groups) for i in range(table.sizes["member"])]
    rows = []
    for key in dict.fromkeys(keys):
        index = [i for i, k in enumerate(keys) if k == key and codes[i] == 0]
        cells = []
        for metric in metrics:
            values = table[metric].values[index]
            values = values[np.isfinite(values)]
            if values.size:
                std = float(np.std(values, ddof=1)) if values.size > 1 else math.nan
                cells.append(f"{_format(float(values.mean()))} +- {_format(std)} ({_format(float(np.median(values)))})")
            else:
                cells.append("-")
        rows.append([*key, str(len(index)), *cells])
    lines += _markdown_table([*(groups or ["members"]), "n", *metrics], [r if groups else ["all", *r] for r in rows])
    failed = [o for o in outcomes.values() if o.exit_code != 0]
    if failed:
        lines += ["", "## Failed members", ""]
        for outcome in failed:
            lines += [f"### {outcome.member.name} (exit code {outcome.exit_code})", "", "```",
                      outcome.stderr_tail or "(no stderr)", "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def run_sweep(sweep: Sweep, executor: LocalPool | Submitit | None = None, *,
              report: Report | None = None) -> dict[str, MemberOutcome]:
    """Run the members of `sweep` that are not finished (on `executor`, default `LocalPool()`), then write
    ``sweep.nc`` and ``sweep.md`` under ``sweep.out``. Returns every member's outcome by name."""
    report = report or (lambda outcome: None)
    sweep.out.mkdir(parents=True, exist_ok=True)
    outcomes = {}
    todo = []
    for member in sweep.members:
        if sweep.finished(member):
            outcomes[member.name] = MemberOutcome(member, 0, skipped=True)
            report(outcomes[member.name])
        else:
            todo.append(member)
    if todo:
        outcomes.update((o.member.name, o) for o in (executor or LocalPool()).run(sweep, todo, report))
    table = sweep_table(sweep, outcomes)
    write_dataset(with_provenance(table, title=table.attrs["title"], command=f"sciml sweep ({shlex.join(sys.argv)})"),
                  sweep.out / "sweep.nc")
    tmp = sweep.out / f".sweep.md.{os.getpid()}.tmp"
    tmp.write_text(sweep_markdown(table, outcomes))
    os.replace(tmp, sweep.out / "sweep.md")
    return outcomes


def best_member(sweep_dir: str | Path, metric: str, *, maximize: bool = False) -> Path:
    """The folder of the member with the lowest (or, with `maximize`, highest) `metric` in ``SWEEP_DIR/sweep.nc``:
    ``sciml.load(best_member(out, "rel_l2"))``."""
    path = Path(sweep_dir) / "sweep.nc"
    if not path.exists():
        raise DataError(f"{path} does not exist: expected the folder of a finished `sciml sweep --out`")
    with xr.open_dataset(path, engine="h5netcdf") as table:
        if metric not in table.data_vars or metric == "exit_code":
            choices = [name for name in table.data_vars if name != "exit_code"]
            raise ConfigError(f"no metric {metric!r} in {path}; expected one of {choices}")
        values = table[metric].values.astype(np.float64)
        if not np.isfinite(values).any():
            raise DataError(f"no member of {path} has a finite {metric!r} (did every member fail?)")
        index = int(np.nanargmax(values) if maximize else np.nanargmin(values))
        return Path(sweep_dir) / str(table.member.values[index])
