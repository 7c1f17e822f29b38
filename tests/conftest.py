"""Test set-up: several CPU devices so that sharding code runs on a CPU-only machine."""

import os
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
# Identical programs compiled by several tests (e.g. a run and its resumed copy) are compiled once.
jax.config.update("jax_compilation_cache_dir", str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def assert_close(actual, expected, *, rtol: float, atol: float = 0.0, what: str = "value") -> None:
    """The single tolerance helper of the suite: float comparison with a message naming `what`."""
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol, err_msg=what)


@pytest.fixture
def key():
    return jax.random.key(0)
