"""DeepONet (Lu et al. 2021): an operator network ``G(f)(y) = sum_k b_k(f) t_k(y) + b_0``.

The branch net reads the input function `f` at `m` fixed sensors, the trunk net reads the query point `y`; their `p`
features meet in a dot product. `basis` exposes the trunk's features alone, so a physics-informed loss can take the
derivatives of all output functions at once from the derivatives of the `p` basis functions (`sciml.pinn.
PhysicsInformedDeepONetLoss`).
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml.nn._mlp import MLP, check_sizes


class DeepONet(eqx.Module):
    """The unstacked DeepONet: branch MLP ``(m,) -> (p,)``, trunk MLP ``(d,) -> (p,)`` followed by the activation
    (the trunk's last layer is nonlinear, as in Lu et al.), and a trainable scalar bias.

    Args:
        n_sensors: m, the input function's values the branch reads.
        coord_size: d, the query point's coordinates.
        features: p, the basis functions shared by branch and trunk.
        width, depth: hidden units and hidden layers of both nets.
        activation: elementwise nonlinearity (default tanh).
        key: PRNG key (keyword-only).
    """

    branch: MLP
    trunk: MLP
    bias: Float[Array, ""]
    activation: Callable = eqx.field(static=True)

    def __init__(self, n_sensors: int, coord_size: int, features: int = 64, width: int = 64, depth: int = 3,
                 activation: Callable = jnp.tanh, *, key: jax.Array):
        check_sizes("DeepONet", n_sensors=n_sensors, coord_size=coord_size, features=features, width=width,
                    depth=depth)
        branch_key, trunk_key = jax.random.split(key)
        self.branch = MLP(n_sensors, features, width, depth, activation, key=branch_key)
        self.trunk = MLP(coord_size, features, width, depth, activation, key=trunk_key)
        self.bias = jnp.zeros(())
        self.activation = activation

    def coefficients(self, sensors: Float[Array, " m"]) -> Float[Array, " p"]:
        """The branch's coefficients of the basis for one input function."""
        return self.branch(sensors)

    def basis(self, point: Float[Array, " d"]) -> Float[Array, " p"]:
        """The trunk's p basis functions at one query point."""
        return self.activation(self.trunk(point))

    def __call__(self, sensors: Float[Array, " m"], point: Float[Array, " d"]) -> Float[Array, ""]:
        return self.coefficients(sensors) @ self.basis(point) + self.bias
