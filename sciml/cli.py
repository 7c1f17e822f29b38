"""Command line: `sciml list | show | run | sweep | data | bench`.

    sciml list                                       experiments, their family and what they reproduce
    sciml show NAME [--format toml|json]             every config key: type, default, meaning (or a config file)
    sciml run NAME [--config FILE] [--set KEY=VALUE]  one run (file first, then --set on top) into --out
                   [--processes N]                   ... as N processes on this machine (one run, one folder)
    sciml sweep NAME --set KEY=V1,V2 ... --out DIR    the grid of settings as separate runs, then DIR/sweep.md|nc

Exit codes: 0 done; 1 a sweep with failed members (the others are kept); 2 bad input (config key or value, data,
output folder); 3 training diverged (non-finite loss or a failed solve; the last good state is kept); 130
interrupted (finished work is kept; the same command resumes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from sciml._errors import ConfigError, DataError


def _cmd_list(args) -> int:
    from sciml.studies import list_experiments, load_experiment

    for name in list_experiments():
        experiment = load_experiment(name)
        print(f"{name:26s} {experiment.family:16s} {experiment.description}")
        print(f"{'':43s} reproduces: {experiment.reproduces}")
    print("\n`sciml show NAME` lists an experiment's config keys; `sciml run NAME` runs it.")
    return 0


def _settings(args, experiment) -> dict:
    """The settings of `--config FILE` (if given) with the `--set` overrides on top, as dotted keys."""
    from sciml.studies import parse_overrides, read_config_file

    base = read_config_file(args.config, experiment.config_type, experiment.name) if args.config else {}
    return {**base, **parse_overrides(args.set or [])}


def _setting_text(value) -> str:
    """A config value as `--set` takes it: ``none``, ``true``, ``0.001``, ``[0.1,1.0]``, ``[nu,rho]``."""
    from sciml.studies._config import jsonable

    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_setting_text(item) for item in value) + "]"
    return value if isinstance(value, str) else json.dumps(jsonable(value))


def _cmd_show(args) -> int:
    from sciml.studies import config_dict, config_toml, describe_config, load_experiment, resolve_config

    experiment = load_experiment(args.name)
    config = resolve_config(experiment.config_type, _settings(args, experiment))
    if args.format == "toml":
        print(f"# Config of the sciml experiment {args.name!r}: edit the values, then run it with\n"
              f"#   sciml run {args.name} --config THIS_FILE [--set KEY=VALUE ...]\n")
        print(config_toml(config), end="")
        return 0
    if args.format == "json":
        print(json.dumps(config_dict(config), indent=2))
        return 0
    print(f"{args.name}  (family: {experiment.family})\n  {experiment.description}\n"
          f"  reproduces: {experiment.reproduces}\n  file: {experiment.path}\n")
    rows = [(r.key, r.type, _setting_text(r.default), r.meaning) for r in describe_config(type(config), config)]
    header = ("key", "type", "value" if args.config or args.set else "default", "meaning")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[3])
    print(f"\nSet keys with --set KEY=VALUE, or write a config file to edit and pass to --config: "
          f"sciml show {args.name} --format toml > {args.name}.toml")
    return 0


def _run_processes(args) -> int:
    """`sciml run ... --processes N`: the same command as N processes of one run (`sciml.train.run_local_processes`)."""
    from sciml.studies import default_run_dir
    from sciml.train import run_local_processes

    if args.processes < 1:
        raise ConfigError(f"--processes must be >= 1, got {args.processes}")
    out = args.out if args.out is not None else default_run_dir(args.name)  # one folder for all processes
    command = [sys.executable, "-m", "sciml.cli", "run", args.name, "--out", str(out)]
    command += ["--config", str(args.config)] if args.config else []
    command += [item for setting in args.set or [] for item in ("--set", setting)]
    command += ["--fresh"] if args.fresh else []
    print(f"sciml: {args.name} as {args.processes} processes on this machine into {out}", file=sys.stderr)
    return run_local_processes(command, args.processes)


def _cmd_run(args) -> int:
    if args.processes != 1:
        return _run_processes(args)
    from sciml.train import NonFiniteLossError, is_main_process, join_cluster

    # A process of a multi-process run (--processes, Slurm, SCIML_* variables) joins it before any JAX work.
    joined = join_cluster()
    import textwrap

    import jax

    from sciml import enable_compilation_cache
    from sciml.studies import default_run_dir, flatten_config, load_experiment, resolve_config, run_experiment

    if joined and args.out is None:
        raise ConfigError("a multi-process run needs --out: every process must write into the same folder")
    if not jax.config.jax_compilation_cache_dir:  # keep a cache the caller set up
        enable_compilation_cache()
    experiment = load_experiment(args.name)
    settings = _settings(args, experiment)
    out = args.out if args.out is not None else default_run_dir(args.name)
    resolved = " ".join(f"{k}={_setting_text(v)}" for k, v in flatten_config(
        resolve_config(experiment.config_type, settings)).items())
    if is_main_process():
        print(f"sciml: {args.name} into {out} (config saved as config.json there) with\n"
              + textwrap.fill(resolved, 120, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False),
              file=sys.stderr)
    try:
        run_experiment(args.name, settings, out, fresh=args.fresh)
    except KeyboardInterrupt:
        if not is_main_process():
            return 130
        config = f" --config {args.config}" if args.config else ""
        print(f"sciml: interrupted; the checkpoints written so far are kept in {out}. Resume with: sciml run "
              f"{args.name}{config} {' '.join('--set ' + s for s in args.set or [])} --out {out}".replace("  ", " "),
              file=sys.stderr)
        return 130
    except NonFiniteLossError as err:
        if is_main_process():
            print(f"sciml: training diverged: {err}\nThe last good state is kept in {out}/checkpoints.",
                  file=sys.stderr)
        return 3
    if not is_main_process():
        return 0
    summary = json.loads((out / "summary.json").read_text())
    print(json.dumps({"output": str(out), **summary["metrics"], "wall_time_s": summary["wall_time_s"]}, indent=2))
    return 0


def _report_member(outcome) -> None:
    name = outcome.member.name
    if outcome.skipped:
        print(f"sciml: {name}: finished earlier, skipped", file=sys.stderr)
    elif outcome.exit_code == 0:
        print(f"sciml: {name}: finished", file=sys.stderr)
    else:
        tail = "\n".join("    " + line for line in outcome.stderr_tail.splitlines())
        print(f"sciml: {name}: FAILED with exit code {outcome.exit_code}; the end of its stderr:\n{tail}",
              file=sys.stderr)


def _cmd_sweep(args) -> int:
    from sciml.studies import LocalPool, Submitit, parse_grid, plan_sweep, run_sweep

    sweep = plan_sweep(args.name, parse_grid(args.set or []), args.out, config_file=args.config)
    if args.executor == "local":
        executor = LocalPool(args.jobs)
    else:
        executor = Submitit("slurm" if args.executor == "slurm" else "local", partition=args.slurm_partition,
                            time_min=args.slurm_time, cpus_per_task=args.slurm_cpus, gpus_per_node=args.slurm_gpus,
                            mem_gb=args.slurm_mem, jobs=args.jobs)
    print(f"sciml: sweep of {args.name}: {len(sweep.members)} members ({', '.join(m.name for m in sweep.members)}) "
          f"into {sweep.out}, executor {args.executor}; logs in {sweep.out / 'logs'}", file=sys.stderr)
    try:
        outcomes = run_sweep(sweep, executor, report=_report_member)
    except KeyboardInterrupt:
        print(f"sciml: interrupted; finished members are kept in {sweep.out}. The same command resumes the others.",
              file=sys.stderr)
        return 130
    failed = {name: o.exit_code for name, o in outcomes.items() if o.exit_code != 0}
    print(json.dumps({"output": str(sweep.out), "members": len(outcomes), "failed": failed,
                      "table": str(sweep.out / "sweep.md"), "data": str(sweep.out / "sweep.nc")}, indent=2))
    return 1 if failed else 0


def _cmd_data(args) -> int:
    from sciml.data import generate_dataset, list_generators
    from sciml.data._generated import load_generator

    if args.action == "list":
        for name in list_generators():
            print(f"{name:24s} {getattr(load_generator(name), 'DESCRIPTION', '')}")
        return 0
    if not args.name:
        raise ConfigError("`sciml data generate` needs a dataset name; `sciml data list` shows them")
    print(generate_dataset(args.name, args.out, small=args.small, seed=args.seed))
    return 0


def _cmd_bench(args) -> int:
    import runpy

    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    names = sorted(p.stem for p in benchmarks.glob("*.py") if not p.stem.startswith("_"))
    stem = args.name.replace("-", "_")
    if stem not in names:
        raise ConfigError(f"unknown benchmark {args.name!r}; expected one of {names} (a name, not a path)")
    script = benchmarks / f"{stem}.py"
    sys.argv = [str(script), *args.args]
    runpy.run_path(str(script), run_name="__main__")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sciml", description="sciml: scientific-ML surrogates on JAX")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments: family, what they reproduce").set_defaults(func=_cmd_list)
    keys = "`sciml show NAME` lists every config key with its type, default and meaning"
    show = sub.add_parser("show", help="an experiment's config keys (type, default, meaning), or a config file",
                          description=f"{keys}; `--format toml` writes a complete config file to edit and pass back "
                          "to `sciml run NAME --config FILE`.")
    show.add_argument("name", help="experiment name (see `sciml list`)")
    show.add_argument("--format", choices=["table", "toml", "json"], default="table",
                      help="table (default); toml or json: a config file with every key")
    run = sub.add_parser("run", help="run an experiment and write its output directory",
                         description=f"Run an experiment. {keys}; `sciml show NAME --format toml > FILE` writes a "
                         "config file to edit. The resolved config is printed at start and saved as config.json.")
    sweep = sub.add_parser("sweep", help="run a grid of settings as separate runs and tabulate them",
                           description="Run the Cartesian grid of the comma lists given to --set (e.g. --set "
                           "train.seed=0,1,2 --set train.learning_rate=1e-3,3e-4), each member a `sciml run` into "
                           "OUT/MEMBER, then write OUT/sweep.md and OUT/sweep.nc. A rerun skips finished members and "
                           f"resumes the others. {keys}.")
    for command in (show, run, sweep):
        if command is not show:
            command.add_argument("name", help="experiment name (see `sciml list`)")
        command.add_argument("--config", type=Path, default=None, metavar="FILE",
                             help="a .toml or .json config file (tables are sections: [train]); --set goes on top")
    show.add_argument("--set", action="append", metavar="KEY=VALUE", help="show the config with this setting")
    run.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="override a config key, dotted for sections: --set train.steps=2000 (repeatable)")
    run.add_argument("--out", type=Path, default=None, help="output directory (default runs/NAME-TIMESTAMP)")
    run.add_argument("--fresh", action="store_true",
                     help="start over in a folder holding another run (the old one is moved aside, not deleted)")
    run.add_argument("--processes", type=int, default=1, metavar="N",
                     help="run as N processes on this machine, one multi-process JAX run (jax.distributed, the batch "
                     "split over all their devices); processes started by a scheduler join with SCIML_COORDINATOR, "
                     "SCIML_NUM_PROCESSES, SCIML_PROCESS_ID or Slurm's variables")
    sweep.add_argument("--set", action="append", metavar="KEY=V1,V2",
                       help="values of a config key, comma-separated (a tuple value in brackets: [0.1,1.0]); one "
                       "value sets it for every member (repeatable)")
    sweep.add_argument("--out", type=Path, required=True, help="sweep folder (one run folder per member inside)")
    sweep.add_argument("--executor", choices=["local", "slurm", "local-submitit"], default="local",
                       help="local: processes on this machine (default); slurm: one job per member through "
                       "submitit; local-submitit: submitit's local executor (to try a Slurm sweep out)")
    sweep.add_argument("--jobs", type=int, default=None,
                       help="members running at once (default: the cores, local; no limit, slurm)")
    sweep.add_argument("--slurm-partition", default=None, help="Slurm partition (default: the cluster's)")
    sweep.add_argument("--slurm-time", type=int, default=60, metavar="MINUTES", help="time limit per member")
    sweep.add_argument("--slurm-cpus", type=int, default=1, help="CPUs per member")
    sweep.add_argument("--slurm-gpus", type=int, default=0, help="GPUs per member")
    sweep.add_argument("--slurm-mem", type=float, default=None, metavar="GB", help="memory per member")
    show.set_defaults(func=_cmd_show)
    run.set_defaults(func=_cmd_run)
    sweep.set_defaults(func=_cmd_sweep)
    data = sub.add_parser("data", help="list or generate datasets")
    data.add_argument("action", choices=["list", "generate"])
    data.add_argument("name", nargs="?", help="dataset name (see `sciml data list`)")
    data.add_argument("--small", action="store_true", help="a small version for tests and quick looks")
    data.add_argument("--seed", type=int, default=0)
    data.add_argument("--out", type=Path, default=None, help="output directory (default datasets/generated/NAME)")
    data.set_defaults(func=_cmd_data)
    bench = sub.add_parser("bench", help="run a benchmark script from benchmarks/")
    bench.add_argument("name")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if argv[:1] in (["run"], ["sweep"]) and len(argv) > 1 and not argv[1].startswith("-") and {"-h", "--help"} & {
            *argv}:  # `sciml run NAME --help`: the command's help, then the experiment's keys
        with contextlib.suppress(SystemExit):
            parser.parse_args([argv[0], "--help"])
        print()
        argv = ["show", argv[1]]
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DataError) as err:
        print(f"sciml: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"sciml: error: {err.strerror or err} ({err.filename or 'no file named'}); check the path and its "
              "permissions and space, then rerun the same command.", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
