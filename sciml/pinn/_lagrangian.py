"""Lagrangian PINN (Mojgani, Balajewicz & Hassanzadeh, CMAME 2023) for 1D convection-diffusion.

For ``u_t + a(u) u_x = nu u_xx`` the network is indexed by characteristic labels (t, x0): one branch gives the
position X(t, x0) of the characteristic that left x0 at t0, the other the state U(t, x0) carried along it:

    X_t = a(U),        U_t = nu U_XX,       X(t0, x0) = x0,   U(t0, x0) = u0(x0).

Both functions are nearly linear in t for transport, so their difficulty does not grow with the speed (where an
Eulerian PINN fails). The second derivative is with respect to the physical position: with J = X_x0,
``U_XX = (U_x0x0 J - U_x0 J_x0) / J^3`` (the released LPINN code uses U_x0x0, exact only when J = 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml._errors import ConfigError
from sciml.nn import MLP
from sciml.pde import Box, UniformPoints, derivative
from sciml.train import AbstractSampler


class LagrangianPINN(eqx.Module):
    """Two branches over characteristic labels (t, x0): ``model(p) = (X, U)``, shape (2,).

    Initial conditions are built in: ``X = x0 + (t - t0) speed N_X`` and ``U = u0(x0) + (t - t0) N_U``.

    Args:
        domain: the Eulerian domain, ``time_space(t0, t1, interval(a, b, "x"))``.
        initial: u0, a function of x0 (scalar in, scalar out; traceable by JAX).
        boundary: ``"periodic"`` (labels x0 in [a, b], fed to the branches as cos/sin so the model is periodic) or
            ``"inflow"`` (left inflow at x = a with speed `inflow_speed` > 0: characteristics that enter at time tau
            get the virtual label ``x0 = a - inflow_speed (tau - t0)``, so labels span
            ``[a - inflow_speed (t1 - t0), b]`` and carry ``U(t0, x0) = inflow(tau)``).
        speed: the scale of the characteristic speed (e.g. beta, or max|u0|), so N_X is O(1).
        characteristic_width, characteristic_depth: size of the X branch (the low-rank one: shallow).
        state_width, state_depth: size of the U branch.
        inflow: boundary value g(t) at x = a (for ``boundary="inflow"``).
        inflow_speed: characteristic speed at the inflow boundary.
        key: PRNG key.
    """

    domain: Box
    characteristic: MLP
    state: MLP
    initial: Callable = eqx.field(static=True)
    boundary: str = eqx.field(static=True)
    speed: float = eqx.field(static=True)
    inflow: Callable | None = eqx.field(static=True)
    inflow_speed: float = eqx.field(static=True)

    def __init__(
        self,
        domain: Box,
        initial: Callable,
        boundary: Literal["periodic", "inflow"] = "periodic",
        speed: float = 1.0,
        characteristic_width: int = 50,
        characteristic_depth: int = 2,
        state_width: int = 50,
        state_depth: int = 4,
        inflow: Callable | None = None,
        inflow_speed: float = 0.0,
        activation: Callable = jnp.tanh,
        *,
        key: jax.Array,
    ):
        if domain.names != ("t", "x"):
            raise ConfigError(
                f"LagrangianPINN needs a (t, x) domain, got coordinates {domain.names}; "
                "build it with time_space(t0, t1, interval(a, b, 'x'))"
            )
        if boundary not in ("periodic", "inflow"):
            raise ConfigError(f"LagrangianPINN: boundary must be 'periodic' or 'inflow', got {boundary!r}")
        if boundary == "inflow" and (inflow is None or not inflow_speed > 0):
            raise ConfigError(
                "LagrangianPINN(boundary='inflow') needs the inflow value g(t) and inflow_speed > 0, got "
                f"inflow={inflow!r}, inflow_speed={inflow_speed}"
            )
        if not speed > 0:
            raise ConfigError(f"LagrangianPINN: speed (the scale of the characteristic speed) must be > 0, got {speed}")
        x_key, u_key = jax.random.split(key)
        self.domain = domain
        n_features = 3 if boundary == "periodic" else 2
        self.characteristic = MLP(n_features, "scalar", characteristic_width, characteristic_depth, activation,
                                  key=x_key)
        self.state = MLP(n_features, "scalar", state_width, state_depth, activation, key=u_key)
        self.initial = initial
        self.boundary = boundary
        self.speed = float(speed)
        self.inflow = inflow
        self.inflow_speed = float(inflow_speed)

    @property
    def labels(self) -> Box:
        """The label domain (t, x0) on which the residuals are enforced."""
        (t0, a), (t1, b) = self.domain.lower, self.domain.upper
        if self.boundary == "inflow":
            a = a - self.inflow_speed * (t1 - t0)
        return Box((t0, a), (t1, b), ("t", "x0"))

    def _features(self, t, x0):
        (t0, a), (t1, b) = self.labels.lower, self.labels.upper
        tau = 2 * (t - t0) / (t1 - t0) - 1
        if self.boundary == "periodic":
            phase = 2 * jnp.pi * (x0 - a) / (b - a)
            return jnp.stack([jnp.cos(phase), jnp.sin(phase), tau])
        return jnp.stack([2 * (x0 - a) / (b - a) - 1, tau])

    def initial_state(self, x0: Float[Array, ""]) -> Float[Array, ""]:
        """U(t0, x0): u0 on the physical interval, the inflow value for virtual labels left of it."""
        if self.boundary == "periodic":
            return self.initial(x0)
        a, t0 = self.domain.lower[1], self.domain.lower[0]
        entry_time = t0 + (a - x0) / self.inflow_speed
        return jnp.where(x0 >= a, self.initial(jnp.maximum(x0, a)), self.inflow(jnp.maximum(entry_time, t0)))

    def __call__(self, p: Float[Array, " 2"]) -> Float[Array, " 2"]:
        t, x0 = p[0], p[1]
        features = self._features(t, x0)
        elapsed = t - self.domain.lower[0]
        position = x0 + elapsed * self.speed * self.characteristic(features)
        value = self.initial_state(x0) + elapsed * self.state(features)
        return jnp.stack([position, value])

    def eulerian(self, t: Float[Array, " nt"], x: Float[Array, " nx"], n_labels: int = 2048) -> Float[Array, "nt nx"]:
        """u on the Eulerian grid t x x: at each time, the scattered (X, U) of `n_labels` labels, interpolated.

        Periodic domains interpolate with period b - a; with inflow, the labels whose X lies in [a, b] are used.
        """
        (_, a), (_, b) = self.labels.lower, self.labels.upper
        x0 = jnp.linspace(a, b, n_labels, endpoint=self.boundary != "periodic", dtype=x.dtype)
        left, right = self.domain.lower[1], self.domain.upper[1]

        def at_time(time):
            points = jnp.stack([jnp.full_like(x0, time), x0], axis=1)
            position, value = jax.vmap(self)(points).T
            if self.boundary == "periodic":
                return jnp.interp(x, position, value, period=right - left)
            order = jnp.argsort(position)
            return jnp.interp(x, position[order], value[order])

        return jax.lax.map(at_time, t)


class LagrangianLoss(eqx.Module):
    """``w_x mean(R_x^2) + w_u mean(R_u^2)`` with ``R_x = X_t - a(U)`` and ``R_u = U_t - nu U_XX``.

    With a `jacobian_floor` J_min > 0 the diffusion divides by max(J, J_min) and a monotonicity term
    ``w_f mean(relu(J_min - J)^2)`` keeps characteristics from crossing (shocks).

    Args:
        velocity: the characteristic speed a(U) (scalar to scalar), e.g. ``lambda u: beta`` or ``lambda u: u``.
        nu: diffusivity.
        diffusion: ``"physical"`` differentiates with respect to X through the Jacobian (correct);
            ``"label"`` uses U_x0x0 (the shortcut of the released code; exact only while X_x0 = 1).
        characteristic_weight, state_weight: the term weights (gamma_x, gamma_u).
        jacobian_floor: J_min (0, the default, leaves the guard and the `fold` term out).
        fold_weight: weight w_f of the monotonicity term `fold`.

    Called as ``loss(model, points, key)`` with label points (n, 2) in `model.labels`; returns
    ``(total, {"characteristic": ..., "state": ..., ["fold": ...,] "min_jacobian": ...})``. `min_jacobian` <= 0 means
    characteristics crossed (X stopped being monotone in x0).
    """

    velocity: Callable = eqx.field(static=True)
    nu: float = eqx.field(static=True)
    diffusion: str = eqx.field(static=True)
    characteristic_weight: float = eqx.field(static=True)
    state_weight: float = eqx.field(static=True)
    jacobian_floor: float = eqx.field(static=True)
    fold_weight: float = eqx.field(static=True)

    def __init__(self, velocity: Callable, nu: float = 0.0, diffusion: Literal["physical", "label"] = "physical",
                 characteristic_weight: float = 1.0, state_weight: float = 1.0, jacobian_floor: float = 0.0,
                 fold_weight: float = 1.0):
        if diffusion not in ("physical", "label"):
            raise ConfigError(f"LagrangianLoss: diffusion must be 'physical' or 'label', got {diffusion!r}")
        if nu < 0:
            raise ConfigError(f"LagrangianLoss: expected nu >= 0, got {nu}")
        if not 0 <= jacobian_floor < 1:
            raise ConfigError(f"LagrangianLoss: expected 0 <= jacobian_floor < 1 (J = 1 at t = 0), got "
                              f"{jacobian_floor}")
        self.velocity = velocity
        self.nu = float(nu)
        self.diffusion = diffusion
        self.characteristic_weight = float(characteristic_weight)
        self.state_weight = float(state_weight)
        self.jacobian_floor = float(jacobian_floor)
        self.fold_weight = float(fold_weight)

    def residuals(self, model: Callable, p: Float[Array, " 2"]) -> tuple[Array, Array, Array]:
        """(R_x, R_u, J) at one label point of `model` (a `LagrangianPINN`, or any ``(t, x0) -> (X, U)``)."""
        value = model(p)
        d_t = derivative(model, p, (0,))
        speed = self.velocity(value[1])
        if jnp.shape(speed) != ():
            raise ConfigError(
                f"LagrangianLoss: velocity(u) must return a scalar per point, got shape {jnp.shape(speed)}"
            )
        r_x = d_t[0] - speed
        if self.nu == 0.0:
            return r_x, d_t[1], jnp.ones_like(r_x)
        d_x = derivative(model, p, (1,))
        d_xx = derivative(model, p, (1, 1))
        jacobian = d_x[0]
        if self.diffusion == "physical":
            safe = jacobian if self.jacobian_floor == 0.0 else jnp.maximum(jacobian, self.jacobian_floor)
            u_xx = (d_xx[1] * safe - d_x[1] * d_xx[0]) / safe**3
        else:
            u_xx = d_xx[1]
        return r_x, d_t[1] - self.nu * u_xx, jacobian

    def __call__(self, model, points: Float[Array, "n d"], key=None):  # d = 2, checked below
        if points.ndim != 2 or points.shape[1] != 2:
            raise ConfigError(f"LagrangianLoss expects label points of shape (n, 2) as (t, x0), got {points.shape}")
        r_x, r_u, jacobian = jax.vmap(lambda p: self.residuals(model, p))(points)
        terms = {"characteristic": jnp.mean(r_x**2), "state": jnp.mean(r_u**2)}
        total = self.characteristic_weight * terms["characteristic"] + self.state_weight * terms["state"]
        if self.jacobian_floor > 0.0:
            terms["fold"] = jnp.mean(jax.nn.relu(self.jacobian_floor - jacobian) ** 2)
            total = total + self.fold_weight * terms["fold"]
        return total, {**terms, "min_jacobian": jnp.min(jacobian)}


def label_sampler(model: LagrangianPINN, n: int, every: int = 1) -> AbstractSampler:
    """Uniform collocation points over the model's label domain, redrawn every `every` steps."""
    return UniformPoints(model.labels, n, every)
