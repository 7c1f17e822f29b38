"""Physics-informed problem pieces: domains, collocation samplers, derivatives, constraints, problems."""

from sciml.pde._constraints import (
    AbstractConstraint,
    DataConstraint,
    DerivativeCondition,
    Dirichlet,
    InitialCondition,
    Periodic,
)
from sciml.pde._derivatives import Field, derivative
from sciml.pde._domain import Box, interval, rectangle, time_space
from sciml.pde._lshape import LShapeBoundary, LShapePoints, lshape_distance
from sciml.pde._problem import Problem
from sciml.pde._samplers import (
    FacePoints,
    FixedPoints,
    LatinHypercube,
    PointSets,
    SobolPoints,
    UniformPoints,
    box_faces,
)

__all__ = [
    "AbstractConstraint",
    "Box",
    "DataConstraint",
    "DerivativeCondition",
    "Dirichlet",
    "FacePoints",
    "Field",
    "FixedPoints",
    "InitialCondition",
    "LShapeBoundary",
    "LShapePoints",
    "LatinHypercube",
    "Periodic",
    "PointSets",
    "Problem",
    "SobolPoints",
    "UniformPoints",
    "box_faces",
    "derivative",
    "interval",
    "lshape_distance",
    "rectangle",
    "time_space",
]
