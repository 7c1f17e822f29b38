"""Judging Lorenz-96 parametrizations offline (probabilistic skill on test snapshots) and online (long coupled
runs of the one-scale model against the two-scale truth), plus the figures of the MF-RPN experiments."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from sciml._errors import ConfigError
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
from sciml.uq._online import climate_statistics, hellinger_distance
from sciml.uq._parametrization import LearnedParametrization, train_parametrization
from sciml.uq._prior import ensemble_size

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
                system: TwoScaleLorenz96 = TwoScaleLorenz96(), dt: float = 0.005) -> xr.Dataset:
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
        x0, y0 = jax.vmap(lambda k: spin_up_state(system, forcing, key=k))(keys[1:])
        truth = jax.vmap(lambda x, y: simulate_two_scale(system, x, y, forcing, dt=0.001,
                                                         save_every=int(round(interval / 0.001)), n_snapshots=n)[0])
        runs["truth"].append(np.asarray(truth(x0, y0)))
        noise_keys = jax.random.split(keys[0], initial_conditions)
        for name, closure in closures.items():
            per_run, axis = _per_run_closures(closure, initial_conditions)
            red = noise.get(name, CouplingNoise(0.0, 1.0))

            def one(c, x, k, red=red):
                return simulate_one_scale(c, x, forcing, dt=dt, save_every=every, n_snapshots=n, noise_std=red.std,
                                          noise_time=red.time, key=k)

            with np.errstate(invalid="ignore", over="ignore"):
                runs[name].append(np.asarray(eqx.filter_vmap(one, in_axes=(axis, 0, 0))(per_run, x0, noise_keys)))
    members = [np.arange(initial_conditions) % ensemble_size(c.ensemble) if isinstance(c, LearnedParametrization)
               else np.full(initial_conditions, -1) for c in closures.values()]
    return xr.Dataset(
        {"X": (("model", "F", "run", "time", "k"), np.stack([np.stack(v) for v in runs.values()]).astype(np.float32)),
         "member": (("model", "run"), np.stack([np.full(initial_conditions, -1), *members]),
                    {"long_name": "ensemble member coupled in the run (-1: not an ensemble)"})},
        coords={"model": list(runs), "F": np.asarray(forcings, np.float64), "run": np.arange(initial_conditions),
                "time": interval * np.arange(1, n + 1), "k": np.arange(system.K)},
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
            values = runs["X"].sel(model=name, F=forcing).values.ravel()  # pooled over runs
            if not np.all(np.isfinite(values)):
                ax.plot([], [], f"C{i}", label=f"{name} (blew up)")
                continue
            ax.hist(values, bins=edges, density=True, histtype="step", color="k" if name == "truth" else f"C{i}",
                    lw=2 if name == "truth" else 1.2, label=name)
        ax.set(title=f"{title}: F = {forcing:g}", xlabel="X", ylabel="PDF")
    axes[0][0].legend()
    return fig


@dataclasses.dataclass(frozen=True)
class Lorenz96Config:
    """Knobs of the Lorenz-96 closure experiments (`lorenz96-lf`, `lorenz96-rpn`; `lorenz96-mfrpn` adds two).

    Ensemble (members, MLP width x depth, prior scale, stencil half-width, 80 % subsets), Adam training (steps,
    batch, learning rate), the dataset size, and the online protocol: `online_runs` runs of `online_duration`
    time units per forcing, from initial conditions drawn with `online_seed` (the same for every model and
    training seed), each learned run coupled to one member plus red noise when `online_stochastic` (the cubic too).
    """

    seed: int = 0
    members: int = 16
    width: int = 64
    depth: int = 3
    prior_scale: float = 1.0
    half_width: int = 2
    steps: int = 3000
    batch_size: int = 128
    learning_rate: float = 1e-3
    subset_fraction: float = 0.8
    small: bool = False
    online_duration: float = 100.0
    online_forcings: tuple[float, ...] = (20.0, 24.0)
    online_runs: int = 8
    online_seed: int = 1000
    online_stochastic: bool = True


@dataclasses.dataclass(frozen=True)
class MultiFidelityConfig(Lorenz96Config):
    """`Lorenz96Config` plus the MF-RPN knobs: the HF net also reads the stencil (`use_state`), LF loss weight."""

    use_state: bool = True
    alpha: float = 1.0


@dataclasses.dataclass(frozen=True)
class Lorenz96Data:
    """The lorenz96 dataset split for the closure experiments: (X, U) training pairs of each fidelity, the
    high-fidelity training forcings and snapshot interval (for the coupling noise), test (X, U, F), the cubic."""

    lf: tuple[np.ndarray, np.ndarray]
    hf: tuple[np.ndarray, np.ndarray]
    hf_forcings: np.ndarray
    hf_interval: float
    test: tuple[np.ndarray, np.ndarray, np.ndarray]
    cubic: CubicClosure

    @classmethod
    def load(cls, *, small: bool = False) -> Lorenz96Data:
        ds = open_dataset(ensure_dataset("lorenz96", small=small)).load()
        hf_x, hf_u, hf_f = lorenz96_samples(ds, "high", "train")
        times = ds["time"].values[(ds["fidelity"].values == "high") & (ds["split"].values == "train")]
        return cls(lorenz96_samples(ds, "low", "train")[:2], (hf_x, hf_u), hf_f, float(np.median(np.diff(times))),
                   lorenz96_samples(ds, "high", "test"), cubic_closure_of(ds))

    def counts(self) -> dict:
        """(snapshot, k) pair counts of each part, test per forcing."""
        test_x, _, test_f = self.test
        return {"lf_pairs": int(self.lf[0].size), "hf_pairs": int(self.hf[0].size), "test_pairs": int(test_x.size),
                "test_pairs_per_F": {f"{f:g}": int((test_f == f).sum() * test_x.shape[1]) for f in np.unique(test_f)}}

    def noise(self, closure: Callable) -> CouplingNoise:
        """`coupling_noise` of a closure on the high-fidelity training snapshots."""
        return coupling_noise(closure, *self.hf, self.hf_forcings, interval=self.hf_interval)


def train_closure(kind: str, config: Lorenz96Config, data: Lorenz96Data, *, key: jax.Array, out_dir=None):
    """`train_parametrization` of `kind` with the config's knobs (`use_state`, `alpha` where the config has them)."""
    extra = {name: getattr(config, name) for name in ("use_state", "alpha") if hasattr(config, name)}
    return train_parametrization(
        kind, data.lf, data.hf, key=key, members=config.members, width=config.width, depth=config.depth,
        prior_scale=config.prior_scale, half_width=config.half_width, steps=config.steps,
        batch_size=config.batch_size, learning_rate=config.learning_rate, subset_fraction=config.subset_fraction,
        out_dir=out_dir, **extra)


