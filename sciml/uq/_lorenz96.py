"""Judging Lorenz-96 parametrizations offline (probabilistic skill on test snapshots) and online (long coupled
runs of the one-scale model against the two-scale truth)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from sciml._errors import ConfigError
from sciml.solvers import CubicClosure, TwoScaleLorenz96, simulate_one_scale, simulate_two_scale, spin_up_state
from sciml.uq._metrics import coverage, crps_gaussian_mixture, r2_score, spread_skill
from sciml.uq._online import climate_statistics, hellinger_distance
from sciml.uq._parametrization import LearnedParametrization
from sciml.uq._prior import ensemble_size

INTERVAL_LEVEL = 0.9
HISTORICAL_MAX_F = 20.0
WARMER_MIN_F = 24.0
_DEFAULT_SYSTEM = TwoScaleLorenz96()  # frozen dataclass: one shared default instance


def offline_predictions(model: LearnedParametrization, states, tendencies=None, forcings=None, *, key: jax.Array,
                        draws_per_member: int = 16) -> xr.Dataset:
    """The output contract on slow states (sample, k): `prediction` (ensemble mean), `prediction_std` (members +
    noise), the 90 % central interval `prediction_lower`/`prediction_upper` (quantiles of the predictive samples
    drawn with `key`), `reference` (the true U (sample, k), when given), `prediction_members`, `state` and the noise
    std in the attrs; dims (sample, k), the forcings (sample,) as coordinate F when given."""
    states = np.asarray(states, np.float32)
    members = np.asarray(model.predict_members(states), np.float64)
    samples = np.asarray(model.predictive_samples(states, draws_per_member, key=key), np.float64)
    noise = float(model.noise_std)
    std = np.sqrt(members.var(axis=0) + noise**2)
    lower, upper = np.quantile(samples, [(1 - INTERVAL_LEVEL) / 2, (1 + INTERVAL_LEVEL) / 2], axis=0)
    dims = ("sample", "k")
    units = {"units": "1"}  # Lorenz-96 is in model units
    interval = {"interval_level": INTERVAL_LEVEL}
    data = {
        "prediction": (dims, members.mean(axis=0), {"long_name": "ensemble-mean subgrid tendency U_k", **units}),
        "prediction_std": (dims, std, {"long_name": "predictive std (ensemble spread and noise)", **units}),
        "prediction_lower": (dims, lower, {"long_name": "lower end of the central interval of U_k", **units,
                                           **interval}),
        "prediction_upper": (dims, upper, {"long_name": "upper end of the central interval of U_k", **units,
                                           **interval}),
        "prediction_members": (("member", *dims), members.astype(np.float32),
                               {"long_name": "subgrid tendency U_k of each ensemble member", **units}),
        "state": (dims, states, {"long_name": "slow state X_k", **units}),
    }
    if tendencies is not None:
        data["reference"] = (dims, np.asarray(tendencies, np.float64),
                             {"long_name": "true subgrid tendency U_k", **units})
    coords = {"sample": ("sample", np.arange(states.shape[0]), {"long_name": "test snapshot", **units}),
              "k": ("k", np.arange(states.shape[1]), {"long_name": "grid point index k", **units}),
              "member": ("member", np.arange(members.shape[0]), {"long_name": "ensemble member",
                                                                  "standard_name": "realization", **units})}
    if forcings is not None:
        coords["F"] = ("sample", np.asarray(forcings, np.float64), {"long_name": "forcing F", **units})
    return xr.Dataset(data, coords=coords, attrs={"interval_level": INTERVAL_LEVEL, "noise_std": noise})


def regimes(predictions: xr.Dataset) -> dict[str, np.ndarray]:
    """Sample masks of the historical (F <= 20) and warmer (F >= 24) test regimes; predictions without forcings
    (pairs from a user's file) are one regime, "test"."""
    if "F" not in predictions.coords:
        return {"test": np.ones(predictions.sizes["sample"], bool)}
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


@dataclasses.dataclass(frozen=True)
class CouplingNoise:
    """Red noise added to a closure online (`simulate_one_scale`): stationary std and e-folding time."""

    std: float
    time: float


def coupling_noise(closure: Callable, states, tendencies, forcings, *, interval: float) -> CouplingNoise:
    """The closure's residual U - closure(X) on consecutive high-fidelity snapshots (every `interval`) as red noise:
    std = residual RMS, e-folding time from the lag-1 autocorrelation phi pooled over the forcings' runs,
    time = -interval / ln(phi) with phi clipped to [0.05, 0.95] (the data cannot resolve correlations shorter than
    the sampling interval: residuals decorrelated at lag 1 get the shortest time the clip allows, interval / 3)."""
    residual = np.asarray(tendencies, np.float64) - np.asarray(jax.vmap(closure)(jnp.asarray(states)), np.float64)
    forcings = np.asarray(forcings)
    lagged, variance = 0.0, 0.0
    for forcing in np.unique(forcings):
        r = residual[forcings == forcing]
        lagged += np.sum(r[1:] * r[:-1])
        variance += np.sum(r[:-1] ** 2)
    phi = float(np.clip(lagged / variance, 0.05, 0.95))
    return CouplingNoise(float(np.sqrt(np.mean(residual**2))), -interval / float(np.log(phi)))


def _per_run_closures(closure, n_runs: int):
    """Run i of an ensemble closure is coupled to member i mod M alone (stacked along a run axis for vmap); any
    other closure is shared by every run."""
    if not isinstance(closure, LearnedParametrization):
        return closure, None
    size = ensemble_size(closure.ensemble)
    singles = [eqx.tree_at(lambda m: m.ensemble, closure, member_slice(closure.ensemble, i % size, i % size + 1))
               for i in range(n_runs)]
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a) if eqx.is_array(a[0]) else a[0], *singles), eqx.if_array(0)


