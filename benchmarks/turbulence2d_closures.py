"""Classical LES closures of forced 2D turbulence against the filtered DNS (the SMARL baselines).

    .venv/bin/python benchmarks/turbulence2d_closures.py [--small] [--les 32] [--time 50] [--spin-up 2.5]
        [--dt 5e-4 5e-3]

Reads (generating it first if needed) the `turbulence2d` dataset (`sciml data generate turbulence2d [--small]`),
then for every case in it runs an LES on the `--les` grid with each closure (none, Smagorinsky and Leith with the
authors' coefficient 0.17, dynamic Smagorinsky) from the first filtered DNS snapshot, for `--time` time units at
each time step of `--dt` (the paper's 5e-4, and 5e-3, the `turbulence2d-smarl` experiment's), and compares the
time-mean enstrophy spectrum (snapshots every 0.5 after `--spin-up`) and the vorticity PDF with the filtered DNS's: the
relative L1 error of the spectrum over the resolved wavenumbers (1 <= k <= the 2/3 cutoff) and the Hellinger
distance between the PDFs beyond 3 sigma of the filtered DNS. Writes benchmarks/results/turbulence2d_closures.json,
docs/results/turbulence2d_closures.md and the guide's figure docs/assets/guides/turbulence.png (case 1).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

from sciml.benchmarking import ROOT, Benchmark, machine_info, xla_cpu_threads
from sciml.data import ensure_dataset, open_dataset
from sciml.solvers import (
    DynamicSmagorinsky,
    ForcedTurbulence2D,
    Leith,
    NoClosure,
    Smagorinsky,
    enstrophy_spectrum,
    simulate_turbulence,
    spectrum_error,
    tail_hellinger,
    vorticity_pdf,
)
from sciml.studies import save_figure

CLOSURES = {"none": NoClosure(), "smagorinsky": Smagorinsky(), "leith": Leith(), "dynamic": DynamicSmagorinsky()}
BINS, LIMIT = 81, 8.0


def run_case(ds, case: str, n: int, duration: float, spin_up: float, dt: float) -> dict:
    """Every closure's LES of `case` at time step `dt` against the filtered DNS."""
    one = ds.sel(case=case)
    reference_spectrum = one[f"enstrophy_spectrum_fdns{n}"].values
    sigma = float(one[f"vorticity_std_fdns{n}"])
    fdns = jnp.asarray(one[f"omega_fdns{n}"].values, jnp.float32)
    _, reference_pdf = vorticity_pdf(fdns, bins=BINS, limit=LIMIT, scale=sigma)
    centres = one["bin"].values
    every = round(0.5 / dt)  # snapshots every 0.5 time units
    results = {}
    for name, closure in CLOSURES.items():
        model = ForcedTurbulence2D(n=n, beta=float(one.beta), forcing_wavenumber=int(one.forcing_wavenumber),
                                   dt=dt, closure=closure)
        count = round(duration / (model.dt * every))
        start = time.perf_counter()
        omega = np.asarray(jax.block_until_ready(simulate_turbulence(model, fdns[0], count, every)))
        wall = time.perf_counter() - start
        kept = omega[round(spin_up / (model.dt * every)):]
        stable = bool(np.all(np.isfinite(omega)))
        _, spectrum = enstrophy_spectrum(jnp.asarray(kept))
        spectrum = np.asarray(spectrum).mean(0)
        _, pdf = vorticity_pdf(jnp.asarray(kept), bins=BINS, limit=LIMIT, scale=sigma)
        results[name] = {
            "stable": stable,
            "spectrum_error": spectrum_error(spectrum, reference_spectrum, model.grid.cutoff) if stable else None,
            "tail_hellinger": tail_hellinger(np.asarray(pdf), np.asarray(reference_pdf), centres) if stable else None,
            "wall_seconds_per_time_unit": wall / (count * every * model.dt),
            "spectrum": spectrum, "pdf": np.asarray(pdf),
        }
    return {"reference_spectrum": reference_spectrum, "reference_pdf": np.asarray(reference_pdf), "centres": centres,
            "dns_seconds_per_time_unit": float(one.wall_seconds_per_time_unit), "closures": results}


