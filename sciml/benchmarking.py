"""Shared plumbing of `benchmarks/`: the machine's description and load, interleaved timing of the sides of a
comparison, and the JSON + markdown outputs, refused (or marked not valid) when the machine was busy.

Every benchmark script makes one `Benchmark` when it starts. It samples the load average then, after each round of
`Benchmark.interleaved` and when the outputs are written, and records the CPU threads each side computes on. A
timed benchmark whose machine was busy (the load of other jobs, the 1-min load average less the benchmark's own
threads, above the core count) writes no table: `BusyMachineError` says so; with ``SCIML_BENCH_UNDER_LOAD=mark`` the
table is written with a line that says it was taken under load and is not valid.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sciml.provenance import device_description, package_versions
from sciml.studies import run_experiment, write_json, write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
DOCS_RESULTS_DIR = ROOT / "docs" / "results"
UNDER_LOAD = "SCIML_BENCH_UNDER_LOAD"


def machine_info() -> dict:
    """Host, JAX devices, package versions and the time of the run."""
    return {
        "processor": platform.processor() or platform.machine(),
        "device": device_description(),
        "versions": package_versions(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def xla_cpu_threads(xla_flags: str | None = None) -> int:
    """Threads XLA's CPU backend computes on: 1 when `XLA_FLAGS` turns its Eigen pool off and sets one intra-op
    thread (``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``), else every available core."""
    flags = os.environ.get("XLA_FLAGS", "") if xla_flags is None else xla_flags
    single = "xla_cpu_multi_thread_eigen=false" in flags and "intra_op_parallelism_threads=1" in flags
    return 1 if single else available_cores()


def trained_run(experiment: str, overrides: Mapping[str, Any], folder: Path, **values) -> dict[str, Any]:
    """`run_experiment` of `experiment` into `folder` (a finished folder is read back, not trained again; `values` go
    to it, e.g. ``data=``), and the run's summary.json with ``predictions``: its predictions.nc, relative to the
    project root where it lies under it."""
    run_experiment(experiment, overrides, folder, **values)
    summary = json.loads((folder / "summary.json").read_text())
    predictions = folder / "predictions.nc"
    summary["predictions"] = str(predictions.relative_to(ROOT) if predictions.is_relative_to(ROOT) else predictions)
    return summary


def mean_std(values: Sequence[float]) -> str:
    """``mean +- std`` in scientific notation (population std over seeds)."""
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.2e} ± {values.std():.1e}"


def load_line(record: dict[str, Any]) -> str:
    """The markdown line of a load record (`Benchmark.record`): the load before and after, the threads of each side,
    and, when other jobs loaded the machine, that the timings are not valid (or, untimed, upper bounds)."""
    samples = record["samples"]
    threads = ", ".join(f"{name} {n}" for name, n in record["threads"].items()) or "not recorded"
    line = (f"Load average (1 min) {samples[0]['load_1min']:.2f} before, {samples[-1]['load_1min']:.2f} after, on "
            f"{record['cores']} cores; threads per side: {threads}.")
    if record["busy"] and record["timed"]:
        return (f"**Taken under load, not valid:** other jobs' 1-min load reached {record['others_load_max']:.2f} on "
                f"{record['cores']} cores. {line}")
    if record["busy"]:
        return f"{line} Other jobs' load reached {record['others_load_max']:.2f}: wall times are upper bounds."
    return line


def with_load_line(markdown: str, record: dict[str, Any]) -> str:
    """`markdown` with the load line of `record` after its first paragraph (the title)."""
    head, sep, rest = markdown.partition("\n\n")
    return f"{head}\n\n{load_line(record)}\n\n{rest}" if sep else f"{markdown}\n\n{load_line(record)}\n"


def render_table(results: Path, table: Path, markdown: Callable[[dict], str]) -> Path:
    """Write the results page `table` again from the JSON `results`: ``markdown(payload)`` with the load line of the
    run that stored it (none for results from before load records were kept). Measures nothing."""
    payload = json.loads(Path(results).read_text())
    text = markdown(payload)
    return write_text(table, with_load_line(text, payload["load"]) if "load" in payload else text)


class BusyMachineError(RuntimeError):
    """Other jobs loaded the machine while a timed benchmark ran: its table would not be valid."""


@dataclasses.dataclass(frozen=True)
class Side:
    """One side of a timed comparison: `run(repeat)` does one timed repeat (the warm-up gets repeat 0 too) and returns
    its measurement (a rate, or whatever the script tabulates); `threads` is the CPU threads it computes on."""

    run: Callable[[int], Any]
    threads: int


class Benchmark:
    """The record of one benchmark run: load average before, during and after, the threads of each side, interleaved
    timing, and the outputs.

    Args:
        name: the results' name (``benchmarks/results/NAME.json``, ``docs/results/NAME.md``).
        timed: whether the tables hold timings (refused or marked under load); accuracy benchmarks record the load
            and note it, but are not refused for it.
        read_load: returns the (1, 5, 15)-min load averages (`os.getloadavg`; a test passes its own).
        cores: the core count the load is compared with (default: `available_cores`).
    """

    def __init__(self, name: str, *, timed: bool = True, read_load: Callable[[], Sequence[float]] = os.getloadavg,
                 cores: int | None = None):
        self.name, self.timed, self._read_load = name, timed, read_load
        self.cores = cores or available_cores()
        self.threads: dict[str, int] = {}
        self.samples: list[dict[str, Any]] = []
        self.sample("before")

    def declare_threads(self, **threads: int) -> None:
        """Record the CPU threads of work not timed through `interleaved` (e.g. ``sciml=4`` for training runs)."""
        self.threads.update(threads)

    def sample(self, label: str) -> None:
        """Record the load average now, with the threads the benchmark itself has been running (none before)."""
        one, five, fifteen = (float(x) for x in self._read_load())
        own = max(self.threads.values(), default=0) if self.samples else 0
        self.samples.append({"label": label, "load_1min": one, "load_5min": five, "load_15min": fifteen,
                             "own_threads": own})

    def interleaved(self, sides: Mapping[str, Side], repeats: int) -> dict[str, list[Any]]:
        """Run every side once to warm up, then `repeats` rounds of each side in turn (A, B, A, B, ...), sampling the
        load after the warm-up and after every round; returns each side's measurements, in round order."""
        self.threads.update({name: side.threads for name, side in sides.items()})
        for side in sides.values():
            side.run(0)
        self.sample("after warm-up")
        results: dict[str, list[Any]] = {name: [] for name in sides}
        for repeat in range(repeats):
            for name, side in sides.items():
                results[name].append(side.run(repeat))
            self.sample(f"after round {repeat + 1}")
        return results

    def others_load(self) -> float:
        """The highest 1-min load of other jobs seen: each sample's load less the benchmark's own threads."""
        return max(s["load_1min"] - s["own_threads"] for s in self.samples)

    @property
    def busy(self) -> bool:
        """Whether other jobs' load exceeded the core count at some sample."""
        return self.others_load() > self.cores

    def record(self) -> dict[str, Any]:
        """The load record stored in the results JSON (`load_line` writes its markdown line)."""
        return {"cores": self.cores, "threads": dict(self.threads), "samples": list(self.samples),
                "others_load_max": self.others_load(), "busy": self.busy, "timed": self.timed,
                "valid": not (self.timed and self.busy)}

    def _check(self) -> None:
        self.sample("at writing")
        if self.busy and self.timed and os.environ.get(UNDER_LOAD) != "mark":
            raise BusyMachineError(
                f"{self.name}: other jobs' 1-min load reached {self.others_load():.2f} on {self.cores} cores while "
                f"the benchmark ran (samples: {[round(s['load_1min'], 2) for s in self.samples]}); its timings are "
                f"not valid, so no table was written. Rerun on an idle machine, or set {UNDER_LOAD}=mark to write "
                "the table marked as taken under load.")

    def write(self, json_path: Path, payload: dict, md_path: Path, markdown: str) -> tuple[Path, Path]:
        """Write `payload` (plus the load record, as ``load``) to `json_path` and `markdown` (plus the load line after
        its first paragraph) to `md_path`; refused when a timed benchmark's machine was busy."""
        self._check()
        json_path.parent.mkdir(parents=True, exist_ok=True)
        md_path.parent.mkdir(parents=True, exist_ok=True)
        record = self.record()
        write_json(json_path, {**payload, "load": record})
        write_text(md_path, with_load_line(markdown, record))
        return json_path, md_path

    def write_report(self, result: dict, title: str, lines: Sequence[str]) -> tuple[Path, Path]:
        """`write_report` of this benchmark's name, with its load record; refused when a timed benchmark's machine
        was busy."""
        self._check()
        return write_report(self.name, result, title, lines, load=self.record())


def write_report(name: str, result: dict, title: str, lines: Sequence[str], *, load: dict | None = None
                 ) -> tuple[Path, Path]:
    """Write `benchmarks/results/NAME.json` and `docs/results/NAME.md` (title, load line, generated note, table lines).

    Scripts write through `Benchmark.write_report`, which checks the load first and passes its record as `load`; a
    table merged from runs that each carry their own load record (e.g. ``benchmarks/rgnp.py``) calls this directly.
    """
    machine = result.get("machine", {})
    device = machine.get("device", {})
    markdown = "\n".join([
        f"# {title}",
        "",
        f"Generated by `python benchmarks/{name.split('-')[0]}.py` on {machine.get('date', '?')} "
        f"({device.get('backend', '?')}: {', '.join(sorted(set(device.get('devices', []))))}; "
        f"{device.get('cpu_count', '?')} CPU cores). Raw numbers: `benchmarks/results/{name}.json`.",
        "",
        *lines,
        "",
    ])
    json_path, md_path = RESULTS_DIR / f"{name}.json", DOCS_RESULTS_DIR / f"{name}.md"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(json_path, result if load is None else {**result, "load": load})
    write_text(md_path, markdown if load is None else with_load_line(markdown, load))
    return json_path, md_path
