"""Learned subgrid parametrizations of Lorenz-96 with randomized-prior ensembles: training, prediction, coupling.

The closure is local: the tendency U_k is predicted from the stencil X_{k-s..k+s} (s = `half_width`), the same
network for every k. Three kinds share the code:

- ``"rpn"``: an RPN ensemble trained on the scarce high-fidelity (two-scale, historical) pairs only;
- ``"lf"``: an RPN ensemble trained on the abundant low-fidelity pairs (one-scale model with the physical closure,
  every regime);
- ``"mfrpn"``: `MultiFidelity` members (LF net on LF data, HF net fed by the detached LF prediction and optionally
  the stencil, trained on HF data), both losses summed as in the MF-RPN paper.

`parametrization_training` gives the ensemble, loss and sampler; all members train as one compiled program through
`sciml.train.fit` (called by the study layer, `sciml.studies.lorenz96`), each on its own 80 % subset. The irreducible
part of the subgrid tendency (the fast variables are not a function of X) is modelled as Gaussian noise
whose std is the members' out-of-bag residual RMS; predictive samples are member predictions plus that noise.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from sciml import _random as random
from sciml._errors import ConfigError
from sciml.uq._multifidelity import MultiFidelity, MultiFidelityLoss
from sciml.uq._prior import (
    BootstrapSampler,
    RandomizedPrior,
    bootstrap_subsets,
    ensemble_loss,
    ensemble_predict,
    make_ensemble,
    mse_member_loss,
    out_of_bag_mask,
)

KINDS = ("rpn", "lf", "mfrpn")


def local_stencil(x: Float[Array, "*batch K"], half_width: int) -> Float[Array, "*batch K w"]:
    """For every k the periodic neighbourhood (X_{k-s}, ..., X_{k+s}), s = `half_width`; w = 2 s + 1."""
    return jnp.stack([jnp.roll(x, -offset, axis=-1) for offset in range(-half_width, half_width + 1)], axis=-1)


class Standardizer(eqx.Module):
    """z-scores with a fixed mean and std (scalars: all slow variables share one scale)."""

    mean: Float[Array, ""]
    std: Float[Array, ""]

    @classmethod
    def of(cls, values) -> Standardizer:
        values = np.asarray(values, np.float64)
        return cls(jnp.asarray(values.mean(), jnp.float32), jnp.asarray(values.std(), jnp.float32))

    def normalize(self, x):
        return (x - self.mean) / self.std

    def denormalize(self, z):
        return z * self.std + self.mean


class LearnedParametrization(eqx.Module):
    """A trained ensemble closure in physical units: `members(x)` (M, K), `__call__(x)` the ensemble mean (K,).

    `noise_std` is the irreducible subgrid noise (physical units) added to predictive samples.
    """

    ensemble: eqx.Module
    inputs: Standardizer
    outputs: Standardizer
    noise_std: Float[Array, ""]
    half_width: int = eqx.field(static=True)

    def members(self, x: Float[Array, " K"]) -> Float[Array, "M K"]:
        features = self.inputs.normalize(local_stencil(x, self.half_width))
        return self.outputs.denormalize(ensemble_predict(self.ensemble, features)[..., 0])

    def __call__(self, x: Float[Array, " K"]) -> Float[Array, " K"]:
        return jnp.mean(self.members(x), axis=0)

    def predict_members(self, states: Float[Array | np.ndarray, "N K"]) -> Float[Array, "M N K"]:
        """Member predictions for many states at once."""
        return _predict_members(self, jnp.asarray(states))

    def predictive_samples(self, states: Float[Array | np.ndarray, "N K"], draws_per_member: int, *,
                           key: jax.Array) -> Float[Array, "S N K"]:
        """Member predictions plus Gaussian noise of `noise_std`: S = M * draws_per_member samples."""
        means = self.predict_members(states)
        noise = self.noise_std * random.normal(key, (draws_per_member,) + means.shape)
        return (means[None] + noise).reshape((-1,) + means.shape[1:])


@eqx.filter_jit
def _predict_members(model: LearnedParametrization, states):
    return jnp.moveaxis(jax.vmap(model.members)(states), 1, 0)


def _member_factory(kind, n_features, width, depth, prior_scale, use_state):
    def rpn(key, n_in):
        return RandomizedPrior(n_in, 1, width, depth, prior_scale=prior_scale, key=key)

    if kind == "mfrpn":
        return lambda key: MultiFidelity(rpn(jax.random.fold_in(key, 0), n_features),
                                         rpn(jax.random.fold_in(key, 1), 1 + n_features * use_state), use_state)
    return lambda key: rpn(key, n_features)


class ParametrizationTraining(eqx.Module):
    """What training a closure needs: the stacked `ensemble`, its `loss` and `sampler` for `sciml.train.fit`, and
    what turns the trained ensemble into a `LearnedParametrization` (`closure`).

    `key` is the ensemble's own batch key (fit's key in the closures trained before the study layer, which drew the
    batches from it). `noise_data` holds the (features (N, w), targets (N, 1), subsets (M, n)) whose out-of-bag
    residuals give the noise std.
    """

    ensemble: eqx.Module
    loss: Callable = eqx.field(static=True)
    sampler: BootstrapSampler
    key: jax.Array
    inputs: Standardizer
    outputs: Standardizer
    noise_data: tuple
    half_width: int = eqx.field(static=True)

    def closure(self, ensemble: eqx.Module) -> LearnedParametrization:
        """The trained `ensemble` as a closure in physical units, its noise from the out-of-bag residuals."""
        noise = _out_of_bag_noise(ensemble, *self.noise_data) * self.outputs.std
        return LearnedParametrization(ensemble, self.inputs, self.outputs, noise, self.half_width)


def parametrization_training(
    kind: str,
    lf: tuple[np.ndarray, np.ndarray] | None,
    hf: tuple[np.ndarray, np.ndarray] | None,
    *,
    key: jax.Array,
    members: int = 16,
    width: int = 64,
    depth: int = 3,
    prior_scale: float = 1.0,
    half_width: int = 2,
    use_state: bool = True,
    alpha: float = 1.0,
    batch_size: int = 128,
    subset_fraction: float = 0.8,
) -> ParametrizationTraining:
    """The ensemble, loss and sampler of one of `KINDS` on slow states X (n, K) and tendencies U (n, K) of the LF
    and/or HF data.

    Every (snapshot, k) pair is a sample. Inputs and outputs are standardized with the statistics of the data the
    first network sees (LF data for "lf" and "mfrpn", HF data for "rpn"). `key` draws the members, their subsets
    and (as `ParametrizationTraining.key`) the batches.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown parametrization kind {kind!r}; expected one of {KINDS}")
    needs = {"rpn": ("hf",), "lf": ("lf",), "mfrpn": ("lf", "hf")}[kind]
    given = {"lf": lf, "hf": hf}
    for name in needs:
        if given[name] is None:
            raise ConfigError(f"kind {kind!r} needs {name.upper()} data; pass {name}=(X, U)")
    base = given[needs[0]]
    inputs, outputs = Standardizer.of(base[0]), Standardizer.of(base[1])
    k_init, k_subsets, k_batches = jax.random.split(key, 3)

    def pairs(data):
        x, u = (jnp.asarray(a, jnp.float32) for a in data)
        features = inputs.normalize(local_stencil(x, half_width)).reshape(-1, 2 * half_width + 1)
        return features, outputs.normalize(u).reshape(-1, 1)

    prepared = {name: pairs(given[name]) for name in needs}
    subsets = {name: bootstrap_subsets(prepared[name][0].shape[0], members, subset_fraction,
                                       key=jax.random.fold_in(k_subsets, i)) for i, name in enumerate(needs)}
    sources = {name: (*prepared[name], subsets[name]) for name in needs}
    if kind != "mfrpn":
        sources = {"data": sources[needs[0]]}
    factory = _member_factory(kind, 2 * half_width + 1, width, depth, prior_scale, use_state)
    ensemble = make_ensemble(factory, members, key=k_init)
    loss = ensemble_loss(MultiFidelityLoss(alpha) if kind == "mfrpn" else mse_member_loss)
    target = "hf" if kind != "lf" else "lf"
    return ParametrizationTraining(ensemble, loss, BootstrapSampler(sources, batch_size), k_batches, inputs, outputs,
                                   (*prepared[target], subsets[target]), half_width)


