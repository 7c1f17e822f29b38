"""Numerical solvers used for data and ground truth."""

from sciml.solvers._lorenz96 import (
    CubicClosure,
    TwoScaleLorenz96,
    lorenz96_dataset,
    lorenz96_samples,
    simulate_one_scale,
    simulate_two_scale,
    slow_tendency,
    spin_up_state,
)

__all__: list[str] = []
__all__ += ["CubicClosure", "TwoScaleLorenz96", "lorenz96_dataset", "lorenz96_samples", "simulate_one_scale",
            "simulate_two_scale", "slow_tendency", "spin_up_state"]
