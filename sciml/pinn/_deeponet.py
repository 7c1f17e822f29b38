"""Physics-informed DeepONet training (Wang, Wang & Perdikaris 2021): a DeepONet learns a solution operator from the
PDE residual of every input function of a batch, with or without solution data.

The derivatives of all B output functions at the n collocation points come from the p trunk basis functions'
derivatives, taken once for the n points (the batched forward pass of `sciml.pde._taylor`, nested forward mode where
it does not apply) and contracted with each function's branch coefficients: ``d s_i(y) = sum_k b_ik d t_k(y)``. This
costs one trunk pass over the points, not one per function and point.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml._errors import ConfigError
from sciml.nn import DeepONet
from sciml.pde._derivatives import Field, derivative
from sciml.pde._taylor import taylor_derivatives

Key = tuple[int, ...]


def operator_derivatives(model: DeepONet, sensors: Float[Array, "b m"], points: Float[Array, "n d"],
                         keys: Sequence[Key]) -> dict[Key, Float[Array, "b n"]]:
    """``{key: (b, n)}``: the derivatives (orders 0-2, keys as in `Field`) of the b output functions at n points."""
    keys = sorted({(), *keys}, key=len)
    basis = taylor_derivatives(model.basis, points, keys)
    if basis is None:
        basis = {key: jax.vmap(lambda p, key=key: derivative(model.basis, p, key))(points) for key in keys}
    coefficients = jax.vmap(model.coefficients)(sensors)  # (b, p)
    out = {key: coefficients @ basis[key].T for key in keys}
    out[()] = out[()] + model.bias
    return out


class PhysicsInformedDeepONetLoss(eqx.Module):
    """``mean residual^2 + sum_k w_k mean (s(y) - value)^2`` over the functions and points of a batch.

    Args:
        residual: ``residual(u: Field, source) -> scalar``, `u` one output function at one point (``u.value``,
            ``u.x``, ``u.xx`` ...) and `source` the batch's ``"source"`` value there (the input function, a forcing).
        names: the query point's coordinate names, e.g. ``("x",)`` or ``("t", "x")``.
        weights: weight of each constraint of the batch (missing ones weigh 1).

    A batch is ``{"sensors": (b, m), "residual_points": (n, d), "source": (b, n), "constraints": {name:
    {"points": (k, d), "values": (b, k)}}}`` (points shared by the functions). Returns ``(total, {"residual": ...,
    name: ...})``.
    """

    residual: Callable = eqx.field(static=True)
    names: tuple[str, ...] = eqx.field(static=True)
    weights: dict[str, float] = eqx.field(static=True, default_factory=dict)

    def __init__(self, residual: Callable, names: Sequence[str], weights: dict[str, float] | None = None):
        self.residual = residual
        self.names = tuple(names)
        self.weights = dict(weights or {})

    def requested(self, points: Float[Array, "n d"]) -> tuple[Key, ...]:
        """The derivative keys the residual reads (a trial trace on a stand-in field)."""
        if points.shape[-1] != len(self.names):
            raise ConfigError(f"residual points have {points.shape[-1]} coordinates, the loss names {self.names}; "
                              "give one name per coordinate")
        field = Field(lambda p: jnp.sum(jnp.sin(p)), points[0], self.names)
        shape = jax.eval_shape(lambda: self.residual(field, jnp.zeros((), points.dtype))).shape
        if shape not in ((), (1,)):
            raise ConfigError(f"the residual must return a scalar per point, got shape {shape}")
        return tuple(sorted(field.requested))

    def pointwise_residual(self, model: DeepONet, sensors: Float[Array, "b m"], points: Float[Array, "n d"],
                           source: Float[Array, "b n"]) -> Float[Array, "b n"]:
        """The residual of each function at each point."""
        keys = self.requested(points)
        known = operator_derivatives(model, sensors, points, keys)

        def one(s, p, k, f):
            return jnp.reshape(self.residual(Field(lambda q: model(s, q), p, self.names, known=k), f), ())

        per_point = jax.vmap(one, in_axes=(None, 0, 0, 0))
        return jax.vmap(per_point, in_axes=(0, None, 0, 0))(sensors, points, known, source)

    def __call__(self, model: DeepONet, batch: dict, key: jax.Array):
        sensors = batch["sensors"]
        terms = {"residual": jnp.mean(jnp.square(
            self.pointwise_residual(model, sensors, batch["residual_points"], batch["source"])))}
        for name, constraint in batch.get("constraints", {}).items():
            values = jax.vmap(lambda s, c=constraint: jax.vmap(lambda p: model(s, p))(c["points"]))(sensors)
            terms[name] = jnp.mean(jnp.square(values - constraint["values"]))
        total = sum(self.weights.get(name, 1.0) * value for name, value in terms.items())
        return total, terms