def parametrization_like(kind: str, *, members: int = 16, width: int = 64, depth: int = 3, prior_scale: float = 1.0,
                         half_width: int = 2, use_state: bool = True) -> LearnedParametrization:
    """The structure of the closure that `parametrization_training(kind, ...).closure` gives (same arguments): leaves
    are `jax.ShapeDtypeStruct`s, nothing is drawn; fill it with `eqx.tree_deserialise_leaves`."""
    if kind not in KINDS:
        raise ConfigError(f"unknown parametrization kind {kind!r}; expected one of {KINDS}")
    factory = _member_factory(kind, 2 * half_width + 1, width, depth, prior_scale, use_state)

    def build():
        scalar = jnp.zeros((), jnp.float32)
        return LearnedParametrization(make_ensemble(factory, members, key=jax.random.key(0)),
                                      Standardizer(scalar, scalar), Standardizer(scalar, scalar), scalar, half_width)

    return eqx.filter_eval_shape(build)


@eqx.filter_jit
def _out_of_bag_noise(ensemble, features, targets, subsets):
    """RMS of each member's residuals on its out-of-bag samples, pooled over members (normalized units)."""
    residual = ensemble_predict(ensemble, features)[..., 0] - targets[None, :, 0]
    mask = out_of_bag_mask(subsets, features.shape[0])
    return jnp.sqrt(jnp.sum(mask * residual**2) / jnp.maximum(jnp.sum(mask), 1.0))
