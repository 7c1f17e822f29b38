"""MMGP on tensile2d against its baselines, and gpytorch against scikit-learn for the GP stage.

All methods share MMGP's pipeline (morphing, common mesh, mass-weighted PCA, PCA decoding back to each test mesh) and
differ only in the regressor from the GP inputs (shape coefficients + input scalars, standardised) to the targets (PCA
coefficients of each field, output scalars):

- MMGP (gpytorch): `GroupedExactGP`, exact Matern-5/2 ARD GPs, L-BFGS with restarts batched in one gpytorch batch
  and the closed-form gradient of the marginal likelihood;
- MMGP (scikit-learn): the same model (one GP per field with shared kernel over its columns, Matern-5/2 ARD x constant
  + white noise, same initial lengthscale 2 and the same number of restarts) fitted by `GaussianProcessRegressor`;
- MLP on the PCA coefficients: `sciml.nn.MLP` trained full batch with Adam through `sciml.train.fit`;
- nearest neighbour: the targets of the closest training sample in the standardised input space.

gpytorch and scikit-learn are timed interleaved (A, B, A, B ...) after a warm-up on a subset, one seed per pair, with
the same thread count for torch and for the BLAS under scikit-learn; accuracy is the final fit of each seed.

    python benchmarks/mmgp.py [--quick] [--seeds 0 1 2] [--threads 1]

The fields compared are sigma22 and von Mises (the acceptance outputs) plus both output scalars. The script also
reports the error floors of the pipeline (transfer round trip, PCA truncation) and an ablation of the morphing weights
(mean-value vs uniform/Tutte) and of the number of shape modes.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sciml.benchmarking import Benchmark, machine_info, mean_std, xla_cpu_threads
from sciml.gp import GroupedExactGP, MeshMorphingGP, field_relative_rmse, scalar_relative_rmse
from sciml.solvers._elasticity import PLATE_CORNERS, SCALAR_OUTPUT_NAMES
from sciml.studies import load_experiment

REPORTED_FIELDS = ("sigma22", "von_mises")


def sklearn_stage(inputs, targets: list[np.ndarray], *, restarts: int, seed: int):
    """Fit one scikit-learn GP per target group; return a predict function like `GroupedExactGP.predict`."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    models = []
    for target in targets:
        kernel = ConstantKernel(1.0, (1e-4, 1e4)) * Matern(np.full(inputs.shape[1], 2.0), (1e-3, 1e5), nu=2.5)
        kernel += WhiteKernel(1e-2, (1e-8, 1e1))
        gp = GaussianProcessRegressor(kernel, alpha=0.0, n_restarts_optimizer=restarts - 1, random_state=seed)
        models.append(gp.fit(inputs, target))

    def predict(x):
        return [(gp.predict(x).reshape(len(x), -1), None) for gp in models]

    return predict, float(np.mean([-gp.log_marginal_likelihood_value_ / t.size
                                    for gp, t in zip(models, targets, strict=True)]))


def mlp_stage(inputs, targets: list[np.ndarray], *, seed: int, steps: int, width: int, depth: int):
    """Train `sciml.nn.MLP` on all target columns at once (mean squared error, Adam, cosine decay) through `fit`."""
    import jax
    import jax.numpy as jnp
    import optax

    from sciml.nn import MLP
    from sciml.train import fit

    widths = [t.shape[1] for t in targets]
    y = jnp.asarray(np.concatenate(targets, axis=1), jnp.float32)
    x = jnp.asarray(inputs, jnp.float32)
    model = MLP(x.shape[1], y.shape[1], width, depth, jax.nn.gelu, key=jax.random.key(seed))

    def loss(net, batch, key):
        features, values = batch
        error = jnp.mean((jax.vmap(net)(features) - values) ** 2)
        return error, {"mse": error}

    schedule = optax.cosine_decay_schedule(3e-3, steps)
    result = fit(model, loss, (x, y), optax.adam(schedule), steps, key=jax.random.key(seed), chunk=500, progress=False)

    def predict(features):
        out = np.asarray(jax.vmap(result.model)(jnp.asarray(features, jnp.float32)), np.float64)
        return [(block, None) for block in np.split(out, np.cumsum(widths)[:-1], axis=1)]

    return predict


