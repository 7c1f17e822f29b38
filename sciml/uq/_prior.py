"""Randomized prior networks (Osband et al. 2018) and ensembles of them trained as one compiled program.

A member is f(x) = g_theta(x) + beta p(x): g is trained, p has the same architecture, is drawn once and never
trained (its output passes through `stop_gradient` and `trainable_filter` keeps it out of the optimizer). An
ensemble is one module whose array leaves carry a leading member axis (built with `eqx.filter_vmap`); training it
through `sciml.train.fit` with `ensemble_loss` runs every member in the same XLA program, each on its own bootstrap
subset drawn by `BootstrapSampler`.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from sciml._errors import ConfigError
from sciml.nn import MLP
from sciml.train import AbstractSampler


def leaky_relu(x: Array) -> Array:
    """Leaky ReLU with slope 0.15 for negative inputs (the MF-RPN authors' activation)."""
    return jax.nn.leaky_relu(x, negative_slope=0.15)


class RandomizedPrior(eqx.Module):
    """One randomized-prior member: `trainable(x) + prior_scale * prior(x)`, both MLPs of the same architecture.

    Args:
        in_size, out_size: features in and out.
        width, depth: hidden units per layer and hidden layers (shared by both nets).
        activation: elementwise nonlinearity.
        prior_scale: beta, the weight of the frozen prior net (0 gives a plain network).
        key: PRNG key; the trainable and prior nets get independent draws.
    """

    trainable: MLP
    prior: MLP
    prior_scale: float = eqx.field(static=True)

    def __init__(self, in_size: int, out_size: int, width: int = 64, depth: int = 3,
                 activation: Callable = leaky_relu, prior_scale: float = 1.0, *, key: jax.Array):
        if prior_scale < 0:
            raise ConfigError(f"RandomizedPrior: prior_scale must be >= 0, got {prior_scale}")
        k_train, k_prior = jax.random.split(key)
        self.trainable = MLP(in_size, out_size, width, depth, activation, key=k_train)
        self.prior = MLP(in_size, out_size, width, depth, activation, key=k_prior)
        self.prior_scale = prior_scale

    def __call__(self, x: Float[Array, " in_size"]) -> Float[Array, " out_size"]:
        return self.trainable(x) + self.prior_scale * jax.lax.stop_gradient(self.prior(x))


def trainable_filter(model):
    """Filter spec for `fit(..., trainable=...)`: every inexact array except those of `RandomizedPrior.prior` nets."""
    spec = jax.tree_util.tree_map(eqx.is_inexact_array, model)

    def freeze_prior(node):
        if isinstance(node, RandomizedPrior):
            return eqx.tree_at(lambda m: m.prior, node, replace_fn=lambda p: jax.tree_util.tree_map(lambda _: False, p))
        return node

    return jax.tree_util.tree_map(freeze_prior, spec, is_leaf=lambda n: isinstance(n, RandomizedPrior))


def make_ensemble(factory: Callable[[jax.Array], eqx.Module], n_members: int, *, key: jax.Array) -> eqx.Module:
    """`n_members` independent draws of `factory(key)` stacked into one module (array leaves get a member axis)."""
    if n_members < 1:
        raise ConfigError(f"make_ensemble: n_members must be >= 1, got {n_members}")
    return _draw_members(factory, jax.random.split(key, n_members))


@eqx.filter_jit
def _draw_members(factory, keys):
    """The members drawn in one compiled program (op-by-op vmap compiles every initialiser op on its own)."""
    return eqx.filter_vmap(factory)(keys)


def ensemble_size(ensemble) -> int:
    """Number of members of a stacked ensemble (the leading axis of its array leaves)."""
    return jax.tree_util.tree_leaves(eqx.filter(ensemble, eqx.is_array))[0].shape[0]


def member(ensemble, index: int):
    """Member `index` of a stacked ensemble as a plain module."""
    return jax.tree_util.tree_map(lambda x: x[index] if eqx.is_array(x) else x, ensemble)


def ensemble_predict(ensemble, inputs: Float[Array, "N d"], method: str | None = None) -> Float[Array, "M N o"]:
    """Every member's prediction on a batch: (members, samples, outputs). `method` names another method to call."""

    def one(model):
        fn = model if method is None else getattr(model, method)
        return jax.vmap(fn)(inputs)

    return eqx.filter_vmap(one)(ensemble)


def bootstrap_subsets(n_samples: int, n_members: int, fraction: float = 0.8, *,
                      key: jax.Array) -> Int[Array, "M n_sub"]:
    """Per-member subsets: each member shuffles the indices with its own key and keeps the first `fraction`.

    This is subsampling without replacement, as in the MF-RPN code; the rest are the member's out-of-bag samples.
    """
    if not 0 < fraction <= 1:
        raise ConfigError(f"bootstrap_subsets: fraction must lie in (0, 1], got {fraction}")
    n_keep = max(1, int(fraction * n_samples))
    keys = jax.random.split(key, n_members)
    return jax.vmap(lambda k: jax.random.permutation(k, n_samples)[:n_keep])(keys)


def out_of_bag_mask(subsets: Int[Array, "M n_sub"], n_samples: int) -> Float[Array, "M N"]:
    """1 where a sample is NOT in the member's subset, 0 where it is."""
    inside = jax.vmap(lambda s: jnp.zeros(n_samples).at[s].set(1.0))(subsets)
    return 1.0 - inside


class BootstrapSampler(AbstractSampler):
    """Minibatches for every member from its own subset of each data source, drawn on device.

    `sources` maps a name to (inputs (N, d), targets (N, o), subsets (M, n_sub)); a call returns, per name,
    (inputs (M, B, d), targets (M, B, o)) with B = `batch_size` indices drawn uniformly from each member's subset.
    """

    sources: dict
    batch_size: int = eqx.field(static=True)

    def __check_init__(self):
        members = {name: src[2].shape[0] for name, src in self.sources.items()}
        if len(set(members.values())) != 1:
            raise ConfigError(f"BootstrapSampler: every source needs the same number of member subsets, got {members}")
        for name, (inputs, targets, _) in self.sources.items():
            if inputs.shape[0] != targets.shape[0]:
                raise ConfigError(f"BootstrapSampler: source {name!r} has {inputs.shape[0]} inputs but "
                                  f"{targets.shape[0]} targets; they must pair up sample by sample")

    def __call__(self, key, step):
        batch = {}
        for offset, (name, (inputs, targets, subsets)) in enumerate(sorted(self.sources.items())):
            draw_key = jax.random.fold_in(jax.random.fold_in(key, step), offset)
            position = jax.random.randint(draw_key, (subsets.shape[0], self.batch_size), 0, subsets.shape[1])
            index = jnp.take_along_axis(subsets, position, axis=1)
            batch[name] = (inputs[index], targets[index])
        return batch


def ensemble_loss(member_loss: Callable) -> Callable:
    """Turn `member_loss(model, batch, key) -> (scalar, metrics)` into a loss over a stacked ensemble.

    The ensemble loss is the SUM of the member losses, so each member's gradient is its own loss's gradient;
    with an elementwise optimizer (Adam) the members train exactly as if trained one by one. Metrics are averaged.
    """

    def loss(ensemble, batch, key):
        values, metrics = eqx.filter_vmap(member_loss, in_axes=(eqx.if_array(0), 0, None))(ensemble, batch, key)
        return jnp.sum(values), {name: jnp.mean(v) for name, v in metrics.items()}

    return loss


def mse_member_loss(model, batch, key):
    """Mean squared error of one member on its minibatch `batch["data"] = (inputs (B, d), targets (B, o))`."""
    inputs, targets = batch["data"]
    mse = jnp.mean((jax.vmap(model)(inputs) - targets) ** 2)
    return mse, {"mse": mse}
