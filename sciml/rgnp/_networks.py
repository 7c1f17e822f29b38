"""The two networks of a random-grid neural process and the problem they are trained on.

- `ForwardNetwork` (the paper's alpha net): PDE parameters z and a point x -> a Gaussian over u(x) whose mean, std and
  low-rank factor row come from one MLP of ``[trainable Fourier features of x, z]``; the Dirichlet data are built in
  as ``u = g(x) + d(x) * (...)`` with d vanishing on the boundary.
- `InverseNetwork` (the beta net): field values at arbitrary points -> a Gaussian over z, through a `GICNet`.
- `RGNP`: both.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from sciml._errors import ConfigError
from sciml.nn import MLP, GICNet, TrainableFourierFeatures
from sciml.pde import Box
from sciml.pinn import HardConstraint
from sciml.rgnp._gaussian import AbstractCovariance, DiagonalCovariance, Gaussian

_DIAGONAL = DiagonalCovariance()


class ParametricProblem(eqx.Module):
    """A family of PDEs on `domain` indexed by parameters z with a uniform prior on the box `parameters`.

    Args:
        domain: the spatial (or space-time) box; its coordinate names name the residual's derivatives.
        parameters: the box of z (its uniform distribution is the prior).
        residual: ``residual(u: sciml.pde.Field, z: (dz,)) -> () or (m,)``, zero for the solution.
    """

    domain: Box
    parameters: Box
    residual: Callable = eqx.field(static=True)


def _normalise(box: Box, value: Float[Array, " d"]) -> Float[Array, " d"]:
    if value.shape != (box.ndim,):
        raise ConfigError(f"expected a point of the box {box.names} of shape ({box.ndim},), got shape {value.shape}")
    return box.normalise(value)


class ForwardNetwork(eqx.Module):
    """``(z, x) -> u(x) ~ N(g(x) + d(x) mu, d(x)^2 (s^2 + |phi|^2))`` with u's values at several points correlated
    through the factor rows phi (zero for `DiagonalCovariance`).

    Args:
        domain: the box of x; parameters: the box of z (inputs are scaled to [-1, 1]).
        constraint: the `HardConstraint` (g, d) meeting the Dirichlet data exactly (d = 0 on the boundary).
        covariance: `DiagonalCovariance` or `LowRankCovariance`.
        width, depth: the MLP's hidden layers (swish).
        n_frequencies: trainable Fourier frequencies per axis of x (log-spaced over `frequency_range` at the start).
        initial_std: the spread of u's draws (before d(x)) at the start: the output layer's std bias is set to give it
            and its factor weights are scaled by it, so training starts near a deterministic field instead of in the
            wide, residual-dominated regime where the nonlinear residual pulls the mean to zero.
        key: PRNG key.
    """

    domain: Box
    parameters: Box
    constraint: HardConstraint
    covariance: AbstractCovariance
    embedding: TrainableFourierFeatures
    net: MLP

    def __init__(self, domain: Box, parameters: Box, constraint: HardConstraint,
                 covariance: AbstractCovariance = _DIAGONAL, width: int = 64, depth: int = 4, n_frequencies: int = 32,
                 frequency_range: tuple[float, float] = (1e-3, 2.0), initial_std: float = 1e-2, *, key: jax.Array):
        if not initial_std > covariance.min_std:
            raise ConfigError(f"ForwardNetwork: initial_std must exceed the covariance's min_std={covariance.min_std}, "
                              f"got {initial_std}")
        self.domain, self.parameters, self.constraint, self.covariance = domain, parameters, constraint, covariance
        self.embedding = TrainableFourierFeatures(domain.ndim, n_frequencies, *frequency_range)
        net = MLP(self.embedding.out_size + parameters.ndim, covariance.row_size, width, depth, jax.nn.swish, key=key)
        last = net.layers[-1]
        std_bias = float(np.log(np.expm1(initial_std - covariance.min_std)))  # softplus^-1
        weight = last.weight.at[2:].multiply(initial_std)
        self.net = eqx.tree_at(lambda m: (m.layers[-1].weight, m.layers[-1].bias), net,
                               (weight, last.bias.at[1].set(std_bias)))

    def raw(self, z: Float[Array, " dz"], x: Float[Array, " d"]) -> Float[Array, " r"]:
        """The network's raw row at one point, before the boundary transform: ``(mu, raw std, phi_1..phi_k)``."""
        features = jnp.concatenate([self.embedding(_normalise(self.domain, x)), _normalise(self.parameters, z)])
        return self.net(features)

    def field(self, z: Float[Array, " dz"], x: Float[Array, " d"], point_noise: Float[Array, ""],
              shared_noise: Float[Array, " k"]) -> Float[Array, ""]:
        """One draw of u at x: ``g + d (mu + s point_noise + phi . shared_noise)``; as a function of x (the noises
        held fixed) it is differentiable, so a residual can be taken of it."""
        row = self.raw(z, x)
        draw = row[0] + self.covariance.std(row[1]) * point_noise + row[2:] @ shared_noise
        return self.constraint(x, draw)

    def antithetic_fields(self, z: Float[Array, " dz"], x: Float[Array, " d"], point_noise: Float[Array, ""],
                          shared_noise: Float[Array, " k"]) -> Float[Array, " 3"]:
        """``(mean of u at x, the draw of `field`, its mirror draw with the noises negated)`` from one evaluation of
        the network."""
        row = self.raw(z, x)
        deviation = self.covariance.std(row[1]) * point_noise + row[2:] @ shared_noise
        return jnp.stack([self.constraint(x, row[0]), self.constraint(x, row[0] + deviation),
                          self.constraint(x, row[0] - deviation)])

    def mean(self, z: Float[Array, " dz"], x: Float[Array, " d"]) -> Float[Array, ""]:
        """The mean of u at x."""
        return self.constraint(x, self.raw(z, x)[0])

    def distribution(self, z: Float[Array, " dz"], points: Float[Array, "n d"]) -> Gaussian:
        """The joint Gaussian of u at `points`."""
        return self.distribution_of_rows(points, jax.vmap(lambda x: self.raw(z, x))(points))

    def distribution_of_rows(self, points: Float[Array, "n d"], rows: Float[Array, "n r"]) -> Gaussian:
        """The joint Gaussian of u at `points` from the network's raw rows there (`raw`, computed by the caller)."""
        inner = self.covariance.gaussian(rows)
        offset = jax.vmap(lambda x: self.constraint(x, jnp.zeros(())))(points)
        scale = jax.vmap(lambda x: self.constraint(x, jnp.ones(())))(points) - offset
        return Gaussian(offset + scale * inner.mean, jnp.square(scale) * inner.variance + 1e-12,
                        scale[:, None] * inner.factor)


