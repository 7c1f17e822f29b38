"""The Lorenz-96 closure study (`lorenz96-lf`, `lorenz96-rpn`, `lorenz96-mfrpn`): config, data split, training
through `sciml.studies.train`, offline and online evaluation, predictions and figures."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sciml import _random as random
from sciml._errors import ConfigError
from sciml.data import TendencyData, ensure_dataset, open_dataset
from sciml.solvers import CubicClosure, lorenz96_samples
from sciml.studies._config import TrainConfig
from sciml.studies._run import RunDir
from sciml.studies._training import fit_summary, train
from sciml.train import FitResult
from sciml.uq import (
    CouplingNoise,
    LearnedParametrization,
    calibration_curve,
    coupling_noise,
    cubic_closure_of,
    offline_metrics,
    offline_predictions,
    online_metrics,
    online_runs,
    online_runs_of,
    parametrization_like,
    parametrization_training,
    r2_score,
    regimes,
    trainable_filter,
    with_online_runs,
)


@dataclasses.dataclass(frozen=True)
class Lorenz96Config:
    """Knobs of the Lorenz-96 closure experiments (`lorenz96-lf`, `lorenz96-rpn`; `lorenz96-mfrpn` adds two).

    The ensemble and its training, the dataset size, and the online protocol: the same initial conditions
    (`online_seed`) for every model and training seed, learned runs coupled to one member plus red noise when
    `online_stochastic`.
    """

    train: TrainConfig = TrainConfig(steps=3000, learning_rate=1e-3, schedule="exponential", decay_steps=750,
                                     decay_rate=0.5, chunk=500)
    """Training: Adam, learning rate halved every `train.decay_steps` (= steps / 4; set both when changing steps)."""
    members: int = 16
    """Ensemble members (each a trained network plus a fixed random prior network)."""
    width: int = 64
    """Hidden units per layer of each member's MLP."""
    depth: int = 3
    """Hidden layers of each member's MLP."""
    prior_scale: float = 1.0
    """Scale of each member's fixed random prior network (0: plain ensemble)."""
    half_width: int = 2
    """Half-width of the stencil of slow variables each prediction reads (2: X_{k-2} .. X_{k+2})."""
    batch_size: int = 128
    """(snapshot, k) pairs per training batch."""
    subset_fraction: float = 0.8
    """Share of the training pairs each member is trained on (its own random subset)."""
    small: bool = False
    """Use the small version of the lorenz96 dataset (tests and quick looks)."""
    online_duration: float = 100.0
    """Length of each online run in model time units."""
    online_forcings: tuple[float, ...] = (20.0, 24.0)
    """Forcings F at which the closures are run online against the two-scale truth."""
    online_runs: int = 8
    """Online runs per forcing, each from its own initial condition."""
    online_seed: int = 1000
    """Seed of the online initial conditions (the same for every model and training seed)."""
    online_stochastic: bool = True
    """Couple each online run to one ensemble member plus red noise fitted to its error (the cubic too)."""
    data: TendencyData = TendencyData()
    """(state, tendency) pairs of your own in place of lorenz96 (docs/tutorials/own-data.md): offline scores only."""


@dataclasses.dataclass(frozen=True)
class MultiFidelityConfig(Lorenz96Config):
    """`Lorenz96Config` plus the MF-RPN knobs: the HF net also reads the stencil (`use_state`), LF loss weight."""

    use_state: bool = True
    """The HF network also reads the stencil of slow variables, beside the LF prediction."""
    alpha: float = 1.0
    """Weight of the LF loss beside the HF loss (MSE_hf + alpha MSE_lf)."""


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


def train_closure(kind: str, config: Lorenz96Config, data: Lorenz96Data,
                  run: RunDir | None = None) -> tuple[LearnedParametrization, FitResult]:
    """Train the `kind` closure (see `sciml.uq.parametrization_training`) with the config's knobs (`use_state`,
    `alpha` where the config has them); members, subsets and batches from ``config.train.key(0)``."""
    return _train_pairs(kind, config, data.lf, data.hf, run)


