"""MF-RPN on two-scale Lorenz-96: offline skill (3 seeds), online climate, and one-program ensemble throughput.

    .venv/bin/python benchmarks/mfrpn.py [--quick] [--part all|accuracy|throughput|render]

Writes benchmarks/results/mfrpn.json (machine, versions, config, raw numbers) and docs/results/mfrpn.md.
Accuracy: LF-only RPN, HF-only RPN and MF-RPN (plus the cubic closure) on the lorenz96 dataset, training seeds 0..n-1,
final iterate, mean +- std. Online (`sciml.studies.lorenz96.evaluate_online`): the one-scale model coupled to each
closure,
`online_runs` runs of `online_duration` time units per forcing (F = 20, 24) from fixed initial conditions shared
by every model and seed, against two-scale truth runs from the same states; learned closures couple one member per
run, and every closure gets red noise fitted to its high-fidelity residuals; deterministic rows (no noise) are
the ablation. Throughput: a 32-member ensemble trained as one compiled program
(`fit` with filter_vmap over members) against a Python loop over members (one jitted optimizer step per call,
the MF-RPN authors' style), interleaved, median of the repeats; and once against a loop of per-member `fit` calls.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from sciml.benchmarking import Benchmark, with_load_line, xla_cpu_threads
from sciml.provenance import device_description, package_versions
from sciml.studies import write_json, write_text
from sciml.studies.lorenz96 import Lorenz96Data, MultiFidelityConfig, evaluate_online, train_closure
from sciml.train import fit
from sciml.uq import (
    BootstrapSampler,
    RandomizedPrior,
    bootstrap_subsets,
    ensemble_loss,
    local_stencil,
    make_ensemble,
    mse_member_loss,
    offline_metrics,
    offline_predictions,
    online_metrics,
    r2_score,
    regimes,
    trainable_filter,
)

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("lf", "rpn", "mfrpn")
LABELS = {"cubic": "physical closure (cubic)", "lf": "LF-only RPN", "rpn": "HF-only RPN", "mfrpn": "MF-RPN"}
LABELS.update({f"{name}_deterministic": f"{label}, deterministic (no noise)" for name, label in list(LABELS.items())})


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = 3
    members: int = 16
    width: int = 64
    depth: int = 3
    half_width: int = 2
    steps: int = 3000
    batch_size: int = 128
    small: bool = False
    online_duration: float = 100.0
    online_forcings: tuple[float, ...] = (20.0, 24.0)
    online_runs: int = 8
    online_seed: int = 1000
    online_stochastic: bool = True
    online_deterministic_ablation: bool = True
    throughput_members: int = 32
    throughput_steps: int = 200
    throughput_repeats: int = 5


QUICK = Config(seeds=3, members=4, steps=300, small=True, online_duration=20.0, online_runs=4, throughput_steps=50,
               throughput_repeats=5)
# The config fields each part depends on: a --part run keeps the other part's stored results when these match.
PART_FIELDS = {
    "throughput": ("width", "depth", "half_width", "batch_size", "small", "throughput_members", "throughput_steps",
                   "throughput_repeats"),
    "accuracy": tuple(f.name for f in dataclasses.fields(Config) if not f.name.startswith("throughput_")),
}


def closure_config(config: Config, seed: int) -> MultiFidelityConfig:
    """The experiments' config with this benchmark's knobs (other knobs at the experiments' defaults); the learning
    rate halves every quarter of the steps."""
    shared = {f.name for f in dataclasses.fields(MultiFidelityConfig)} & {f.name for f in dataclasses.fields(Config)}
    train = dataclasses.replace(MultiFidelityConfig().train, seed=seed, steps=config.steps,
                                decay_steps=max(1, config.steps // 4))
    return MultiFidelityConfig(train=train, **{name: getattr(config, name) for name in shared})


def accuracy(config: Config) -> dict:
    data = Lorenz96Data.load(small=config.small)
    test_x, test_u, test_f = data.test
    cubic_prediction = np.asarray(data.cubic(jnp.asarray(test_x)), np.float64)
    per_seed = []
    for seed in range(config.seeds):
        options = closure_config(config, seed)
        record, closures = {"seed": seed}, {}
        for kind in KINDS:
            model, result = train_closure(kind, options, data)
            predictions = offline_predictions(model, *data.test, key=options.train.key(1))
            record[kind] = {**offline_metrics(predictions), "train_time_s": result.train_time_s,
                            "noise_std": float(model.noise_std)}
            closures[kind] = model
            print(f"seed {seed} {kind}: {record[kind]}", flush=True)
        masks = regimes(predictions)
        record["cubic"] = {f"r2_{r}": float(r2_score(cubic_prediction[m], test_u[m])) for r, m in masks.items()}
        runs = evaluate_online(closures, options, data, deterministic_too=config.online_deterministic_ablation)
        record["online"] = online_metrics(runs)
        record["online_noise"] = dict(runs.attrs)
        print(f"seed {seed} online: {record['online']}", flush=True)
        per_seed.append(record)
    return {"per_seed": per_seed, "counts": data.counts()}


def throughput(config: Config) -> dict:
    """Member-steps per second: one compiled program vs a Python loop over members."""
    x, u = Lorenz96Data.load(small=config.small).hf
    features = local_stencil(jnp.asarray(x), config.half_width).reshape(-1, 2 * config.half_width + 1)
    features = (features - features.mean()) / features.std()
    targets = jnp.asarray(u).reshape(-1, 1)
    targets = (targets - targets.mean()) / targets.std()
    m, steps = config.throughput_members, config.throughput_steps
    key = jax.random.key(0)
    n_in = features.shape[1]

    def factory(k):
        return RandomizedPrior(n_in, 1, config.width, config.depth, key=k)

    ensemble = make_ensemble(factory, m, key=key)
    subsets = bootstrap_subsets(features.shape[0], m, key=key)
    sampler = BootstrapSampler({"data": (features, targets, subsets)}, config.batch_size)
    loss = ensemble_loss(mse_member_loss)
    optimizer = optax.adam(1e-3)

    def one_program():
        result = fit(ensemble, loss, sampler, optimizer, steps, key=key, chunk=steps,
                     trainable=trainable_filter(ensemble), progress=False)
        return result.train_time_s, result.compile_time_s

    members = [jax.tree_util.tree_map(lambda a, i=i: a[i:i + 1] if eqx.is_array(a) else a, ensemble) for i in range(m)]
    member_samplers = [BootstrapSampler({"data": (features, targets, subsets[i:i + 1])}, config.batch_size)
                       for i in range(m)]

    @eqx.filter_jit
    def step(params, static, opt_state, sampler_i, index):
        batch = sampler_i(key, index)
        grads = jax.grad(lambda p: loss(eqx.combine(p, static), batch, key)[0])(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def python_loop():
        start = time.perf_counter()
        for model, sampler_i in zip(members, member_samplers, strict=True):
            params, static = eqx.partition(model, trainable_filter(model))
            opt_state = optimizer.init(params)
            for i in range(steps):
                params, opt_state = step(params, static, opt_state, sampler_i, jnp.asarray(i))
            jax.block_until_ready(params)
        return time.perf_counter() - start

    def loop_of_fit():
        total = 0.0
        for model, sampler_i in zip(members, member_samplers, strict=True):
            result = fit(model, loss, sampler_i, optimizer, steps, key=key, chunk=steps,
                         trainable=trainable_filter(model), progress=False)
            total += result.train_time_s
        return total

    t0 = time.perf_counter()
    params0, static0 = eqx.partition(members[0], trainable_filter(members[0]))
    jax.block_until_ready(step(params0, static0, optimizer.init(params0), member_samplers[0], jnp.asarray(0)))
    loop_compile = time.perf_counter() - t0
    one_program()  # warm-up
    rows = []
    for _ in range(config.throughput_repeats):
        one_time, one_compile = one_program()
        loop_time = python_loop()
        rows.append({"one_program_s": one_time, "one_program_compile_s": one_compile, "python_loop_s": loop_time})
        print(f"throughput repeat: {rows[-1]}", flush=True)
    # Secondary comparison, measured once (each per-member fit compiles its own program): one-program time of
    # the same repeat, then the loop of per-member fits.
    one_time, _ = one_program()
    fit_loop_time = loop_of_fit()
    work = m * steps
    ratios = [r["python_loop_s"] / r["one_program_s"] for r in rows]
    return {
        "members": m, "steps": steps, "batch_size": config.batch_size, "raw": rows,
        "python_loop_compile_s": loop_compile,
        "one_program_member_steps_per_s": work / float(np.median([r["one_program_s"] for r in rows])),
        "python_loop_member_steps_per_s": work / float(np.median([r["python_loop_s"] for r in rows])),
        "ratio_vs_python_loop": float(np.median(ratios)),
        "loop_of_fit_once": {"one_program_s": one_time, "loop_of_fit_s": fit_loop_time},
        "loop_of_fit_member_steps_per_s": work / fit_loop_time,
        "ratio_vs_loop_of_fit": fit_loop_time / one_time,
    }


def _mean_std(values) -> str:
    values = np.asarray(values, np.float64)
    return f"{values.mean():.3f} ± {values.std():.3f}" if np.all(np.isfinite(values)) else "– (blow-up)"


def markdown(results: dict, config: Config, quick: bool) -> str:
    seeds = results["accuracy"]["per_seed"]
    counts = results["accuracy"]["counts"]
    lines = [
        "# MF-RPN on two-scale Lorenz-96",
        "",
        "Generated by `benchmarks/mfrpn.py`" + (" --quick (small data, short training: a smoke run)" if quick else "")
        + f"; raw numbers in `benchmarks/results/mfrpn.json`. {config.seeds} training seeds, final iterate, "
        f"mean ± std; {config.members} members, MLP {config.depth}x{config.width}, {config.steps} Adam steps, "
        f"stencil half-width {config.half_width}.",
        "",
        f"Data (pairs = snapshot x k): LF {counts['lf_pairs']} (one-scale + cubic closure, F = 18..24), "
        f"HF {counts['hf_pairs']} (two-scale truth, F = 18, 19, 20), test {counts['test_pairs']} "
        f"(per F: {counts['test_pairs_per_F']}). Historical = F <= 20, warmer = F >= 24.",
        "",
        "## Offline skill on the subgrid tendency",
        "",
        "| model | R² hist. | R² warmer | CRPS hist. | CRPS warmer | 90% cov. hist. | 90% cov. warmer | "
        "spread/skill hist. | spread/skill warmer |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines.append(f"| {LABELS['cubic']} | {_mean_std([s['cubic']['r2_historical'] for s in seeds])} | "
                 f"{_mean_std([s['cubic']['r2_warmer'] for s in seeds])} | – | – | – | – | – | – |")
    for kind in KINDS:
        cells = [_mean_std([s[kind][f"{metric}_{regime}"] for s in seeds])
                 for metric in ("r2", "crps", "coverage90", "spread_skill") for regime in ("historical", "warmer")]
        lines.append(f"| {LABELS[kind]} | " + " | ".join(cells) + " |")
    noise = seeds[0]["online_noise"]
    lines += ["", f"## Online: one-scale model coupled to the closure, {config.online_runs} runs x "
              f"{config.online_duration:g} time units per F", "",
              "Every model and seed starts from the same initial states (spun up on the two-scale attractor), and the "
              "truth runs start there too. Learned closures couple one member per run (run i: member i mod M); the "
              "physical closure and the learned ones get red noise with their own high-fidelity residual std and "
              "e-folding time (std / time, seed 0: " + ", ".join(
                  f"{LABELS[name]} {noise[f'noise_std_{name}']:.2f} / {noise[f'noise_time_{name}']:.3f}"
                  for name in ("cubic", *KINDS) if f"noise_std_{name}" in noise) + "); "
              "the deterministic rows couple "
              "the same closures (one member per run) without noise, as an ablation. Hellinger: X PDF pooled over "
              "the runs against the pooled truth; per run: "
              "the mean (± spread over runs, averaged over seeds) of each run's distance to the pooled truth.", "",
              "| model | F | blow-ups / runs | Hellinger(PDF of X) | per-run Hellinger | autocorr. RMSE | "
              "log-spectrum RMSE |", "|---|---|---|---|---|---|---|"]
    for name in ("cubic_deterministic", "cubic", *KINDS, *(f"{kind}_deterministic" for kind in KINDS)):
        for forcing in config.online_forcings:
            tag = f"{name}_F{forcing:g}"
            if f"online_hellinger_{tag}" not in seeds[0]["online"]:
                continue
            blowups = sum(s["online"][f"online_blowups_{tag}"] for s in seeds)
            # a blown-up run stored as JSON null reads as nan
            run_means = np.asarray([s["online"][f"online_hellinger_run_mean_{tag}"] for s in seeds], dtype=float)
            per_run = (f"{np.mean(run_means):.3f} ± "
                       f"{np.mean([s['online'][f'online_hellinger_run_std_{tag}'] for s in seeds]):.3f}"
                       if np.all(np.isfinite(run_means)) else "– (blow-up)")
            cells = [_mean_std([s["online"][f"online_{stat}_{tag}"] for s in seeds])
                     for stat in ("hellinger", "autocorrelation_rmse", "log_spectrum_rmse")]
            lines.append(f"| {LABELS[name]} | {forcing:g} | {blowups:g} / {config.online_runs * len(seeds)} | "
                         f"{cells[0]} | {per_run} | " + " | ".join(cells[1:]) + " |")
    lines += ["", "The cubic rows do not depend on the training seed (same states, same noise draws), hence their "
              "zero std. A model with a blow-up has no climate statistics for that forcing."]
    floors = ", ".join(f"F = {f:g}: {seeds[0]['online'][f'online_hellinger_truth_halves_F{f:g}']:.3f}"
                       for f in config.online_forcings)
    lines += ["", f"Sampling floor: Hellinger distance between the truth's even and odd runs ({floors}); each pooled "
              "PDF above holds twice as many runs.", ""]
    t = results["throughput"]
    lines += ["", f"## Ensemble throughput ({t['members']} members, {t['steps']} steps, batch {t['batch_size']})", "",
              "| training | member-steps/s | one program is faster by |", "|---|---|---|",
              "| one compiled program (`fit`, filter_vmap over members) | "
              f"{t['one_program_member_steps_per_s']:.0f} | – |",
              f"| Python loop over members, one jitted step per call | {t['python_loop_member_steps_per_s']:.0f} | "
              f"{t['ratio_vs_python_loop']:.1f}x |",
              f"| loop over members of per-member `fit` (scan-fused) | {t['loop_of_fit_member_steps_per_s']:.0f} | "
              f"{t['ratio_vs_loop_of_fit']:.1f}x (one pair) |",
              "", f"Median of {config.throughput_repeats} interleaved repeats (one program, Python loop), compile time "
              "excluded; the loop of per-member `fit` calls is timed once. Machine: "
              f"{results['device']['cpu_count']} CPUs ({results['device']['backend']}).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data and short training (smoke run)")
    parser.add_argument("--part", choices=("all", "accuracy", "throughput", "render"), default="all",
                        help="run one part only (merged into an existing results file of the same mode), or only "
                             "render the markdown again from the stored results")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else Config()
    json_path = ROOT / "benchmarks" / "results" / "mfrpn.json"
    if args.part == "render":
        results = json.loads(json_path.read_text())
        if results.get("quick") != args.quick or results.get("config") != _jsonable_config(config):
            raise SystemExit(f"{json_path} holds results of another configuration; run the benchmark first")
        _write_markdown(results, config, args.quick)
        return 0
    bench = Benchmark("mfrpn")
    bench.declare_threads(sciml=xla_cpu_threads())
    fresh = {}
    for part, run in (("throughput", throughput), ("accuracy", accuracy)):
        if args.part in ("all", part):
            start = time.perf_counter()
            fresh[part] = run(config)
            fresh[f"{part}_wall_time_s"] = time.perf_counter() - start
            bench.sample(f"after the {part} part")
    results = {}
    if args.part != "all" and json_path.exists():  # keep the other part if the fields it depends on match
        previous = json.loads(json_path.read_text())
        other = "accuracy" if args.part == "throughput" else "throughput"
        stored, current = previous.get("config", {}), _jsonable_config(config)
        if (previous.get("quick") == args.quick and other in previous
                and all(stored.get(name) == current[name] for name in PART_FIELDS[other])):
            results = {name: previous[name] for name in (other, f"{other}_wall_time_s") if name in previous}
    results.update({"config": _jsonable_config(config), "quick": args.quick, "device": device_description(),
                    "versions": package_versions(), **fresh})
    if "throughput" in results and "accuracy" in results:
        bench.write(json_path, results, ROOT / "docs" / "results" / "mfrpn.md", markdown(results, config, args.quick))
        print((ROOT / "docs" / "results" / "mfrpn.md").read_text())
    else:
        write_json(json_path, {**results, "load": bench.record()})
    return 0


def _write_markdown(results: dict, config: Config, quick: bool) -> None:
    """The table again from stored results, with the load line of the run that made them."""
    text = markdown(results, config, quick)
    (ROOT / "docs" / "results").mkdir(parents=True, exist_ok=True)
    write_text(ROOT / "docs" / "results" / "mfrpn.md", with_load_line(text, results["load"]) if "load" in results
                                                         else text)
    print((ROOT / "docs" / "results" / "mfrpn.md").read_text())


def _jsonable_config(config: Config) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config)))


if __name__ == "__main__":
    sys.exit(main())