def evaluate_online(closures: Mapping[str, Callable], config: Lorenz96Config, data: Lorenz96Data, *,
                    deterministic_too: bool = False) -> xr.Dataset:
    """`online_runs` of the cubic (deterministic as `cubic_deterministic`, and as `cubic` with the coupling
    noise when `config.online_stochastic`) and the given closures under the config's protocol; every closure
    but the deterministic ones gets its own `Lorenz96Data.noise` when stochastic. `deterministic_too` adds each
    given closure without noise as `<name>_deterministic` (an ablation of the noise)."""
    everything = {"cubic_deterministic": data.cubic, "cubic": data.cubic, **closures}
    if deterministic_too:
        everything.update({f"{name}_deterministic": closure for name, closure in closures.items()})
    noise = ({name: data.noise(closure) for name, closure in everything.items()
              if not name.endswith("_deterministic")} if config.online_stochastic else {})
    if not config.online_stochastic:
        del everything["cubic"]
    return online_runs(everything, config.online_forcings, noise=noise, initial_conditions=config.online_runs,
                       duration=config.online_duration, key=jax.random.key(config.online_seed))


def run_lorenz96_experiment(kind: str, config: Lorenz96Config, run) -> dict:
    """Train the `kind` closure on the lorenz96 dataset, write the output contract (offline test predictions and
    the online runs) and the figures, and return the metrics, all computed from what predictions.nc holds."""
    data = Lorenz96Data.load(small=config.small)
    key = jax.random.key(config.seed)
    model, result = train_closure(kind, config, data, key=jax.random.fold_in(key, 0), out_dir=run.path)
    predictions = offline_predictions(model, *data.test, key=jax.random.fold_in(key, 1))
    predictions["cubic_prediction"] = (("sample", "k"), np.asarray(data.cubic(jnp.asarray(data.test[0])), np.float64),
                                       {"long_name": "subgrid tendency of the cubic closure"})
    predictions = with_online_runs(predictions, evaluate_online({kind: model}, config, data))
    predictions.attrs.update(kind=kind, config=str(dataclasses.asdict(config)))
    run.write_predictions(predictions)
    runs = online_runs_of(predictions)
    run.save_figure(plot_tendency(predictions, kind), "tendency")
    run.save_figure(plot_calibration(predictions, kind, key=jax.random.fold_in(key, 3)), "calibration")
    run.save_figure(plot_online_pdfs(runs, kind), "online_pdfs")
    metrics = offline_metrics(predictions)
    for regime, mask in regimes(predictions).items():
        metrics[f"cubic_r2_{regime}"] = float(r2_score(predictions["cubic_prediction"].values[mask],
                                                       predictions["reference"].values[mask]))
    metrics.update(online_metrics(runs))
    metrics.update(noise_std=float(model.noise_std), train_time_s=result.train_time_s,
                   compile_time_s=result.compile_time_s, steps_per_s=result.steps_per_s,
                   **{f"n_{name}": float(value) for name, value in data.counts().items() if name != "test_pairs_per_F"})
    return metrics
