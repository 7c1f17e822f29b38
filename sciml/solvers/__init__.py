"""Numerical solvers used for data and ground truth."""

__all__: list[str] = []
