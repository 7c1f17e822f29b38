"""Command line: `sciml list | run | data | bench`.

Exit codes: 0 done; 2 bad input (config key or value, data, output folder); 3 training diverged (non-finite loss or
a failed solve; the last good state is kept); 130 interrupted (finished work is kept; the same command resumes).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sciml._errors import ConfigError, DataError


def _cmd_list(args) -> int:
    from sciml.studies import list_experiments, load_experiment

    for name in list_experiments():
        print(f"{name:28s} {load_experiment(name).description}")
    return 0


def _cmd_run(args) -> int:
    import jax

    from sciml import enable_compilation_cache
    from sciml.studies import default_run_dir, parse_overrides, run_experiment
    from sciml.train import NonFiniteLossError

    if not jax.config.jax_compilation_cache_dir:  # keep a cache the caller set up
        enable_compilation_cache()
    out = args.out if args.out is not None else default_run_dir(args.name)
    try:
        run_experiment(args.name, parse_overrides(args.set or []), out, fresh=args.fresh)
    except KeyboardInterrupt:
        print(f"sciml: interrupted; the checkpoints written so far are kept in {out}. Resume with: sciml run "
              f"{args.name} {' '.join('--set ' + s for s in args.set or [])} --out {out}".replace("  ", " "),
              file=sys.stderr)
        return 130
    except NonFiniteLossError as err:
        print(f"sciml: training diverged: {err}\nThe last good state is kept in {out}/checkpoints.", file=sys.stderr)
        return 3
    summary = json.loads((out / "summary.json").read_text())
    print(json.dumps({"output": str(out), **summary["metrics"], "wall_time_s": summary["wall_time_s"]}, indent=2))
    return 0


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
    sub.add_parser("list", help="list the experiments").set_defaults(func=_cmd_list)
    run = sub.add_parser("run", help="run an experiment and write its output directory")
    run.add_argument("name", help="experiment name (see `sciml list`)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field (repeatable)")
    run.add_argument("--out", type=Path, default=None, help="output directory (default runs/NAME-TIMESTAMP)")
    run.add_argument("--fresh", action="store_true",
                     help="start over in a folder holding another run (the old one is moved aside, not deleted)")
    run.set_defaults(func=_cmd_run)
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
    args = build_parser().parse_args(argv)
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