def draw(case_result: dict, n: int, path) -> None:
    """Enstrophy spectra and vorticity PDFs of each closure against the filtered DNS."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    resolved = slice(1, (n - 1) // 3 + 1)  # 1 <= k <= the LES's 2/3 cutoff
    k = np.arange(len(case_result["reference_spectrum"]))[resolved]
    left.loglog(k, case_result["reference_spectrum"][resolved], "k-", lw=3, alpha=0.4, label=f"filtered DNS ({n}²)")
    right.semilogy(case_result["centres"], case_result["reference_pdf"], "k-", lw=3, alpha=0.4, label="filtered DNS")
    for name, result in case_result["closures"].items():
        if result["stable"]:
            left.loglog(k, result["spectrum"][resolved], label=name)
            right.semilogy(case_result["centres"], result["pdf"], label=name)
    left.set(xlabel="k", ylabel="enstrophy spectrum Z(k)", title="time-mean enstrophy spectrum (resolved k)")
    right.set(xlabel="ω / σ (filtered DNS)", ylabel="PDF", title="vorticity PDF", ylim=(1e-6, 1))
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    figure.tight_layout()
    save_figure(figure, path, tight=False, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="use the small dataset (64² DNS)")
    parser.add_argument("--les", type=int, default=32, help="LES grid size")
    parser.add_argument("--time", type=float, default=50.0, help="simulated time per LES")
    parser.add_argument("--spin-up", type=float, default=2.5, help="time discarded before the statistics")
    parser.add_argument("--dt", type=float, nargs="+", default=[5e-4, 5e-3], help="LES time steps")
    args = parser.parse_args()
    bench = Benchmark("turbulence2d_closures", timed=False)  # accuracy; the costs are upper bounds under load
    bench.declare_threads(sciml=xla_cpu_threads())
    ds = open_dataset(ensure_dataset("turbulence2d", small=args.small)).load()
    cases = {(case, dt): run_case(ds, case, args.les, args.time, args.spin_up, dt)
             for case in ds.case.values for dt in args.dt
             if f"omega_fdns{args.les}" in ds and int(ds.sel(case=case).forcing_wavenumber) <= (args.les - 1) // 3}
    lines = ["| case | LES dt | closure | stable | enstrophy-spectrum error | PDF-tail Hellinger | LES wall s per time "
             "unit | DNS / LES cost |", "|---|---|---|---|---|---|---|---|"]
    for (case, dt), result in cases.items():
        for name, closure in result["closures"].items():
            error, tail = (f"{value:.3f}" if value is not None and np.isfinite(value) else "-"
                           for value in (closure["spectrum_error"], closure["tail_hellinger"]))
            cost = closure["wall_seconds_per_time_unit"]
            lines.append(f"| {case} | {dt:g} | {name} | {closure['stable']} | {error} | {tail} | {cost:.3g} | "
                         f"{result['dns_seconds_per_time_unit'] / cost:.1f}x |")
    lines += ["", "Wall times include the LES's compilation; the DNS's is its generator's run (`sciml data generate "
              "turbulence2d`), compilation included, timed when the dataset was generated, under a load this table "
              "does not record: the cost ratio is indicative only."]
    summary = {f"{case} dt={dt:g}": {"dns_seconds_per_time_unit": result["dns_seconds_per_time_unit"],
                                     "closures": {name: {key: value for key, value in closure.items()
                                                         if key not in ("spectrum", "pdf")}
                                                  for name, closure in result["closures"].items()}}
               for (case, dt), result in cases.items()}
    bench.write_report({"machine": machine_info(), "config": vars(args), "dns_grid": int(ds.attrs["n_dns"]),
                        "results": summary},
                       f"Classical LES closures of forced 2D turbulence at {args.les}² vs the filtered "
                       f"{int(ds.attrs['n_dns'])}² DNS", lines)
    if ("case1", args.dt[0]) in cases:
        draw(cases[("case1", args.dt[0])], args.les, ROOT / "docs" / "assets" / "guides" / "turbulence.png")


if __name__ == "__main__":
    main()