def member_slice(ensemble, start: int, stop: int):
    """Members start..stop-1 of a stacked ensemble, still stacked."""
    return jax.tree_util.tree_map(lambda a: a[start:stop] if eqx.is_array(a) else a, ensemble)


def online_runs(closures: Mapping[str, Callable], forcings, *, noise: Mapping[str, CouplingNoise] | None = None,
                initial_conditions: int = 8, duration: float = 100.0, interval: float = 0.05, key: jax.Array,
                system: TwoScaleLorenz96 = _DEFAULT_SYSTEM, dt: float = 0.005) -> xr.Dataset:
    """Long runs: the two-scale truth and the one-scale model coupled to each closure, per F, from the same
    `initial_conditions` slow states (each spun up on the two-scale attractor from its own random start).

    An ensemble closure (`LearnedParametrization`) couples member i mod M in run i, so the runs sample the
    ensemble; closures named in `noise` get that red noise (`simulate_one_scale`), independent per run. Returns
    `X` with dims (model, F, run, time, k); model "truth" first, then the closures in order; the member of each
    run and the noise are in `member` and the attrs. A run that blows up holds NaN/Inf from then on.
    """
    if initial_conditions < 1 or not duration >= interval > 0:
        raise ConfigError(f"online_runs: expected initial_conditions >= 1 and duration >= interval > 0, got "
                          f"{initial_conditions}, {duration} and {interval}")
    noise = dict(noise or {})
    unknown = sorted(set(noise) - set(closures))
    if unknown:
        raise ConfigError(f"online_runs: noise given for {unknown}, which are not closures ({list(closures)})")
    n = int(round(duration / interval))
    every = int(round(interval / dt))
    runs = {name: [] for name in ("truth", *closures)}
    for i, forcing in enumerate(forcings):
        keys = jax.random.split(jax.random.fold_in(key, i), initial_conditions + 1)
        x0, y0 = jax.vmap(lambda k, forcing=forcing: spin_up_state(system, forcing, key=k))(keys[1:])
        truth = jax.vmap(lambda x, y, forcing=forcing: simulate_two_scale(system, x, y, forcing, dt=0.001,
                                                                          save_every=int(round(interval / 0.001)),
                                                                          n_snapshots=n)[0])
        runs["truth"].append(np.asarray(truth(x0, y0)))
        noise_keys = jax.random.split(keys[0], initial_conditions)
        for name, closure in closures.items():
            per_run, axis = _per_run_closures(closure, initial_conditions)
            red = noise.get(name, CouplingNoise(0.0, 1.0))

            def one(c, x, k, red=red, forcing=forcing):
                return simulate_one_scale(c, x, forcing, dt=dt, save_every=every, n_snapshots=n, noise_std=red.std,
                                          noise_time=red.time, key=k)

            with np.errstate(invalid="ignore", over="ignore"):
                runs[name].append(np.asarray(eqx.filter_vmap(one, in_axes=(axis, 0, 0))(per_run, x0, noise_keys)))
    members = [np.arange(initial_conditions) % ensemble_size(c.ensemble) if isinstance(c, LearnedParametrization)
               else np.full(initial_conditions, -1) for c in closures.values()]
    units = {"units": "1"}  # Lorenz-96 is in model units
    return xr.Dataset(
        {"X": (("model", "F", "run", "time", "k"), np.stack([np.stack(v) for v in runs.values()]).astype(np.float32),
               {"long_name": "slow state X_k", **units}),
         "member": (("model", "run"), np.stack([np.full(initial_conditions, -1), *members]),
                    {"long_name": "ensemble member coupled in the run (-1: not an ensemble)", **units})},
        coords={"model": ("model", list(runs), {"long_name": "model of the slow dynamics (truth: two-scale)"}),
                "F": ("F", np.asarray(forcings, np.float64), {"long_name": "forcing F", **units}),
                "run": ("run", np.arange(initial_conditions), {"long_name": "run index", **units}),
                "time": ("time", interval * np.arange(1, n + 1), {"long_name": "time since the start", **units}),
                "k": ("k", np.arange(system.K), {"long_name": "grid point index k", **units})},
        attrs={"duration": duration, "interval": interval, "dt": dt,
               **{f"noise_std_{name}": red.std for name, red in noise.items()},
               **{f"noise_time_{name}": red.time for name, red in noise.items()}},
    )


