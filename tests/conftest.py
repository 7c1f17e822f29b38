"""Test set-up: several CPU devices so that sharding code runs on a CPU-only machine."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


def assert_close(actual, expected, *, rtol: float, atol: float = 0.0, what: str = "value") -> None:
    """The single tolerance helper of the suite: float comparison with a message naming `what`."""
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol, err_msg=what)


@pytest.fixture
def key():
    return jax.random.key(0)
