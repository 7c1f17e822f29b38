"""How the SMARL agents' reward responds, action by action, to a change of the closure coefficient: the signal that
PPO's advantages carry.

    .venv/bin/python benchmarks/turbulence2d_response.py [--settings case4:leith:weighted_spectrum ...]
        [--coefficient 0.17] [--delta 0.03] [--starts 32] [--spin-up 200] [--lags 200]

For each setting (case, closure form, reward of `sciml.rl.REWARDS`), the training environment of `turbulence2d-smarl`
(`training_environment`: the case's LES, case 4 on its `CASE_LES` grid) runs from `starts` filtered-DNS snapshots
spread over the dataset with every agent's coefficient at `coefficient` for `spin-up` actions, which leaves the
transient after the snapshot. Then each run splits in two: every agent at coefficient + delta for one action, or at
coefficient - delta, after which both go on at `coefficient` for `lags` actions. The difference of the two branches'
rewards over 2 delta, at each lag after the action, is the response of the (shared) reward to the coefficient of
one action; one agent of side^2 moves the coefficient field by about 1/side^2 of that. The table gives its mean over
the starts (+- standard error) at lag 0, summed up to several lags, and summed with the weights PPO's advantages give
it, (discount trace)^l with the experiment's defaults, and with the weights of the discounted return, discount^l.
Writes benchmarks/results/turbulence2d_response.json and docs/results/turbulence2d_response.md.
"""

from __future__ import annotations

import argparse
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from sciml.benchmarking import Benchmark, machine_info, xla_cpu_threads
from sciml.rl import REWARDS
from sciml.studies import load_experiment

EXPERIMENT = load_experiment("turbulence2d-smarl").module
CUMULATIVE_LAGS = (5, 20, 40, 80)


def parse_setting(text: str) -> tuple[str, str, str]:
    """"case:form:reward" -> (case, form, reward)."""
    parts = text.split(":")
    if len(parts) != 3 or parts[1] not in EXPERIMENT.CLOSURE_FORMS or parts[2] not in REWARDS:
        raise SystemExit(f"--settings: expected case:form:reward with form in {sorted(EXPERIMENT.CLOSURE_FORMS)} and "
                         f"reward in {REWARDS}, got {text!r} (e.g. case4:leith:weighted_spectrum)")
    return parts[0], parts[1], parts[2]


def reward_response(config, coefficient: float, delta: float, starts: int, spin_up: int, lags: int) -> np.ndarray:
    """(starts, lags + 1) reward responses per unit coefficient, d r(t + l) / d c(t), by central differences."""
    environment = EXPERIMENT.training_environment(config)
    ceiling = environment.max_coefficient
    if not 0 < coefficient - delta and coefficient + delta < ceiling:
        raise SystemExit(f"--coefficient +- --delta must lie in (0, {ceiling}) (the agents' range), got "
                         f"{coefficient} +- {delta}")

    def run(state, coefficients):
        def one(state, c):
            state, _, reward = environment.step(state, environment.uniform_action(c))
            return state, reward[0]

        return jax.lax.scan(one, state, coefficients)

    def response(omega0):
        state, _ = run(environment.les.initial_state(omega0), jnp.full((spin_up,), coefficient))
        steady = jnp.full((lags + 1,), coefficient)
        _, up = run(state, steady.at[0].add(delta))
        _, down = run(state, steady.at[0].add(-delta))
        return (up - down) / (2 * delta)

    snapshots = environment.initial_vorticity
    chosen = np.linspace(0, snapshots.shape[0] - 1, starts).round().astype(int)
    return np.asarray(jax.jit(jax.vmap(response))(snapshots[chosen]))


def summary(response: np.ndarray, discount: float, trace: float) -> dict:
    """Mean and standard error over the starts of the lag-0 response, its cumulative sums and its weighted sums."""
    lags = np.arange(response.shape[1])
    sums = {"lag 0": response[:, 0]}
    sums |= {f"to {lag}": response[:, :lag + 1].sum(1) for lag in (*CUMULATIVE_LAGS, lags[-1]) if lag <= lags[-1]}
    sums["advantage weights"] = response @ (discount * trace) ** lags
    sums["return weights"] = response @ discount**lags
    n = response.shape[0]
    return {name: {"mean": float(v.mean()), "standard_error": float(v.std(ddof=1) / np.sqrt(n))}
            for name, v in sums.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", type=parse_setting,
                        default=[parse_setting(s) for s in ("case1:smagorinsky:log_spectrum",
                                                            "case2:smagorinsky:log_spectrum",
                                                            "case4:smagorinsky:log_spectrum",
                                                            "case4:leith:weighted_spectrum")])
    parser.add_argument("--coefficient", type=float, default=0.17)
    parser.add_argument("--delta", type=float, default=0.03)
    parser.add_argument("--starts", type=int, default=32)
    parser.add_argument("--spin-up", type=int, default=200)
    parser.add_argument("--lags", type=int, default=200)
    args = parser.parse_args()
    bench = Benchmark("turbulence2d_response", timed=False)  # accuracy only
    bench.declare_threads(sciml=xla_cpu_threads())
    defaults = EXPERIMENT.Config()
    discount, trace = defaults.discount, defaults.trace
    results, rows = [], []
    for case, form, reward in args.settings:
        config = dataclasses.replace(EXPERIMENT.Config(case=case, **EXPERIMENT.CASE_LES.get(case, {})), closure=form,
                                     reward=reward)
        found = summary(reward_response(config, args.coefficient, args.delta, args.starts, args.spin_up, args.lags),
                        discount, trace)
        results.append({"case": case, "les": config.les, "dealiasing": config.dealiasing, "form": form,
                        "reward": reward, **found})
        rows.append(f"| {case} | {config.les}² ({config.dealiasing}) | {form} | {reward} | "
                    + " | ".join(f"{v['mean']:+.3g} ± {v['standard_error']:.2g}" for v in found.values()) + " |")
    names = list(found)
    lines = ["| case | LES | form | reward | " + " | ".join(names) + " |", "|---|---|---|---|" + "---|" * len(names),
             *rows, "",
             f"Response of the agents' shared reward to every agent's coefficient held one action "
             f"({defaults.action_every} LES steps of {defaults.dt:g}) at {args.coefficient:g} +- {args.delta:g}, per "
             f"unit coefficient, after {args.spin_up} actions at {args.coefficient:g} from each of {args.starts} "
             f"filtered-DNS snapshots; mean +- standard error over the starts. 'lag 0': the reward right after the "
             f"action; 'to L': summed over lags 0 .. L; 'advantage weights': summed with weights "
             f"(discount trace)^l = {discount * trace:.4f}^l, as the experiment's PPO advantages (discount "
             f"{discount:g}, trace {trace:g}) weigh it; 'return weights': with {discount:g}^l (trace 1). A positive "
             f"value: a larger coefficient raises that sum."]
    bench.write_report({"machine": machine_info(), "config": {**vars(args), "settings": [":".join(s) for s in
                                                                                        args.settings]},
                        "discount": discount, "trace": trace, "results": results},
                       "How the SMARL reward responds over time to the closure coefficient", lines)


if __name__ == "__main__":
    main()