def _train_pairs(kind: str, config: Lorenz96Config, lf: tuple[np.ndarray, np.ndarray] | None,
                 hf: tuple[np.ndarray, np.ndarray] | None,
                 run: RunDir | None) -> tuple[LearnedParametrization, FitResult]:
    """`train_closure` on (X, U) pairs of each fidelity (None where the kind needs none)."""
    extra = {name: getattr(config, name) for name in ("use_state", "alpha") if hasattr(config, name)}
    training = parametrization_training(
        kind, lf, hf, key=config.train.key(0), members=config.members, width=config.width,
        depth=config.depth, prior_scale=config.prior_scale, half_width=config.half_width,
        batch_size=config.batch_size, subset_fraction=config.subset_fraction, **extra)
    result = train(training.ensemble, training.loss, training.sampler, config.train, run,
                   trainable=trainable_filter(training.ensemble), key=training.key)
    return training.closure(result.model), result


def closure_like(kind: str, config: Lorenz96Config) -> LearnedParametrization:
    """The structure of the closure `train_closure(kind, config, ...)` gives (shapes and dtypes, no training)."""
    extra = {"use_state": config.use_state} if hasattr(config, "use_state") else {}
    return parametrization_like(kind, members=config.members, width=config.width, depth=config.depth,
                                prior_scale=config.prior_scale, half_width=config.half_width, **extra)


def predict_closure(model: LearnedParametrization, config: Lorenz96Config, inputs) -> xr.Dataset:
    """The closure's offline prediction on slow states: `inputs` an array (sample, k) or a dataset with `state`
    (sample, k) such as predictions.nc (its `F` kept as coordinate). Returns `prediction` (ensemble-mean tendency),
    `prediction_std`, the 90 % interval `prediction_lower`/`prediction_upper` (noise drawn with
    ``config.train.key(1)`` as `main` does, so the same states give the same interval), `prediction_members` and
    `state` on (sample, k)."""
    forcings = None
    if isinstance(inputs, xr.Dataset):
        forcings = inputs["F"].values if "F" in inputs.coords else None
        inputs = inputs["state"].values
    states = np.asarray(inputs, np.float32)
    if states.ndim != 2:
        raise ConfigError(f"predict: expected slow states of shape (sample, k), got {states.shape}")
    return offline_predictions(model, states, forcings=forcings, key=config.train.key(1))


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


def run_lorenz96(kind: str, config: Lorenz96Config, run: RunDir) -> dict:
    """Train the `kind` closure on the lorenz96 dataset, write the output contract (offline test predictions and
    the online runs) and the figures, and return the metrics, all computed from what predictions.nc holds. With
    ``config.data.path`` set, the closure is trained and scored on the user's pairs instead (`run_on_pairs`)."""
    if config.data.path:
        return run_on_pairs(kind, config, run)
    data = Lorenz96Data.load(small=config.small)
    model, result = train_closure(kind, config, data, run)
    run.save_model(model)
    predictions = offline_predictions(model, *data.test, key=config.train.key(1))
    predictions["cubic_prediction"] = (("sample", "k"), np.asarray(data.cubic(jnp.asarray(data.test[0])), np.float64),
                                       {"long_name": "subgrid tendency of the cubic closure", "units": "1"})
    predictions = with_online_runs(predictions, evaluate_online({kind: model}, config, data))
    predictions.attrs.update(kind=kind, config=str(dataclasses.asdict(config)))
    run.write_predictions(predictions)
    runs = online_runs_of(predictions)
    run.save_figure(plot_tendency(predictions, kind), "tendency")
    run.save_figure(plot_calibration(predictions, kind, key=config.train.key(3)), "calibration")
    run.save_figure(plot_online_pdfs(runs, kind), "online_pdfs")
    metrics = offline_metrics(predictions)
    for regime, mask in regimes(predictions).items():
        metrics[f"cubic_r2_{regime}"] = float(r2_score(predictions["cubic_prediction"].values[mask],
                                                       predictions["reference"].values[mask]))
    metrics.update(online_metrics(runs))
    metrics.update(noise_std=float(model.noise_std), **fit_summary(result),
                   **{f"n_{name}": float(value) for name, value in data.counts().items() if name != "test_pairs_per_F"})
    return metrics