def nearest_neighbour_stage(inputs, targets: list[np.ndarray]):
    def predict(features):
        nearest = np.argmin(((features[:, None, :] - inputs[None, :, :]) ** 2).sum(-1), axis=1)
        return [(t[nearest], None) for t in targets]

    return predict


def scores(model: MeshMorphingGP, predictions, back, test_fields, test_outputs) -> dict[str, float]:
    """Relative RMSE of every output after decoding the predicted targets onto each test mesh."""
    out = {}
    for name, (mean, _) in zip(model.train_targets_, predictions, strict=True):
        if name in model.field_pca_:
            decoded = [model.decode_field(name, mean[i], op) for i, op in enumerate(back)]
            out[name] = field_relative_rmse(decoded, test_fields[name])
        else:
            offset, scale = model.target_scale_[name]
            out[name] = scalar_relative_rmse(mean[:, 0] * scale + offset, test_outputs[name])
    return out


ABLATIONS = (("uniform", 8), ("uniform", 16), ("mean_value", 8))


def pipeline(train_data, test_meshes, test_inputs, weights: str, shape_modes: int, field_modes: int, threads: int):
    """MMGP's shared pipeline (no GP fit): the model with its PCAs, GP inputs and targets, test inputs, operators
    back."""
    model = MeshMorphingGP(PLATE_CORNERS, n_shape_modes=shape_modes, n_field_modes=field_modes,
                           morphing_weights=weights, restarts=1, max_iter=1, threads=threads)
    model.fit(*train_data)
    return (model, model.train_inputs_, list(model.train_targets_.values()),
            model.encode_inputs(test_meshes, test_inputs), model.from_common(test_meshes))


