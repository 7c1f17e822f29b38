"""The arithmetic of `fit`'s first-order steps: full precision, or mixed precision (bfloat16 compute, float32 master
weights), and the process's matmul precision that run summaries record."""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from sciml._errors import ConfigError

# What XLA does with float32 matmuls under precision "default", per backend (JAX's matmul-precision notes).
_DEFAULT_MATMUL = {"cpu": "float32", "gpu": "tensorfloat32 on NVIDIA GPUs since Ampere, else float32",
                   "tpu": "bfloat16 passes"}


def matmul_precision() -> str:
    """The precision of float32 matmuls and convolutions in this process: the setting of
    ``jax_default_matmul_precision`` (`jax.default_matmul_precision`), or, unset, what the backend does by default."""
    setting = jax.config.jax_default_matmul_precision
    if setting is not None:
        return str(setting)
    backend = jax.default_backend()
    return f"default ({backend}: {_DEFAULT_MATMUL.get(backend, 'the backend default')})"


def _is_float_array(x) -> bool:
    return eqx.is_array(x) and jnp.issubdtype(x.dtype, jnp.floating)


class AbstractPrecision(eqx.Module):
    """How a first-order step computes: the dtype its forward and backward passes see.

    `fit` calls `compute` on the model and the batch inside the differentiated function and `restore` on the loss
    and its metrics, so parameters, gradients and optimizer state keep the parameters' own dtype.
    """

    @abc.abstractmethod
    def compute(self, tree) -> Any:
        """`tree` (the model or a batch) as the step computes with it."""

    @abc.abstractmethod
    def restore(self, tree, dtype) -> Any:
        """`tree` (the loss value and metrics) back in the parameters' float `dtype`."""

    @abc.abstractmethod
    def compute_dtype(self, parameter_dtype) -> jnp.dtype:
        """The float dtype the step computes in for parameters of `parameter_dtype`."""

    def describe(self, parameter_dtype) -> dict[str, str]:
        """Compute dtype, parameter (master weight) dtype and matmul precision, as run summaries record them."""
        return {"compute_dtype": jnp.dtype(self.compute_dtype(parameter_dtype)).name,
                "parameter_dtype": jnp.dtype(parameter_dtype).name, "matmul_precision": matmul_precision()}


class FullPrecision(AbstractPrecision):
    """Compute in the parameters' own dtype (float32, or float64 for a model built in it): nothing is cast."""

    def compute(self, tree):
        return tree

    def restore(self, tree, dtype):
        return tree

    def compute_dtype(self, parameter_dtype):
        return jnp.dtype(parameter_dtype)


class MixedPrecision(AbstractPrecision):
    """bfloat16 compute with float32 master weights.

    The step casts the model's and the batch's float arrays to `compute_dtype` inside the differentiated function:
    the forward and backward passes run in bfloat16, and the gradient arrives in the parameters' float32 (the
    transpose of the cast casts back), so the optimizer updates float32 parameters with float32 state. The loss and
    its metrics are returned in float32 (the NaN guard and the log read them so).

    There is no loss scaling: bfloat16 has float32's 8 exponent bits (normal range 1e-38 to 3e38), so gradients do not
    underflow as float16's do (5 exponent bits, smallest normal 6e-5), which is what loss scaling is for. bfloat16
    keeps 8 significant bits instead of 24; scaling cannot give those back. Complex and integer arrays are not cast
    (the FFTs of spectral layers run in float32: XLA has no bfloat16 FFT).
    """

    dtype: str = "bfloat16"

    def __check_init__(self):
        if self.dtype != "bfloat16":
            raise ConfigError(f"MixedPrecision: dtype must be 'bfloat16', got {self.dtype!r}; float16 would need "
                              "loss scaling, which sciml does not do. Use bfloat16 (same range as float32).")

    def compute(self, tree):
        return jax.tree_util.tree_map(lambda x: x.astype(self.dtype) if _is_float_array(x) else x, tree)

    def restore(self, tree, dtype):
        return jax.tree_util.tree_map(lambda x: x.astype(dtype) if _is_float_array(x) else x, tree)

    def compute_dtype(self, parameter_dtype):
        return jnp.dtype(self.dtype)
