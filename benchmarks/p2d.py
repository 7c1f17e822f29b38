"""P2D benchmark: our JAX P2D (`sciml.solvers.P2D`) against PyBaMM's DFN on the same parameters (Chen2020) and the
same mesh, full constant-current discharges to the 2.5 V cut-off at 0.5C, 1C and 2C.

    .venv/bin/python benchmarks/p2d.py [--quick]

Writes benchmarks/results/p2d.json (machine, versions, raw numbers) and docs/results/p2d.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import jax
import numpy as np

from sciml.benchmarking import Benchmark, Side, xla_cpu_threads
from sciml.provenance import device_description, package_versions
from sciml.solvers import P2D

ROOT = Path(__file__).resolve().parents[1]
C_RATES = (0.5, 1.0, 2.0)
N_TIMES = 301
PROFILE_FRACTIONS = (0.25, 0.5, 0.9)  # electrolyte profiles at these fractions of the shorter discharge


def pybamm_simulation(var_pts: dict, current: float):
    import pybamm

    model = pybamm.lithium_ion.DFN()
    parameters = pybamm.ParameterValues("Chen2020")
    parameters["Current function [A]"] = current
    return pybamm.Simulation(model, parameter_values=parameters, var_pts={**model.default_var_pts, **var_pts},
                             solver=pybamm.IDAKLUSolver(rtol=1e-9, atol=1e-11))


def compare(model: P2D, c_rate: float, repeats: int, bench: Benchmark) -> dict:
    """Voltage and electrolyte-profile errors against PyBaMM on the same mesh, and interleaved solve timings."""
    current = c_rate * model.parameters.nominal_capacity
    t_eval = np.linspace(0.0, 1.2 * 3600.0 / c_rate, N_TIMES)  # past the cut-off
    start = time.perf_counter()
    ours = model.solve(current, t_eval)
    first_call_s = time.perf_counter() - start
    sim = pybamm_simulation(model.var_pts, current)
    theirs = sim.solve(t_eval=[0.0, t_eval[-1]], t_interp=t_eval)
    common = t_eval[t_eval < min(ours.t_end, theirs.t[-1])]
    voltage_error = ours.voltage[: common.size] - theirs["Voltage [V]"](common)
    c_e_theirs = theirs["Electrolyte concentration [mol.m-3]"].entries  # (n_x, n_t) at the requested times
    profiles = []
    for fraction in PROFILE_FRACTIONS:
        k = int(fraction * (common.size - 1))
        relative = np.abs(ours.c_e[k] - c_e_theirs[:, k]) / c_e_theirs[:, k]
        profiles.append({"t_s": float(common[k]), "max_relative_error": float(relative.max()),
                         "c_e_min_pybamm": float(c_e_theirs[:, k].min()),
                         "c_e_max_pybamm": float(c_e_theirs[:, k].max())})
    timings = bench.interleaved({
        "sciml": Side(lambda _: _timed(lambda: model.solve(current, t_eval)), xla_cpu_threads()),
        "pybamm": Side(lambda _: _timed(lambda: sim.solve(t_eval=[0.0, t_eval[-1]], t_interp=t_eval)), 1),
    }, repeats)
    return {
        "c_rate": c_rate, "current_A": current, "termination": ours.termination,
        "t_end_s": ours.t_end, "t_end_pybamm_s": float(theirs.t[-1]), "n_common_times": int(common.size),
        "voltage_rmse_mv": float(np.sqrt(np.mean(voltage_error**2)) * 1e3),
        "voltage_max_abs_mv": float(np.max(np.abs(voltage_error)) * 1e3),
        "electrolyte_profiles": profiles,
        "ours_solver_stats": ours.stats,
        "ours_first_call_s": first_call_s, "ours_solve_s": timings["sciml"], "pybamm_solve_s": timings["pybamm"],
        "ours_median_s": statistics.median(timings["sciml"]), "pybamm_median_s": statistics.median(timings["pybamm"]),
    }


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1C only, coarse mesh, one timing repeat")
    args = parser.parse_args()
    bench = Benchmark("p2d")
    import pybamm

    jax.config.update("jax_enable_x64", True)
    # PyBaMM's default mesh (20 cells per region, 20 shells per particle); --quick: a coarse one
    model = P2D(n_negative=8, n_separator=5, n_positive=8, n_shells=8) if args.quick else P2D()
    rows = []
    for c_rate in (1.0,) if args.quick else C_RATES:
        rows.append(compare(model, c_rate, 1 if args.quick else 3, bench))
        row = rows[-1]
        print(f"{c_rate:g}C: RMSE {row['voltage_rmse_mv']:.3f} mV, max {row['voltage_max_abs_mv']:.3f} mV, c_e "
              f"{max(p['max_relative_error'] for p in row['electrolyte_profiles']) * 100:.3f} %", flush=True)
    results = {
        "benchmark": "p2d", "quick": args.quick, "device": device_description(),
        "versions": {**package_versions(), "pybamm": pybamm.__version__},
        "mesh": model.var_pts, "rtol": model.rtol, "atol": model.atol, "t_points": N_TIMES, "rows": rows,
    }
    bench.write(ROOT / "benchmarks" / "results" / "p2d.json", results, ROOT / "docs" / "results" / "p2d.md",
                markdown(results))


def markdown(r: dict) -> str:
    device = r["device"]
    mesh = r["mesh"]
    lines = [
        "# P2D (Doyle-Fuller-Newman) solver against PyBaMM's DFN",
        "",
        f"Generated by `benchmarks/p2d.py{' --quick' if r['quick'] else ''}` on {device['backend']} "
        f"({device['machine']}, {device['cpu_count']} CPU cores); jax {r['versions'].get('jax', '?')}, "
        f"pybamm {r['versions'].get('pybamm', '?')}. LG M50 cell (Chen et al. 2020, PyBaMM `Chen2020`), "
        f"constant-current discharges to the 2.5 V cut-off; both solvers on the same mesh ({mesh['x_n']}, "
        f"{mesh['x_s']}, {mesh['x_p']} cells across negative electrode, separator, positive electrode; "
        f"{mesh['r_n']} shells per particle). Ours: `sciml.solvers.P2D`, variable-order BDF on the DAE, rtol "
        f"{r['rtol']:g}, atol {r['atol']:g}, float64; PyBaMM: `DFN()` with the IDAKLU solver, rtol 1e-9, atol 1e-11.",
        "",
        f"Voltage errors over the {r['t_points']} requested times before the earlier cut-off; electrolyte "
        "concentration: the largest relative difference over the cell at 25%, 50% and 90% of that time. Solve "
        "times: medians of interleaved repeats after warm-up (ours compiled; first call = compilation + solve).",
        "",
        "| C-rate | cut-off ours / PyBaMM [s] | voltage RMSE [mV] | voltage max [mV] | c_e error at 25% / 50% / 90% "
        "[%] | ours solve [s] | PyBaMM solve [s] | ours first call [s] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        profiles = " / ".join(f"{p['max_relative_error'] * 100:.3f}" for p in row["electrolyte_profiles"])
        lines.append(
            f"| {row['c_rate']:g}C ({row['current_A']:g} A) | {row['t_end_s']:.0f} / {row['t_end_pybamm_s']:.0f} | "
            f"{row['voltage_rmse_mv']:.3f} | {row['voltage_max_abs_mv']:.3f} | {profiles} | "
            f"{row['ours_median_s']:.2f} | {row['pybamm_median_s']:.2f} | {row['ours_first_call_s']:.1f} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
