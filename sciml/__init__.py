"""sciml: a JAX workbench for scientific-ML surrogates of PDEs and climate parametrizations."""

import jax as _jax

from sciml._errors import ConfigError, DataError

__version__ = "0.1.0"


def set_precision(precision: str) -> None:
    """Choose the default float width of this process: ``"float32"`` (default) or ``"float64"``."""
    if precision not in ("float32", "float64"):
        raise ConfigError(f"precision must be 'float32' or 'float64', got {precision!r}")
    _jax.config.update("jax_enable_x64", precision == "float64")


__all__ = ["ConfigError", "DataError", "set_precision"]
