"""Physics-informed problem pieces: domains, collocation samplers, derivatives, constraints, problems."""

from sciml.pde._constraints import (
    AbstractConstraint,
    DataConstraint,
    Dirichlet,
    InitialCondition,
    Periodic,
)
from sciml.pde._derivatives import Field, derivative
from sciml.pde._domain import Box, interval, rectangle, time_space
from sciml.pde._problem import Problem
from sciml.pde._samplers import (
    FacePoints,
    FixedPoints,
    LatinHypercube,
    PointSets,
    SobolPoints,
    UniformPoints,
)

__all__ = [
    "AbstractConstraint",
    "Box",
    "DataConstraint",
    "Dirichlet",
    "FacePoints",
    "Field",
    "FixedPoints",
    "InitialCondition",
    "LatinHypercube",
    "Periodic",
    "PointSets",
    "Problem",
    "SobolPoints",
    "UniformPoints",
    "derivative",
    "interval",
    "rectangle",
    "time_space",
]