def run_on_pairs(kind: str, config: Lorenz96Config, run: RunDir) -> dict:
    """Train the `kind` closure ("rpn" or "lf": one fidelity) on the (state, tendency) pairs of the user's file
    (``config.data``; docs/tutorials/own-data.md) and score it offline on the file's last ``data.test_fraction`` of
    samples: predictions.nc (on (sample, k), the file's units), tendency and calibration figures, and R^2, CRPS,
    90 % coverage and spread-skill over the test samples. There is no model to couple the closure to, so no online
    runs."""
    if kind == "mfrpn":
        raise ConfigError("a file of your own holds one fidelity, and mfrpn trains on two; use lorenz96-rpn (or "
                          "lorenz96-lf) with data.path")
    pairs = config.data.open()
    if pairs.sizes["k"] < 2 * config.half_width + 1:
        raise ConfigError(f"the grid dimension {config.data.dims.k!r} (data.dims.k) of {config.data.path!r} has "
                          f"{pairs.sizes['k']} points, fewer than the stencil's 2 * half_width + 1 = "
                          f"{2 * config.half_width + 1}; lower it: --set half_width={(pairs.sizes['k'] - 1) // 2}")
    train_pairs, test = config.data.split(pairs)
    xu = (train_pairs["X"].values, train_pairs["U"].values)
    model, result = _train_pairs(kind, config, xu if kind == "lf" else None, xu if kind == "rpn" else None, run)
    run.save_model(model)
    predictions = offline_predictions(model, test["X"].values, test["U"].values, key=config.train.key(1))
    predictions = predictions.assign_coords(k=test["k"].variable, **{
        name: ("sample", c.values, c.attrs) for name, c in test.coords.items() if c.dims == ("sample",)
        and name != "sample"})
    state, tendency = pairs["X"].attrs, pairs["U"].attrs
    for name in ("prediction", "prediction_std", "prediction_lower", "prediction_upper", "prediction_members",
                 "reference"):
        predictions[name].attrs["units"] = tendency["units"]
    predictions["reference"].attrs["long_name"] = tendency["long_name"]
    predictions["prediction"].attrs["long_name"] = f"ensemble-mean prediction of {tendency['long_name']}"
    predictions["state"].attrs.update(long_name=state["long_name"], units=state["units"])
    predictions.attrs.update(kind=kind, source_file=config.data.path, config=str(dataclasses.asdict(config)))
    run.write_predictions(predictions)
    run.save_figure(plot_tendency(predictions, kind), "tendency")
    run.save_figure(plot_calibration(predictions, kind, key=config.train.key(3)), "calibration")
    return {**offline_metrics(predictions), "noise_std": float(model.noise_std), **fit_summary(result),
            "n_train_pairs": float(train_pairs["X"].size), "n_test_pairs": float(test["X"].size)}


def plot_tendency(predictions: xr.Dataset, title: str):
    """Tendency vs local state per regime: truth scatter, binned ensemble mean and 90 % band."""
    masks = regimes(predictions)
    fig, axes = plt.subplots(1, len(masks), figsize=(6 * len(masks), 4), constrained_layout=True, squeeze=False)
    for ax, (regime, mask) in zip(axes[0], masks.items(), strict=True):
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
        forcings = f" (F = {', '.join(f'{f:g}' for f in np.unique(p['F'].values))})" if "F" in p.coords else ""
        ax.set(title=f"{title}: {regime}{forcings}", xlabel="X_k", ylabel="U_k")
    axes[0][0].legend(loc="upper right")
    return fig


def plot_calibration(predictions: xr.Dataset, title: str, *, key: jax.Array):
    """Observed vs nominal coverage of central intervals, per regime, from members plus noise draws."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5), constrained_layout=True)
    ax.plot([0, 1], [0, 1], "k:", label="calibrated")
    noise = predictions.attrs["noise_std"]
    for regime, mask in regimes(predictions).items():
        p = predictions.isel(sample=np.flatnonzero(mask))
        members = p["prediction_members"].values
        draws = noise * np.asarray(random.normal(key, (8,) + members.shape))
        samples = (members[None] + draws).reshape((-1,) + members.shape[1:])
        levels, observed = calibration_curve(samples, p["reference"].values)
        ax.plot(levels, observed, "o-", label=regime)
    ax.set(title=f"{title}: calibration", xlabel="nominal central-interval level", ylabel="observed coverage",
           xlim=(0, 1), ylim=(0, 1))
    ax.legend()
    return fig


def plot_online_pdfs(runs: xr.Dataset, title: str):
    """PDF of X in the long runs, per forcing: truth against each coupled model (blown-up runs skipped)."""
    forcings = runs["F"].values
    fig, axes = plt.subplots(1, len(forcings), figsize=(5 * len(forcings), 3.8), constrained_layout=True,
                             squeeze=False)
    for ax, forcing in zip(axes[0], forcings, strict=True):
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
