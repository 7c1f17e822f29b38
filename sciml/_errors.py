"""Error types shared by the whole library, and a warning that names the user's line."""

import os
import sys
import warnings


class ConfigError(ValueError):
    """A configuration value or key is not what the component expects."""


class DataError(ValueError):
    """Input data has the wrong shape, coordinates, variables or values."""


def warn_at_caller(message: str, category: type[Warning]) -> None:
    """Warn at the line that called into sciml: the first frame outside sciml and the wrappers that sit between a
    user's call and the check (equinox's bound methods, jaxtyping's checks), however deep the check is (Python 3.11
    has no ``warnings.warn(skip_file_prefixes=...)``)."""
    inside = tuple(os.path.dirname(module.__file__) + os.sep
                   for name in ("sciml", "equinox", "jaxtyping") if (module := sys.modules.get(name)) is not None)
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(inside):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
