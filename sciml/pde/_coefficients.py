"""Trainable PDE coefficients for inverse problems: a `Coefficient` (one trained number through a parametrisation
that keeps it positive or inside bounds) and `WithCoefficients`, a field model with its unknown coefficients beside
it in one pytree.

A `Problem` whose residual takes two arguments, ``residual(u, p)``, reads ``p = {name: value}`` from the trained
`WithCoefficients`; the derivatives of the field still come from the batched forward pass of `sciml.pde._taylor`
(the coefficients enter the residual, not the field's program), so a forward problem (a one-argument residual and a
plain model) runs exactly as before.

Example (1D heat equation with unknown diffusivity):

    >>> model = WithCoefficients(pinn, {"kappa": Coefficient(0.05, LogPositive())})
    >>> problem = Problem(domain, lambda u, p: u.t - p["kappa"] * u.xx, interior, {"data": DataConstraint(...)})
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from sciml._errors import ConfigError


class AbstractParametrisation(eqx.Module):
    """How a coefficient's trained number ``raw`` (unconstrained) maps to its value: ``value = forward(raw)``."""

    @abc.abstractmethod
    def forward(self, raw: Array) -> Array:
        raise NotImplementedError

    @abc.abstractmethod
    def inverse(self, value: float) -> float:
        """The raw number of `value` (a float on the host); refuses a value outside the parametrisation's range."""
        raise NotImplementedError


class Unconstrained(AbstractParametrisation):
    """``value = raw``: any real value."""

    def forward(self, raw: Array) -> Array:
        return raw

    def inverse(self, value: float) -> float:
        return float(value)


def _positive(value: float, name: str) -> float:
    if not value > 0:
        raise ConfigError(f"{name}: the initial value must be > 0, got {value}; pick a positive initial guess")
    return float(value)


class LogPositive(AbstractParametrisation):
    """``value = exp(raw)``: positive; a first-order optimizer's step changes the value by a relative amount, so
    coefficients of very different sizes (a viscosity of 3e-3, a diffusivity of 1) train alike."""

    def forward(self, raw: Array) -> Array:
        return jnp.exp(raw)

    def inverse(self, value: float) -> float:
        return math.log(_positive(value, "LogPositive"))


class SoftplusPositive(AbstractParametrisation):
    """``value = softplus(raw) = log(1 + exp(raw))``: positive; linear in raw for large values, like `LogPositive`
    for small ones."""

    def forward(self, raw: Array) -> Array:
        return jax.nn.softplus(raw)

    def inverse(self, value: float) -> float:
        value = _positive(value, "SoftplusPositive")
        return value + math.log(-math.expm1(-value))  # log(exp(v) - 1), stable for large and small v


class Bounded(AbstractParametrisation):
    """``value = lower + (upper - lower) sigmoid(raw)``: strictly inside ``(lower, upper)``."""

    lower: float = eqx.field(static=True)
    upper: float = eqx.field(static=True)

    def __check_init__(self):
        if not self.lower < self.upper:
            raise ConfigError(f"Bounded: expected lower < upper, got ({self.lower}, {self.upper})")

    def forward(self, raw: Array) -> Array:
        return self.lower + (self.upper - self.lower) * jax.nn.sigmoid(raw)

    def inverse(self, value: float) -> float:
        if not self.lower < value < self.upper:
            raise ConfigError(f"Bounded: the initial value must lie strictly inside ({self.lower}, {self.upper}), "
                              f"got {value}")
        fraction = (value - self.lower) / (self.upper - self.lower)
        return math.log(fraction) - math.log1p(-fraction)


class Coefficient(eqx.Module):
    """One unknown scalar coefficient, trained as ``raw`` and read as ``value = parametrisation.forward(raw)``.

    Args:
        initial: the initial guess (inside the parametrisation's range).
        parametrisation: `Unconstrained` (default), `LogPositive`, `SoftplusPositive` or `Bounded(lower, upper)`.
    """

    raw: Array
    parametrisation: AbstractParametrisation

    def __init__(self, initial: float, parametrisation: AbstractParametrisation | None = None):
        parametrisation = Unconstrained() if parametrisation is None else parametrisation
        if not isinstance(parametrisation, AbstractParametrisation):
            raise ConfigError(f"Coefficient: parametrisation must be e.g. LogPositive(), got {parametrisation!r}")
        if not math.isfinite(initial):
            raise ConfigError(f"Coefficient: the initial value must be finite, got {initial}")
        self.parametrisation = parametrisation
        self.raw = jnp.asarray(parametrisation.inverse(float(initial)), jnp.float32)

    @property
    def value(self) -> Array:
        return self.parametrisation.forward(self.raw)


class WithCoefficients(eqx.Module):
    """A field model with trainable coefficients beside it: ``model(x) = field(x)``, ``model.values()`` the
    coefficients' values; training it trains both (the coefficients are inexact array leaves like the weights).

    Args:
        field: the model of the field, one point ``(d,) -> ()`` or ``(m,)`` (e.g. a `PINN`).
        coefficients: ``{name: Coefficient}``; a residual ``(u, p)`` reads ``p[name]``.
    """

    field: Callable
    coefficients: dict[str, Coefficient]

    def __check_init__(self):
        if not self.coefficients:
            raise ConfigError("WithCoefficients needs at least one coefficient, e.g. {'kappa': Coefficient(1.0)}")
        bad = {name: type(c).__name__ for name, c in self.coefficients.items()
               if not isinstance(name, str) or not isinstance(c, Coefficient)}
        if bad:
            raise ConfigError(f"WithCoefficients: expected {{name: Coefficient}}, got {bad}")

    def __call__(self, x):
        return self.field(x)

    def values(self) -> dict[str, Array]:
        """``{name: value}`` of the coefficients."""
        return {name: c.value for name, c in self.coefficients.items()}


def split_coefficients(model) -> tuple[Callable, dict[str, Array]]:
    """``(field model, {name: value})`` of a `WithCoefficients`; ``(model, {})`` of any other model."""
    if isinstance(model, WithCoefficients):
        return model.field, model.values()
    return model, {}
