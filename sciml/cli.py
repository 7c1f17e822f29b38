"""Command line: `sciml list | run | data | bench`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sciml._errors import ConfigError, DataError


def _cmd_list(args) -> int:
    from sciml.experiment import list_experiments, load_experiment

    for name in list_experiments():
        print(f"{name:28s} {load_experiment(name).description}")
    return 0


def _cmd_run(args) -> int:
    import jax

    from sciml import enable_compilation_cache
    from sciml.experiment import parse_overrides, run_experiment

    if not jax.config.jax_compilation_cache_dir:  # keep a cache the caller set up
        enable_compilation_cache()
    out = run_experiment(args.name, parse_overrides(args.set or []), args.out)
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
    script = benchmarks / f"{args.name.replace('-', '_')}.py"
    if not script.exists():
        names = sorted(p.stem for p in benchmarks.glob("*.py") if not p.stem.startswith("_"))
        raise ConfigError(f"unknown benchmark {args.name!r}; expected one of {names}")
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


if __name__ == "__main__":
    sys.exit(main())
