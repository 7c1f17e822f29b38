"""A straight line fitted by least squares: the smallest experiment, for tests of the run lifecycle."""

from __future__ import annotations

import dataclasses
import os
import time

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sciml.studies import RunDir, TrainConfig, fit_summary, train

NAME = "linear-fit"
SMOKE = {"train.steps": 20}


@dataclasses.dataclass(frozen=True)
class Config:
    train: TrainConfig = TrainConfig(steps=40, learning_rate=0.05, chunk=10, checkpoint_every=10)
    slope: float = 2.0
    """Slope of the line the data lie on (its intercept is 0.5)."""
    interrupt_at: int = 0
    """> 0: raise KeyboardInterrupt once training passed this step (a simulated Ctrl-C)."""
    step_delay_s: float = 0.0
    """A pause per step in seconds, so that a short run lasts long enough to be killed midway."""


def line(params, x):
    return params[0] * x + params[1]


def model_like(config: Config):
    """The model: (slope, intercept)."""
    return jnp.zeros(2)


def predict(model, config: Config, x) -> xr.Dataset:
    """The line at the points `x` (1-D)."""
    x = np.asarray(x, np.float32)
    return xr.Dataset({"prediction": ("x", np.asarray(line(model, jnp.asarray(x))))}, coords={"x": x})


def main(config: Config, run: RunDir) -> dict:
    x = np.linspace(-1.0, 1.0, 64, dtype=np.float32)
    y = config.slope * x + 0.5

    def loss(params, batch, key):
        misfit = jnp.mean((line(params, batch["x"]) - batch["y"]) ** 2)
        return misfit, {"misfit": misfit}

    def data(step):
        if config.interrupt_at and step >= config.interrupt_at and not os.environ.get("LINEAR_FIT_RESUMING"):
            raise KeyboardInterrupt
        time.sleep(config.step_delay_s)
        return {"x": x, "y": y}

    result = train(model_like(config), loss, data, config.train, run)
    run.save_model(result.model)
    ds = predict(result.model, config, x)
    prediction = ds.prediction.values
    ds = ds.assign(reference=("x", y, {"long_name": "the line fitted to", "units": "1"}))
    ds["prediction"].attrs.update(long_name="fitted line", units="1")
    run.write_predictions(ds)
    fig, ax = plt.subplots()
    ax.plot(x, prediction)
    run.save_figure(fig, "line")
    return {"slope": float(result.model[0]), "nan_metric": float("nan"), **fit_summary(result)}