class InverseNetwork(eqx.Module):
    """Values of u at arbitrary points (a mask may drop some) -> a Gaussian over z, through a `GICNet`.

    The GICNet's outputs are the raw rows of the covariance strategy in z's [-1, 1] scaling; `__call__` maps them back
    to z's units.

    Args:
        domain: the box of x; parameters: the box of z.
        covariance: `DiagonalCovariance` or `LowRankCovariance` over z.
        query_size: side information the trunk takes (e.g. the noise level), 0 for none.
        key: PRNG key; the other keywords go to `GICNet` (channels, resolution, conv_channels, conv_depth, basis,
            lengthscale_range).
    """

    parameters: Box
    covariance: AbstractCovariance
    encoder: GICNet

    def __init__(self, domain: Box, parameters: Box, covariance: AbstractCovariance = _DIAGONAL,
                 query_size: int = 0, *, key: jax.Array, **gicnet):
        self.parameters, self.covariance = parameters, covariance
        self.encoder = GICNet(domain.lower, domain.upper, parameters.ndim * covariance.row_size, 1,
                              query_size=query_size, key=key, **gicnet)

    def __call__(self, points: Float[Array, "n d"], values: Float[Array, " n"], mask: Bool[Array, " n"] | None = None,
                 query: Float[Array, " q"] | None = None) -> Gaussian:
        rows = self.encoder(points, values[:, None], mask, query).reshape(self.parameters.ndim, -1)
        scaled = self.covariance.gaussian(rows)
        half = jnp.asarray(self.parameters.half_widths, scaled.mean.dtype)
        centre = jnp.asarray(self.parameters.lower, scaled.mean.dtype) + half
        return Gaussian(centre + half * scaled.mean, jnp.square(half) * scaled.variance, half[:, None] * scaled.factor)


class RGNP(eqx.Module):
    """A random-grid neural process: the forward network (u given z) and the inverse network (z given readings of u).
    """

    forward: ForwardNetwork
    inverse: InverseNetwork
