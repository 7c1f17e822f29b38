"""The candidate library of two-layer QG model-error terms: named functions of the streamfunction.

Each term gives one field per layer k (the column of layer k's regression): the streamfunction psi_k, the
interface psi_1 - psi_2, Laplacian, biharmonic and triharmonic of psi_k, the velocities u_k = -psi_k,y and
v_k = psi_k,x, the Jacobians J(psi_k, q_k) and J(psi_k, lap psi_k), and the PV gradients q_k,x and q_k,y.
Derivatives are spectral on the model's grid; the Jacobians use the model's own flux form d_x(u q) + d_y(v q), so
a term is what the model would add.

In these terms the model errors of `sciml.solvers.TwoLayerQG` read: drag r_ek -> -r_ek lap psi_2 (layer 2);
relaxation 1/tau_d -> +F_1/tau_d (psi_1 - psi_2) (layer 1) and -F_2/tau_d (psi_1 - psi_2) (layer 2); beta ->
-beta v_k; Jacobian factor s -> -s J(psi_k, q_k) (see `true_coefficients`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from sciml._errors import ConfigError, DataError
from sciml.solvers import TwoLayerQG


@dataclasses.dataclass(frozen=True)
class Term:
    """One candidate term: `evaluate(model, ph)` maps the spectral streamfunction (2, ny, nk) to the term of each
    layer on the grid (2, ny, nx)."""

    name: str
    long_name: str
    latex: str
    units: str
    evaluate: Callable[[TwoLayerQG, Complex[Array, "2 ny nk"]], Float[Array, "2 ny nx"]]


def _derivative(model: TwoLayerQG, fh, axis: str):
    kx, ky = model.wavenumber_grids()
    return 1j * (kx if axis == "x" else ky)[None] * fh


def _flux_jacobian(model: TwoLayerQG, ph, fh):
    """J(psi, f) = d_x(u f) + d_y(v f) with u = -psi_y, v = psi_x, per layer, on the grid (the model's flux form)."""
    u = model.to_grid(-_derivative(model, ph, "y"))
    v = model.to_grid(_derivative(model, ph, "x"))
    f = model.to_grid(fh)
    flux = _derivative(model, model.to_spectral(u * f), "x") + _derivative(model, model.to_spectral(v * f), "y")
    return model.to_grid(flux)


def _grid(fn):
    return lambda model, ph: model.to_grid(fn(model, ph))


QG_TERMS: tuple[Term, ...] = (
    Term("psi", "streamfunction psi_k", r"\psi_k", "m2 s-1", _grid(lambda m, ph: ph)),
    Term("interface", "interface psi_1 - psi_2", r"\psi_1-\psi_2", "m2 s-1",
         _grid(lambda m, ph: jnp.stack([ph[0] - ph[1], ph[0] - ph[1]]))),
    Term("laplacian", "relative vorticity lap psi_k", r"\nabla^2\psi_k", "s-1",
         _grid(lambda m, ph: -m.kappa2()[None] * ph)),
    Term("biharmonic", "biharmonic lap^2 psi_k", r"\nabla^4\psi_k", "m-2 s-1",
         _grid(lambda m, ph: m.kappa2()[None] ** 2 * ph)),
    Term("triharmonic", "triharmonic lap^3 psi_k", r"\nabla^6\psi_k", "m-4 s-1",
         _grid(lambda m, ph: -m.kappa2()[None] ** 3 * ph)),
    Term("u", "zonal velocity u_k = -psi_k,y", r"u_k", "m s-1", _grid(lambda m, ph: -_derivative(m, ph, "y"))),
    Term("v", "meridional velocity v_k = psi_k,x", r"v_k", "m s-1", _grid(lambda m, ph: _derivative(m, ph, "x"))),
    Term("jacobian", "PV advection J(psi_k, q_k)", r"J(\psi_k,q_k)", "s-2",
         lambda m, ph: _flux_jacobian(m, ph, m.potential_vorticity(ph))),
    Term("vorticity_jacobian", "vorticity advection J(psi_k, lap psi_k)", r"J(\psi_k,\nabla^2\psi_k)", "s-2",
         lambda m, ph: _flux_jacobian(m, ph, -m.kappa2()[None] * ph)),
    Term("q_x", "zonal PV gradient q_k,x", r"\partial_x q_k", "m-1 s-1",
         _grid(lambda m, ph: _derivative(m, m.potential_vorticity(ph), "x"))),
    Term("q_y", "meridional PV gradient q_k,y", r"\partial_y q_k", "m-1 s-1",
         _grid(lambda m, ph: _derivative(m, m.potential_vorticity(ph), "y"))),
)
"""Every candidate term (11)."""

DEFAULT_TERMS = ("psi", "interface", "laplacian", "biharmonic", "u", "v", "jacobian", "vorticity_jacobian", "q_y")
"""The default library (9 terms). Two candidates are left out because interpolation errors take their shape: q_x
(the analysis error of q advected by the mean flow, -U_1 d_x(q - q_analysis), is confused with the beta term v in
the upper layer) and the triharmonic (with the Laplacian and biharmonic it spans the smoothing of an interpolator).
`benchmarks/medida.py` measures the full library too."""


def term_names(terms: tuple[Term, ...] = QG_TERMS) -> list[str]:
    return [t.name for t in terms]


def select_terms(names) -> tuple[Term, ...]:
    """The terms of `QG_TERMS` called `names`, in that order; unknown names raise `ConfigError`."""
    known = {t.name: t for t in QG_TERMS}
    unknown = [n for n in names if n not in known]
    if unknown or not names or len(set(names)) != len(names):
        raise ConfigError(f"library terms must be distinct names among {sorted(known)} (at least one), got "
                          f"{list(names)}")
    return tuple(known[n] for n in names)


@eqx.filter_jit
def _library(model: TwoLayerQG, psi, terms: tuple[Term, ...], filtered: bool):
    def one(p):
        ph = model.to_spectral(p)
        columns = []
        for term in terms:
            column = term.evaluate(model, ph)
            if filtered:
                column = model.to_grid(model.step_filter()[None] * model.to_spectral(column))
            columns.append(column)
        return jnp.stack(columns, axis=-1)

    return jax.vmap(one)(psi)


def library(model: TwoLayerQG, psi: Float[Array, "*batch 2 n n"], terms: tuple[Term, ...] = QG_TERMS, *,
            filtered: bool = True) -> Float[Array, "*batch 2 n n terms"]:
    """Every term of every layer from the streamfunction on the grid; with `filtered` each term is passed through
    the model's step filter, as a one-step increment is (`TwoLayerQG.step_filter`)."""
    psi = jnp.asarray(psi)
    if psi.shape[-3:] != (2, model.nx, model.nx):
        raise DataError(f"library: expected psi of shape (..., 2, {model.nx}, {model.nx}), got {psi.shape}")
    flat = psi.reshape((-1,) + psi.shape[-3:])
    return _library(model, flat, tuple(terms), bool(filtered)).reshape(psi.shape + (len(terms),))


# parameter -> (term, per-layer factor on the parameter difference reference - model)
def _error_terms(model: TwoLayerQG) -> dict[str, tuple[str, tuple[float, float]]]:
    return {
        "drag": ("laplacian", (0.0, -1.0)),
        "relaxation": ("interface", (model.f1, -model.f2)),
        "beta": ("v", (-1.0, -1.0)),
        "jacobian_scale": ("jacobian", (-1.0, -1.0)),
    }


def true_coefficients(reference: TwoLayerQG, model: TwoLayerQG, terms: tuple[Term, ...] = QG_TERMS) -> np.ndarray:
    """The exact coefficients (layer, term) of the increment (reference tendency - model tendency) in `terms`.

    Raises `ConfigError` when the models differ in a parameter the library cannot express.
    """
    names = term_names(terms)
    coefficients = np.zeros((2, len(names)))
    expressible = _error_terms(reference)
    for field in dataclasses.fields(reference):
        difference = getattr(reference, field.name) - getattr(model, field.name)
        if difference == 0:
            continue
        if field.name not in expressible or expressible[field.name][0] not in names:
            raise ConfigError(f"the model differs from the reference in {field.name} ({getattr(reference, field.name)}"
                              f" -> {getattr(model, field.name)}), which the library {names} cannot express; "
                              f"expected differences only in {sorted(expressible)}")
        term, factors = expressible[field.name]
        coefficients[:, names.index(term)] += np.asarray(factors) * difference
    return coefficients


@dataclasses.dataclass(frozen=True)
class ModelError:
    """A named model error: the parameters the model gets instead of the reference's."""

    name: str
    description: str
    changes: dict[str, float]

    def apply(self, reference: TwoLayerQG) -> TwoLayerQG:
        return reference.replace(**self.changes)


def standard_errors(reference: TwoLayerQG, *, drag_factor: float = 0.5, relaxation_factor: float = 3.0
                    ) -> tuple[ModelError, ...]:
    """The four error cases: drag scaled by `drag_factor`, relaxation rate scaled by `relaxation_factor`, beta set to
    zero, the Jacobian halved."""
    if not reference.relaxation > 0:
        raise ConfigError("the relaxation error case needs a reference with relaxation > 0 (a rate 1/tau_d in s^-1)")
    return (
        ModelError("drag", f"bottom drag x {drag_factor:g}", {"drag": reference.drag * drag_factor}),
        ModelError("relaxation", f"relaxation rate x {relaxation_factor:g}",
                   {"relaxation": reference.relaxation * relaxation_factor}),
        ModelError("beta", "beta = 0", {"beta": 0.0}),
        ModelError("jacobian", "Jacobian x 0.5", {"jacobian_scale": 0.5 * reference.jacobian_scale}),
    )
