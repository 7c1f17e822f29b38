"""Multi-fidelity stacking (MF-RPN, Bhouri et al. 2023): a high-fidelity net fed by the low-fidelity prediction.

The low-fidelity (LF) net maps the state x to the LF output; the high-fidelity (HF) net maps that prediction
(optionally concatenated with x) to the HF output. The LF prediction enters the HF net through `stop_gradient`,
so the scarce HF data never reshapes the LF net: LF learns from abundant LF data (all regimes), HF learns the
LF -> HF correction. In an ensemble each member pairs its own LF and HF nets.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml._errors import ConfigError


class MultiFidelity(eqx.Module):
    """`high([stop_gradient(low(x)), x])` (x appended only when `use_state`).

    Args:
        low: x (d,) -> LF output (o,).
        high: (o,) or (o + d,) -> HF output (o,).
        use_state: feed the state to the HF net besides the LF prediction.
    """

    low: eqx.Module
    high: eqx.Module
    use_state: bool = eqx.field(static=True, default=False)

    def low_fidelity(self, x: Float[Array, " d"]) -> Float[Array, " o"]:
        return self.low(x)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " o"]:
        low = jax.lax.stop_gradient(self.low(x))
        return self.high(jnp.concatenate([low, x]) if self.use_state else low)


class MultiFidelityLoss(eqx.Module):
    """Per-member loss `MSE(model(x_hf), y_hf) + alpha * MSE(model.low(x_lf), y_lf)`.

    The batch holds ``"hf": (x (B, d), y (B, o))`` and ``"lf": (x (B, d), y (B, o))``; wrap with `ensemble_loss`.
    """

    alpha: float = eqx.field(static=True, default=1.0)

    def __check_init__(self):
        if self.alpha < 0:
            raise ConfigError(f"MultiFidelityLoss: alpha must be >= 0, got {self.alpha}")

    def __call__(self, model: MultiFidelity, batch, key):
        x_hf, y_hf = batch["hf"]
        x_lf, y_lf = batch["lf"]
        hf = jnp.mean((jax.vmap(model)(x_hf) - y_hf) ** 2)
        lf = jnp.mean((jax.vmap(model.low_fidelity)(x_lf) - y_lf) ** 2)
        return hf + self.alpha * lf, {"mse_hf": hf, "mse_lf": lf}
