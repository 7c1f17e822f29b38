"""Judging Lorenz-96 parametrizations offline (probabilistic skill on test snapshots) and online (long coupled
runs of the one-scale model against the two-scale truth), plus the figures of the MF-RPN experiments."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from sciml.data import ensure_dataset, open_dataset
from sciml.solvers import (
    CubicClosure,
    TwoScaleLorenz96,
    lorenz96_samples,
    simulate_one_scale,
    simulate_two_scale,
    spin_up_state,
)
from sciml.uq._metrics import calibration_curve, coverage, crps_gaussian_mixture, r2_score, spread_skill
from sciml.uq._online import climate_statistics
from sciml.uq._parametrization import LearnedParametrization, train_parametrization

INTERVAL_LEVEL = 0.9
HISTORICAL_MAX_F = 20.0
WARMER_MIN_F = 24.0


def offline_predictions(model: LearnedParametrization, states, tendencies, forcings, *, key: jax.Array,
                        draws_per_member: int = 16) -> xr.Dataset:
    """The output contract on test snapshots: `prediction` (ensemble mean), `prediction_std` (members + noise),
    the 90 % central interval `prediction_lower`/`prediction_upper` (quantiles of the predictive samples),
    `reference` (true U), `prediction_members` and the noise std in the attrs; dims (sample, k), F on sample."""
    states = np.asarray(states, np.float32)
    members = np.asarray(model.predict_members(states), np.float64)
    samples = np.asarray(model.predictive_samples(states, draws_per_member, key=key), np.float64)
    noise = float(model.noise_std)
    std = np.sqrt(members.var(axis=0) + noise**2)
    lower, upper = np.quantile(samples, [(1 - INTERVAL_LEVEL) / 2, (1 + INTERVAL_LEVEL) / 2], axis=0)
    dims = ("sample", "k")
    interval = {"interval_level": INTERVAL_LEVEL}
    return xr.Dataset(
        {
            "prediction": (dims, members.mean(axis=0), {"long_name": "ensemble-mean subgrid tendency U_k"}),
            "prediction_std": (dims, std, {"long_name": "predictive std (ensemble spread and noise)"}),
            "prediction_lower": (dims, lower, interval),
            "prediction_upper": (dims, upper, interval),
            "reference": (dims, np.asarray(tendencies, np.float64), {"long_name": "true subgrid tendency U_k"}),
            "prediction_members": (("member", *dims), members.astype(np.float32)),
            "state": (dims, states, {"long_name": "slow state X_k"}),
        },
        coords={"sample": np.arange(states.shape[0]), "k": np.arange(states.shape[1]),
                "member": np.arange(members.shape[0]), "F": ("sample", np.asarray(forcings, np.float64))},
        attrs={"interval_level": INTERVAL_LEVEL, "noise_std": noise},
    )


def regimes(predictions: xr.Dataset) -> dict[str, np.ndarray]:
    """Sample masks of the historical (F <= 20) and warmer (F >= 24) test regimes."""
    forcing = predictions["F"].values
    return {"historical": forcing <= HISTORICAL_MAX_F, "warmer": forcing >= WARMER_MIN_F}


def offline_metrics(predictions: xr.Dataset) -> dict[str, float]:
    """R^2, CRPS (exact, mixture of members with the noise), 90 % coverage and spread-skill ratio per regime."""
    out = {}
    for regime, mask in regimes(predictions).items():
        if not mask.any():
            continue
        p = predictions.isel(sample=np.flatnonzero(mask))
        reference = p["reference"].values
        out[f"r2_{regime}"] = float(r2_score(p["prediction"].values, reference))
        out[f"crps_{regime}"] = float(np.mean(crps_gaussian_mixture(p["prediction_members"].values,
                                                                     max(p.attrs["noise_std"], 1e-6), reference)))
        out[f"coverage90_{regime}"] = coverage(p["prediction_lower"].values, p["prediction_upper"].values, reference)
        out[f"spread_skill_{regime}"] = spread_skill(p["prediction"].values, p["prediction_std"].values,
                                                     reference)["ratio"]
    return out


def online_runs(closures: Mapping[str, Callable], forcings, *, duration: float = 100.0, interval: float = 0.05,
                key: jax.Array, system: TwoScaleLorenz96 = TwoScaleLorenz96(), dt: float = 0.005) -> xr.Dataset:
    """Long runs: the two-scale truth and the one-scale model coupled to each closure, from the same X, per F.

    Returns `X` with dims (model, F, time, k); model "truth" first, then the closures in order. A run that blows up
    holds NaN/Inf from then on.
    """
    n = int(round(duration / interval))
    runs = {name: [] for name in ("truth", *closures)}
    for i, forcing in enumerate(forcings):
        x0, y0 = spin_up_state(system, forcing, key=jax.random.fold_in(key, i))
        truth, _, _ = simulate_two_scale(system, x0, y0, forcing, dt=0.001, save_every=int(round(interval / 0.001)),
                                         n_snapshots=n)
        runs["truth"].append(np.asarray(truth))
        for name, closure in closures.items():
            with np.errstate(invalid="ignore", over="ignore"):
                runs[name].append(np.asarray(simulate_one_scale(closure, x0, forcing, dt=dt,
                                                                save_every=int(round(interval / dt)), n_snapshots=n)))
    return xr.Dataset(
        {"X": (("model", "F", "time", "k"), np.stack([np.stack(v) for v in runs.values()]).astype(np.float32))},
        coords={"model": list(runs), "F": np.asarray(forcings, np.float64), "time": interval * np.arange(1, n + 1),
                "k": np.arange(system.K)},
        attrs={"duration": duration, "interval": interval},
    )


def online_metrics(runs: xr.Dataset) -> dict[str, float]:
    """Per model and F: stable (1/0), time to blow-up, Hellinger distance of the X PDF, autocorrelation and
    log-spectrum RMS differences, against the truth run."""
    out = {}
    truth = runs["X"].sel(model="truth")
    for name in runs["model"].values[1:]:
        for forcing in runs["F"].values:
            trajectory = runs["X"].sel(model=name, F=forcing).values
            stats = climate_statistics(trajectory, truth.sel(F=forcing).values,
                                       max_lag=min(40, trajectory.shape[0] - 1))
            finite = np.all(np.isfinite(trajectory), axis=1)
            stable_until = float(runs["time"].values[-1] if finite.all() else runs["time"].values[np.argmin(finite)])
            tag = f"{name}_F{forcing:g}"
            out[f"online_stable_time_{tag}"] = stable_until
            for stat in ("hellinger", "autocorrelation_rmse", "log_spectrum_rmse"):
                out[f"online_{stat}_{tag}"] = stats[stat]
    return out


def cubic_closure_of(ds: xr.Dataset):
    """The physical (cubic) closure stored with the lorenz96 dataset."""
    return CubicClosure(jnp.asarray(ds.attrs["cubic_closure"], jnp.float32))


def plot_tendency(predictions: xr.Dataset, title: str):
    """Tendency vs local state per regime: truth scatter, binned ensemble mean and 90 % band."""
    import matplotlib.pyplot as plt

    masks = regimes(predictions)
    fig, axes = plt.subplots(1, len(masks), figsize=(6 * len(masks), 4), constrained_layout=True, squeeze=False)
    for ax, (regime, mask) in zip(axes[0], masks.items()):
        p = predictions.isel(sample=np.flatnonzero(mask))
        x = p["state"].values.ravel()
        ax.scatter(x, p["reference"].values.ravel(), s=2, c="0.6", alpha=0.4, label="truth")
        edges = np.linspace(np.percentile(x, 0.5), np.percentile(x, 99.5), 30)
        index = np.digitize(x, edges)
        centres, mean, lower, upper = [], [], [], []
        for b in range(1, len(edges)):
            sel = index == b
            if sel.sum() < 5:
                continue
            centres.append(x[sel].mean())
            mean.append(p["prediction"].values.ravel()[sel].mean())
            lower.append(p["prediction_lower"].values.ravel()[sel].mean())
            upper.append(p["prediction_upper"].values.ravel()[sel].mean())
        ax.plot(centres, mean, "C3-", label="ensemble mean (binned)")
        ax.fill_between(centres, lower, upper, color="C3", alpha=0.25, label="90 % interval (binned)")
        forcings = ", ".join(f"{f:g}" for f in np.unique(p["F"].values))
        ax.set(title=f"{title}: {regime} (F = {forcings})", xlabel="X_k", ylabel="U_k")
    axes[0][0].legend(loc="upper right")
    return fig


def plot_calibration(predictions: xr.Dataset, title: str, *, key: jax.Array):
    """Observed vs nominal coverage of central intervals, per regime, from members plus noise draws."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5), constrained_layout=True)
    ax.plot([0, 1], [0, 1], "k:", label="calibrated")
    noise = predictions.attrs["noise_std"]
    for regime, mask in regimes(predictions).items():
        p = predictions.isel(sample=np.flatnonzero(mask))
        members = p["prediction_members"].values
        draws = noise * np.asarray(jax.random.normal(key, (8,) + members.shape))
        samples = (members[None] + draws).reshape((-1,) + members.shape[1:])
        levels, observed = calibration_curve(samples, p["reference"].values)
        ax.plot(levels, observed, "o-", label=regime)
    ax.set(title=f"{title}: calibration", xlabel="nominal central-interval level", ylabel="observed coverage",
           xlim=(0, 1), ylim=(0, 1))
    ax.legend()
    return fig


