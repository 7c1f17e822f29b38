"""Cost per simulated time unit of the 2D-turbulence LES (each closure, the SMARL-controlled one included) against
the DNS, compiled, timed interleaved on an idle machine.

    .venv/bin/python benchmarks/turbulence2d_cost.py [--les 32] [--repeats 5] [--quick]

Every side is one compiled call that advances the solver by a fixed number of steps, the DNS at its dt (our 256^2
reference at the `turbulence2d` generator's 2.5e-4, the paper's 1024^2 at 5e-4), the LES at the `turbulence2d-smarl`
experiment's dt (5e-3: the 32^2 grid's CFL limit allows ten times the paper's step; the paper's LES keeps 5e-4), with
step counts that make each call last a fraction of a second to a few seconds; the figure is the median over repeats of
seconds per simulated time unit, the compilation excluded. DNS sides: our reference (256^2, what `sciml data generate
turbulence2d` runs) and the paper's (1024^2, whose spectra the SMARL paper compares with; too costly to run to
statistics on 2 cores, but its step is timed the same way). LES sides: no closure, static Smagorinsky and Leith, dynamic
Smagorinsky, and the SMARL closure (4 x 4 agents whose shared policy, of the `turbulence2d-smarl` experiment's shape,
sets the coefficient field at its action interval: observations, policy and interpolation included; its cost does not
depend on the trained weights, so an untrained policy is timed); also no closure, Smagorinsky and SMARL on case 4's LES
(64^2 with 3/2 padding). All run case 1 (k_f = 4, beta = 0) from a random vorticity field; the cost does not depend on
the flow. Writes `benchmarks/results/turbulence2d_cost.json` and `docs/results/turbulence2d_cost.md`; refused on a busy
machine.
"""

from __future__ import annotations

import argparse
import time

import equinox as eqx
import jax
import numpy as np

from sciml.benchmarking import Benchmark, Side, machine_info, xla_cpu_threads
from sciml.data import load_generator
from sciml.rl import GaussianActorCritic, SMARLTurbulence
from sciml.solvers import (
    SMARL_CASES,
    DynamicSmagorinsky,
    ForcedTurbulence2D,
    Leith,
    NoClosure,
    Smagorinsky,
    enstrophy_spectrum,
    random_vorticity,
)
from sciml.studies import load_experiment

CASE = SMARL_CASES["case1"]
DEALIASING_LABELS = {"two-thirds": "2/3 rule", "three-halves": "3/2 padding"}
"""How a table row names each of `sciml.solvers.DEALIASING`."""
STATIC_CLOSURES = {"none": NoClosure(), "smagorinsky": Smagorinsky(), "leith": Leith(),
                   "dynamic": DynamicSmagorinsky()}


def solver_side(model: ForcedTurbulence2D, steps: int) -> tuple[callable, float]:
    """A compiled call advancing `model` by `steps` steps from a random field, and the simulated time it covers."""
    state = model.initial_state(random_vorticity(jax.random.key(0), model.n, peak_wavenumber=4.0))
    advance = eqx.filter_jit(lambda s: model.advance(s, steps))
    return lambda: jax.block_until_ready(advance(state)), steps * model.dt


