"""Error types shared by the whole library."""


class ConfigError(ValueError):
    """A configuration value or key is not what the component expects."""


class DataError(ValueError):
    """Input data has the wrong shape, coordinates, variables or values."""