def online_metrics(runs: xr.Dataset) -> dict[str, float]:
    """Per model and F against the truth runs: time to the first blow-up over runs, Hellinger distance of the
    X PDF pooled over runs (and the mean / std of the per-run distances to the pooled truth), RMS differences of
    the run-averaged autocorrelation and log spectrum; per F the truth's own noise floor, the Hellinger distance
    between its even and odd runs."""
    out = {}
    truth = runs["X"].sel(model="truth")
    times = runs["time"].values
    for forcing in runs["F"].values:
        reference = truth.sel(F=forcing).values
        out[f"online_hellinger_truth_halves_F{forcing:g}"] = hellinger_distance(reference[0::2], reference[1::2])
        for name in runs["model"].values[1:]:
            trajectories = runs["X"].sel(model=name, F=forcing).values
            tag = f"{name}_F{forcing:g}"
            finite = np.all(np.isfinite(trajectories), axis=2)
            first_bad = [times[np.argmin(f)] for f in finite if not f.all()]
            out[f"online_stable_time_{tag}"] = float(min(first_bad) if first_bad else times[-1])
            out[f"online_blowups_{tag}"] = float(len(first_bad))
            stats = climate_statistics(trajectories, reference, max_lag=min(40, trajectories.shape[1] - 1))
            for stat in ("hellinger", "autocorrelation_rmse", "log_spectrum_rmse"):
                out[f"online_{stat}_{tag}"] = stats[stat]
            per_run = ([hellinger_distance(t, reference) for t in trajectories] if not first_bad
                       else [float("nan")])
            out[f"online_hellinger_run_mean_{tag}"] = float(np.mean(per_run))
            out[f"online_hellinger_run_std_{tag}"] = float(np.std(per_run))
    return out


ONLINE_PREFIX = "online_"


def with_online_runs(predictions: xr.Dataset, runs: xr.Dataset) -> xr.Dataset:
    """Store the online runs in the predictions file: `online_X` and `online_member` on dims prefixed "online_"
    (k shared), the runs' attrs prefixed too. `online_runs_of` reads them back."""
    renamed = runs.rename({d: ONLINE_PREFIX + d for d in ("model", "F", "run", "time")})
    return predictions.assign(online_X=renamed["X"], online_member=renamed["member"]).assign_attrs(
        {ONLINE_PREFIX + name: value for name, value in runs.attrs.items()})


def online_runs_of(predictions: xr.Dataset) -> xr.Dataset:
    """The online runs stored by `with_online_runs`, as `online_runs` returned them."""
    dims = {ONLINE_PREFIX + d: d for d in ("model", "F", "run", "time")}
    runs = xr.Dataset({"X": predictions["online_X"], "member": predictions["online_member"]}).rename(dims)
    return runs.assign_attrs({name[len(ONLINE_PREFIX):]: value for name, value in predictions.attrs.items()
                              if name.startswith(ONLINE_PREFIX)})


def cubic_closure_of(ds: xr.Dataset):
    """The physical (cubic) closure stored with the lorenz96 dataset."""
    return CubicClosure(jnp.asarray(ds.attrs["cubic_closure"], jnp.float32))