def smarl_side(n: int, steps: int, dealiasing: str = "two-thirds") -> tuple[callable, float]:
    """The LES under a shared policy of the `turbulence2d-smarl` experiment's defaults (agents, action interval,
    policy width and depth)."""
    config = load_experiment("turbulence2d-smarl").config_type()
    les = ForcedTurbulence2D(n=n, **CASE, dt=config.dt, closure=Smagorinsky(), dealiasing=dealiasing)
    omega = random_vorticity(jax.random.key(0), n, peak_wavenumber=4.0)
    _, spectrum = enstrophy_spectrum(omega)
    environment = SMARLTurbulence(les, omega[None], spectrum, side=config.side, action_every=config.action_every)
    policy = GaussianActorCritic(environment.observation_size, 1, width=config.width, depth=config.depth,
                                 key=jax.random.key(1))
    intervals = steps // environment.action_every

    def run(state):
        def interval(state, _):
            action = jax.vmap(policy)(environment.observe(state.omega_hat)[0])[0]
            return environment.controlled_les(action).advance(state, environment.action_every), None

        return jax.lax.scan(interval, state, None, length=intervals)[0]

    state = les.initial_state(omega)
    compiled = eqx.filter_jit(run)
    return lambda: jax.block_until_ready(compiled(state)), intervals * environment.action_every * les.dt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--les", type=int, default=32, help="LES grid")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a seconds-long check: 64^2 DNS only, 2 repeats")
    args = parser.parse_args()
    name = "turbulence2d_cost-quick" if args.quick else "turbulence2d_cost"
    bench = Benchmark(name)
    threads = xla_cpu_threads()
    dns_sizes = (64,) if args.quick else (256, 1024)
    # steps per call: about 0.1-3 s each on 2 CPU cores
    reference = load_generator("turbulence2d").FULL  # our reference DNS's size and step; the paper's 1024^2 at 5e-4
    dns_dt = {reference["n"]: reference["dt"]}
    calls = {f"DNS {n}^2": solver_side(ForcedTurbulence2D(n=n, **CASE, dt=dns_dt.get(n, 5e-4)),
                                       max(10, 2_000_000 // n**2))
             for n in dns_sizes}
    experiment = load_experiment("turbulence2d-smarl")
    les_dt = experiment.config_type().dt
    les_steps = 20 if args.quick else 200
    calls |= {f"LES {args.les}^2, {closure_name}": solver_side(
        ForcedTurbulence2D(n=args.les, **CASE, dt=les_dt, closure=closure), les_steps)
        for closure_name, closure in STATIC_CLOSURES.items()}
    calls[f"LES {args.les}^2, SMARL"] = smarl_side(args.les, les_steps)
    if not args.quick:  # case 4's LES (the experiment's CASE_LES: 64^2 with 3/2 padding)
        n, dealiasing = (experiment.module.CASE_LES["case4"][key] for key in ("les", "dealiasing"))
        grid = f"LES {n}^2 ({DEALIASING_LABELS[dealiasing]})"
        calls |= {f"{grid}, {closure_name}": solver_side(
            ForcedTurbulence2D(n=n, **CASE, dt=les_dt, closure=STATIC_CLOSURES[closure_name],
                               dealiasing=dealiasing), les_steps) for closure_name in ("none", "smagorinsky")}
        calls[f"{grid}, SMARL"] = smarl_side(n, les_steps, dealiasing)
    seconds = {}

    def timer(call):
        def run(repeat):
            start = time.perf_counter()
            call()
            return time.perf_counter() - start
        return run

    measured = bench.interleaved({side: Side(timer(call), threads) for side, (call, _) in calls.items()},
                                 2 if args.quick else args.repeats)
    for side, (_, span) in calls.items():
        seconds[side] = float(np.median(measured[side])) / span
    reference = {side: value for side, value in seconds.items() if side.startswith("DNS")}
    rows = ["| solver | seconds per time unit (median) | " + " | ".join(f"{d} / this" for d in reference) + " |",
            "|---|---|" + "---|" * len(reference)]
    for side, value in seconds.items():
        rows.append(f"| {side} | {value:.3g} | " + " | ".join(f"{r / value:.0f}x" for r in reference.values()) + " |")
    rows += ["", "Each figure: the median over the repeats of one compiled call's wall time (compilation excluded) "
             f"divided by the simulated time it covers (the 256^2 DNS at our reference's dt = {dns_dt[256]:g}, the "
             "1024^2 one at the paper's 5e-4, the LES at the experiment's dt = "
             f"{les_dt:g}, which its coarse grid allows). Sides ran interleaved, one after another, each on "
             f"all {threads} XLA threads. The 1024^2 DNS is the SMARL paper's reference resolution; our reference "
             "statistics come from the 256^2 DNS. The SMARL side includes the agents' observations, the shared "
             "policy and the interpolation of the coefficient field at the experiment's action interval (untrained "
             "weights: the cost does "
             "not depend on them)."]
    result = {"machine": machine_info(), "seconds_per_time_unit": seconds, "raw_seconds": measured,
              "simulated_time_per_call": {side: span for side, (_, span) in calls.items()},
              "les": args.les, "les_dt": les_dt, "case": CASE}
    bench.write_report(result, "2D turbulence: LES cost per simulated time unit against the DNS", rows)


if __name__ == "__main__":
    main()