def plot_online_pdfs(runs: xr.Dataset, title: str):
    """PDF of X in the long runs, per forcing: truth against each coupled model (blown-up runs skipped)."""
    import matplotlib.pyplot as plt

    forcings = runs["F"].values
    fig, axes = plt.subplots(1, len(forcings), figsize=(5 * len(forcings), 3.8), constrained_layout=True,
                             squeeze=False)
    for ax, forcing in zip(axes[0], forcings):
        truth = runs["X"].sel(model="truth", F=forcing).values.ravel()
        edges = np.linspace(truth.min() - 3, truth.max() + 3, 60)
        for i, name in enumerate(runs["model"].values):
            values = runs["X"].sel(model=name, F=forcing).values.ravel()
            if not np.all(np.isfinite(values)):
                ax.plot([], [], f"C{i}", label=f"{name} (blew up)")
                continue
            ax.hist(values, bins=edges, density=True, histtype="step", color="k" if name == "truth" else f"C{i}",
                    lw=2 if name == "truth" else 1.2, label=name)
        ax.set(title=f"{title}: F = {forcing:g}", xlabel="X", ylabel="PDF")
    axes[0][0].legend()
    return fig


def run_lorenz96_experiment(kind: str, config, run) -> dict:
    """Train the `kind` closure on the lorenz96 dataset, write the output contract and figures, return metrics.

    `config` carries the fields of the experiments' Config (seed, members, width, depth, prior_scale, half_width,
    use_state, alpha, steps, batch_size, learning_rate, subset_fraction, small, online_duration, online_forcings);
    `run` is the `RunDir`.
    """
    ds = open_dataset(ensure_dataset("lorenz96", small=config.small)).load()
    lf = lorenz96_samples(ds, "low", "train")[:2]
    hf = lorenz96_samples(ds, "high", "train")[:2]
    test_x, test_u, test_f = lorenz96_samples(ds, "high", "test")
    key = jax.random.key(config.seed)
    model, result = train_parametrization(
        kind, lf, hf, key=jax.random.fold_in(key, 0), members=config.members, width=config.width,
        depth=config.depth, prior_scale=config.prior_scale, half_width=config.half_width, use_state=config.use_state,
        alpha=config.alpha, steps=config.steps, batch_size=config.batch_size, learning_rate=config.learning_rate,
        subset_fraction=config.subset_fraction, out_dir=run.path,
    )
    predictions = offline_predictions(model, test_x, test_u, test_f, key=jax.random.fold_in(key, 1))
    cubic = cubic_closure_of(ds)
    runs = online_runs({"cubic": cubic, kind: model}, config.online_forcings, duration=config.online_duration,
                       key=jax.random.fold_in(key, 2))
    predictions = predictions.assign(online_X=runs["X"].rename({"F": "online_F", "time": "online_time"}))
    predictions.attrs.update(kind=kind, config=str(dataclasses.asdict(config)))
    run.write_predictions(predictions)
    run.save_figure(plot_tendency(predictions, kind), "tendency")
    run.save_figure(plot_calibration(predictions, kind, key=jax.random.fold_in(key, 3)), "calibration")
    run.save_figure(plot_online_pdfs(runs, kind), "online_pdfs")
    metrics = offline_metrics(predictions)
    cubic_prediction = np.asarray(cubic(jnp.asarray(test_x)), np.float64)
    for regime, mask in regimes(predictions).items():
        metrics[f"cubic_r2_{regime}"] = float(r2_score(cubic_prediction[mask], test_u[mask]))
    metrics.update(online_metrics(runs))
    metrics.update(noise_std=float(model.noise_std), train_time_s=result.train_time_s,
                   compile_time_s=result.compile_time_s, steps_per_s=result.steps_per_s,
                   n_lf_pairs=int(lf[0].size), n_hf_pairs=int(hf[0].size), n_test_pairs=int(test_x.size))
    return metrics
