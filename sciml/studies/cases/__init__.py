"""The PINN family's PDE cases, one object per case (see `PDECase`): domain, problem builder, reference dataset,
exact solution where known and the papers' numbers."""

from sciml.studies.cases._base import PDECase, reference_grid, unit_square
from sciml.studies.cases.allen_cahn import AllenCahn
from sciml.studies.cases.burgers_shock import BurgersShock
from sciml.studies.cases.convection import Convection
from sciml.studies.cases.flow_mixing import FlowMixing
from sciml.studies.cases.helmholtz import Helmholtz
from sciml.studies.cases.klein_gordon import KleinGordon
from sciml.studies.cases.nonlinear_diffusion import NonlinearDiffusion
from sciml.studies.cases.poisson_lshape import PoissonLShape

__all__ = [
    "AllenCahn",
    "BurgersShock",
    "Convection",
    "FlowMixing",
    "Helmholtz",
    "KleinGordon",
    "NonlinearDiffusion",
    "PDECase",
    "PoissonLShape",
    "reference_grid",
    "unit_square",
]