def truncation_floors(model: MeshMorphingGP, test_meshes, back, test_fields) -> dict[str, float]:
    """Error floors of the pipeline on the test set: the transfer round trip (own mesh -> common -> own mesh) and the
    round trip through the field PCA (best possible prediction of the PCA coefficients)."""
    to_common = model.to_common(test_meshes)
    floors = {}
    for name in REPORTED_FIELDS:
        on_common = [p @ np.asarray(u, np.float64) for p, u in zip(to_common, test_fields[name], strict=True)]
        pca = model.field_pca_[name]
        projected = [pca.inverse_transform(pca.transform(c[None, :, None]))[0, :, 0] for c in on_common]
        floors[f"{name}_transfer"] = field_relative_rmse([q @ c for q, c in zip(back, on_common, strict=True)],
                                                         test_fields[name])
        floors[f"{name}_transfer_and_pca"] = field_relative_rmse([q @ c for q, c in zip(back, projected, strict=True)],
                                                                 test_fields[name])
    return floors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 training / 40 test samples, 2 seeds (default 5)")
    parser.add_argument("--small", action="store_true", help="the small dataset (smoke test of this script)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--restarts", type=int, default=2)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--mlp-steps", type=int, default=10000)
    args = parser.parse_args()
    seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2, 3, 4])
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    bench = Benchmark("mmgp-quick" if args.quick or args.small else "mmgp")
    bench.declare_threads(gpytorch=args.threads, sklearn=args.threads, mlp=xla_cpu_threads())
    experiment = load_experiment("tensile2d-mmgp").module
    config = experiment.Config(small=args.small, n_train=100 if args.quick else 500, n_test=40 if args.quick else 200)
    ((train_meshes, train_inputs, train_fields, train_outputs), (test_meshes, test_inputs, test_fields, test_outputs),
     _) = experiment.load_split(config)

    train_data = (train_meshes, train_inputs, {f: train_fields[f] for f in REPORTED_FIELDS}, train_outputs)
    start = time.perf_counter()
    model, x_train, targets, x_test, back = pipeline(train_data, test_meshes, test_inputs, config.morphing_weights,
                                                     config.n_shape_modes, config.n_field_modes, args.threads)
    pipeline_time = time.perf_counter() - start
    floors = truncation_floors(model, test_meshes, back, test_fields)
    print("floors", floors, flush=True)

    warm = slice(0, 40)
    GroupedExactGP(restarts=args.restarts, max_iter=5, threads=args.threads).fit(x_train[warm],
                                                                              [t[warm] for t in targets])
    sklearn_stage(x_train[warm], [t[warm] for t in targets], restarts=1, seed=0)
    runs = {"gpytorch": [], "sklearn": [], "mlp": []}
    for seed in seeds:
        start = time.perf_counter()
        gp = GroupedExactGP(restarts=args.restarts, max_iter=args.max_iter, seed=seed,
                            threads=args.threads).fit(x_train, targets)
        elapsed = time.perf_counter() - start
        runs["gpytorch"].append({"seed": seed, "fit_time_s": elapsed,
                                 "nll": float(np.mean(gp.negative_log_likelihood_)),
                                 **scores(model, gp.predict(x_test), back, test_fields, test_outputs)})
        start = time.perf_counter()
        predict, nll = sklearn_stage(x_train, targets, restarts=args.restarts, seed=seed)
        elapsed = time.perf_counter() - start
        runs["sklearn"].append({"seed": seed, "fit_time_s": elapsed, "nll": nll,
                                **scores(model, predict(x_test), back, test_fields, test_outputs)})
        print({k: v[-1] for k, v in runs.items() if v}, flush=True)
        bench.sample(f"after the pair of seed {seed}")
    for seed in seeds[:3]:
        start = time.perf_counter()
        predict = mlp_stage(x_train, targets, seed=seed, steps=args.mlp_steps, width=128, depth=3)
        runs["mlp"].append({"seed": seed, "fit_time_s": time.perf_counter() - start,
                            **scores(model, predict(x_test), back, test_fields, test_outputs)})
    runs["nearest"] = [{"seed": 0, "fit_time_s": 0.0,
                        **scores(model, nearest_neighbour_stage(x_train, targets)(x_test), back, test_fields,
                                 test_outputs)}]
    ablations = {}
    for weights, shape_modes in ABLATIONS:
        other, a_train, a_targets, a_test, a_back = pipeline(train_data, test_meshes, test_inputs, weights, shape_modes,
                                                             config.n_field_modes, args.threads)
        gp = GroupedExactGP(restarts=args.restarts, max_iter=args.max_iter, seed=seeds[0],
                            threads=args.threads).fit(a_train, a_targets)
        ablations[f"{weights}-{shape_modes}"] = {"morphing_weights": weights, "n_shape_modes": shape_modes,
                                                 "seed": seeds[0],
                                                 **scores(other, gp.predict(a_test), a_back, test_fields, test_outputs)}
        print(ablations, flush=True)

    ratio = [s["fit_time_s"] / g["fit_time_s"] for g, s in zip(runs["gpytorch"], runs["sklearn"], strict=True)]
    outputs = [*REPORTED_FIELDS, *SCALAR_OUTPUT_NAMES]
    result = {
        "benchmark": "mmgp",
        "machine": machine_info(),
        "config": {**vars(args), "seeds": seeds, "n_train": len(train_meshes), "n_test": len(test_meshes),
                   "n_shape_modes": config.n_shape_modes, "n_field_modes": config.n_field_modes,
                   "morphing_weights": config.morphing_weights,
                   "fields": list(REPORTED_FIELDS), "pipeline_time_s": pipeline_time,
                   "common_mesh_nodes": model.common_.n_points},
        "runs": runs,
        "ablations": ablations,
        "error_floors": floors,
        "sklearn_over_gpytorch_time_ratio": ratio,
    }
    labels = {"gpytorch": "MMGP, GP stage in gpytorch", "sklearn": "MMGP, GP stage in scikit-learn",
              "mlp": "same pipeline, MLP 3x128 on PCA coefficients", "nearest": "nearest neighbour (input space)"}
    lines = [
        f"tensile2d, {len(train_meshes)} training / {len(test_meshes)} test samples, each on its own mesh; "
        f"{config.morphing_weights} morphing weights, {config.n_shape_modes} shape modes, {config.n_field_modes} modes "
        f"per field; common mesh "
        f"{model.common_.n_points} nodes. Relative RMSE as in Casenave et al. (fields: per-sample RMSE over "
        "max |reference|; scalars: relative error), mean ± std over seeds (final fit of each seed).",
        "",
        "| method | " + " | ".join(outputs) + " | fit time of the regression stage [s] | seeds |",
        "|---|" + "---|" * (len(outputs) + 2),
    ]
    for key, label in labels.items():
        cells = [mean_std([r[o] for r in runs[key]]) for o in outputs]
        lines.append(f"| {label} | " + " | ".join(cells)
                     + f" | {np.median([r['fit_time_s'] for r in runs[key]]):.1f} (median) | {len(runs[key])} |")
    lines += [
        "",
        f"GP stage, gpytorch vs scikit-learn (same model, {args.restarts} restarts, {args.threads} thread(s) each, "
        "interleaved pairs after warm-up): gpytorch median "
        f"{np.median([r['fit_time_s'] for r in runs['gpytorch']]):.1f} s, "
        f"scikit-learn median {np.median([r['fit_time_s'] for r in runs['sklearn']]):.1f} s; time ratio scikit-learn / "
        f"gpytorch per pair {', '.join(f'{r:.2f}' for r in ratio)} (median {np.median(ratio):.2f}). Mean negative log "
        f"marginal likelihood per observation: gpytorch {mean_std([r['nll'] for r in runs['gpytorch']])}, scikit-learn "
        f"{mean_std([r['nll'] for r in runs['sklearn']])} (lower is better). sigma22 accuracy ratio scikit-learn / "
        "gpytorch: "
        f"{np.mean([s['sigma22'] for s in runs['sklearn']]) / np.mean([g['sigma22'] for g in runs['gpytorch']]):.3f}.",
        "",
        f"Shared pipeline (morphing, transfer, PCA) for the training set: {pipeline_time:.1f} s.",
        "",
        "Error floors on the test set (no regression error): transfer round trip own mesh -> common mesh -> own mesh, "
        "and the same round trip through the field PCA (the best any regressor of the PCA coefficients can reach):",
        "",
        "| field | transfer round trip | transfer + PCA |",
        "|---|---|---|",
        *[f"| {f} | {floors[f + '_transfer']:.2e} | {floors[f + '_transfer_and_pca']:.2e} |" for f in REPORTED_FIELDS],
        "",
        f"Ablation of the morphing and of the shape descriptor (gpytorch GP stage, seed {seeds[0]}, same settings):",
        "",
        "| morphing weights | shape modes | " + " | ".join(outputs) + " |",
        "|---|---|" + "---|" * len(outputs),
        f"| {config.morphing_weights} (default) | {config.n_shape_modes} | "
        + " | ".join(f"{runs['gpytorch'][0][o]:.2e}" for o in outputs) + " |",
        *[f"| {a['morphing_weights']} | {a['n_shape_modes']} | " + " | ".join(f"{a[o]:.2e}" for o in outputs) + " |"
          for a in ablations.values()],
    ]
    bench.write_report(result, "MMGP on tensile2d: baselines and GP back-ends", lines)


if __name__ == "__main__":
    main()
