"""PirateNet (Wang, Sankaran, Wang & Perdikaris, JMLR 2024): gated residual blocks that start as the identity.

With every block's skip weight alpha at 0 the network is a linear readout of its input embedding, so training
starts from a shallow model and deepens it as the alphas grow; the readout can be initialised by least squares on
data (the initial condition, `least_squares_readout`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml._errors import ConfigError, DataError
from sciml.nn._embeddings import FourierFeatures
from sciml.nn._factorized import FactorizedLinear
from sciml.nn._init import glorot_linear
from sciml.nn._mlp import check_sizes


class PirateBlock(eqx.Module):
    """One residual block: ``f = s(W_1 x + b_1)``, ``z_1 = f U + (1 - f) V``, ``g = s(W_2 z_1 + b_2)``,
    ``z_2 = g U + (1 - g) V``, ``h = s(W_3 z_2 + b_3)``, output ``alpha h + (1 - alpha) x`` (alpha trained,
    starting at 0).

    Args:
        width: features in and out.
        layer: builds each dense layer as ``layer(width, width, key=key)``.
        key: PRNG key.
    """

    dense: tuple[eqx.Module, eqx.Module, eqx.Module]
    alpha: Float[Array, ""]

    def __init__(self, width: int, layer: Callable[..., eqx.Module] = glorot_linear, *, key: jax.Array):
        self.dense = tuple(layer(width, width, key=k) for k in jax.random.split(key, 3))
        self.alpha = jnp.zeros(())

    def __call__(self, x: Float[Array, " width"], u: Float[Array, " width"], v: Float[Array, " width"],
                 activation: Callable) -> Float[Array, " width"]:
        first, second, third = self.dense
        f = activation(first(x))
        g = activation(second(f * u + (1 - f) * v))
        h = activation(third(g * u + (1 - g) * v))
        return self.alpha * h + (1 - self.alpha) * x


class PirateNet(eqx.Module):
    """``phi = embedding(x)``, gates ``U = s(W_u phi + b_u)``, ``V = s(W_v phi + b_v)``, ``blocks`` `PirateBlock` s
    from ``h_0 = phi``, output ``W_o h_L + b_o``.

    With all alphas 0 (as initialised) the output is the linear readout ``W_o phi + b_o`` of the embedding. The
    embedding must give `width` features (the blocks add to it); the default is random Fourier features
    ``[cos(2 pi B x), sin(2 pi B x)]`` with ``width / 2`` frozen rows of B ~ N(0, fourier_scale^2).

    Args:
        in_size: input features.
        out_size: output features, or ``"scalar"`` for a 0-d output.
        width: hidden units (even, for the default embedding).
        blocks: residual blocks (each three dense layers).
        fourier_scale: standard deviation of B in the default embedding.
        embedding: a module mapping ``(in_size,)`` to ``(width,)`` features in place of the default.
        activation: elementwise nonlinearity s (default tanh).
        layer: builds each dense layer as ``layer(in_size, out_size, key=key)``: `glorot_linear` or, for random
            weight factorization as in the paper, ``functools.partial(FactorizedLinear, mean=1.0, std=0.1)``.
        key: PRNG key (keyword-only).
    """

    embedding: eqx.Module
    gates: tuple[eqx.Module, eqx.Module]
    blocks: tuple[PirateBlock, ...]
    readout: eqx.Module
    activation: Callable = eqx.field(static=True)
    scalar_output: bool = eqx.field(static=True)

    def __init__(self, in_size: int, out_size: int | Literal["scalar"], width: int = 256, blocks: int = 3,
                 fourier_scale: float = 1.0, embedding: eqx.Module | None = None, activation: Callable = jnp.tanh,
                 layer: Callable[..., eqx.Module] = glorot_linear, *, key: jax.Array):
        check_sizes("PirateNet", in_size=in_size, out_size=out_size, width=width, blocks=blocks)
        embed_key, u_key, v_key, out_key, *block_keys = jax.random.split(key, 4 + blocks)
        if embedding is None:
            if width % 2:
                raise ConfigError(f"PirateNet: the default Fourier embedding needs an even width, got width={width}; "
                                  f"choose width={width + 1} or pass an embedding with {width} outputs")
            embedding = FourierFeatures(in_size, width // 2, fourier_scale, key=embed_key)
        features = jax.eval_shape(embedding, jax.ShapeDtypeStruct((in_size,), jnp.float32)).shape
        if features != (width,):
            raise ConfigError(f"PirateNet: the embedding must map ({in_size},) to ({width},) features (the width), "
                              f"got {features}; give it {width} outputs or set width={features[-1]}")
        self.embedding = embedding
        self.gates = (layer(width, width, key=u_key), layer(width, width, key=v_key))
        self.blocks = tuple(PirateBlock(width, layer, key=k) for k in block_keys)
        self.readout = layer(width, 1 if out_size == "scalar" else out_size, key=out_key)
        self.activation = activation
        self.scalar_output = out_size == "scalar"

    def features(self, x: Float[Array, " in_size"]) -> Float[Array, " width"]:
        """The last block's output h_L, the readout's input."""
        phi = self.embedding(x)
        u, v = (self.activation(gate(phi)) for gate in self.gates)
        h = phi
        for block in self.blocks:
            h = block(h, u, v, self.activation)
        return h

    def __call__(self, x: Float[Array, " in_size"]) -> Float[Array, " out_size"] | Float[Array, ""]:
        y = self.readout(self.features(x))
        return y[0] if self.scalar_output else y


def least_squares_readout(net: PirateNet, inputs: Float[Array, "n in_size"], targets: Float[Array, " m *out"],
                          ridge: float = 0.0) -> PirateNet:
    """`net` with its readout ``(W_o, b_o)`` the least-squares fit of `targets` from the features at `inputs`.

    The paper's physics-informed initialisation: with all alphas at 0 the features are the embedding, so the
    network starts as the best linear fit of the data it is given (e.g. the initial condition). Works at any alpha
    (it fits the last features) and for a `FactorizedLinear` readout (its scales kept, its direction refitted).

    Args:
        net: the network.
        inputs: n points ``(n, in_size)``.
        targets: the values there, ``(n,)`` for a scalar net or ``(n, out)``.
        ridge: Tikhonov weight lambda: minimise ``|W h + b - y|^2 + lambda n |W|^2`` (keeps W small where the
            features at `inputs` are nearly dependent, e.g. all at one time; 0: plain least squares).
    """
    if inputs.ndim != 2 or targets.ndim not in (1, 2) or targets.shape[:1] != inputs.shape[:1]:
        raise DataError(f"least_squares_readout: expected inputs (n, in_size) and targets (n,) or (n, out) with the "
                        f"same n, got shapes {inputs.shape} and {targets.shape}")
    if not ridge >= 0:
        raise ConfigError(f"least_squares_readout: ridge must be >= 0, got {ridge}")
    features = jax.vmap(net.features)(inputs)
    n, width = features.shape
    targets = targets.reshape(n, -1)
    design = jnp.concatenate([features, jnp.ones((n, 1), features.dtype)], axis=1)
    if ridge > 0:  # rows sqrt(lambda n) I below the features (the bias is not penalised)
        penalty = jnp.sqrt(ridge * n) * jnp.eye(width, width + 1, dtype=features.dtype)
        design = jnp.concatenate([design, penalty])
        targets = jnp.concatenate([targets, jnp.zeros((width, targets.shape[1]), targets.dtype)])
    solution = jnp.linalg.lstsq(design, targets)[0]
    weight, bias = solution[:-1].T, solution[-1]
    if isinstance(net.readout, FactorizedLinear):
        direction = weight / jnp.exp(net.readout.log_scale)[:, None]
        return eqx.tree_at(lambda n: (n.readout.direction, n.readout.bias), net, (direction, bias))
    return eqx.tree_at(lambda n: (n.readout.weight, n.readout.bias), net, (weight, bias))
