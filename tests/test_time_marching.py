"""Time marching: `TimeWindows` routes each time to its window's model, `train_time_windows` starts every window
from the trained state of the one before, and a marched convection run goes through the output contract."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sciml
from sciml._errors import ConfigError
from sciml.data import open_dataset
from sciml.pde import interval, time_space
from sciml.pinn import TimeWindows, window_edges
from sciml.studies import RunDir, TrainConfig, load_experiment, run_experiment
from sciml.studies.pinn import train_time_windows, windows_summary
from sciml.train import AbstractSampler
from tests.conftest import assert_close


class Level(eqx.Module):
    """u(t, x) = level, on its window's domain."""

    level: jax.Array
    domain: object = eqx.field(static=True)

    def __call__(self, point):
        return self.level


class Nothing(AbstractSampler):
    def __call__(self, key, step):
        return jnp.zeros(1)


def _levels(edges, values):
    return TimeWindows(tuple(Level(jnp.asarray(v), time_space(a, b, interval(0.0, 1.0)))
                             for a, b, v in zip(edges[:-1], edges[1:], values, strict=True)), tuple(edges))


def test_each_time_goes_to_its_window():
    marched = _levels((0.0, 0.25, 0.5, 1.0), (1.0, 2.0, 3.0))
    times = jnp.asarray([-0.1, 0.0, 0.2, 0.25, 0.49, 0.5, 0.99, 1.0, 1.5])
    values = jax.vmap(lambda t: marched(jnp.stack([t, 0.3])))(times)
    assert_close(values, [1, 1, 1, 2, 2, 3, 3, 3, 3], rtol=0, what="window of each time")
    assert marched.domain.lower == (0.0, 0.0) and marched.domain.upper == (1.0, 1.0)


def test_window_edges_are_checked():
    assert window_edges(0.0, 1.0, 4) == (0.0, 0.25, 0.5, 0.75, 1.0)
    with pytest.raises(ConfigError, match="windows >= 1"):
        window_edges(0.0, 1.0, 0)
    with pytest.raises(ConfigError, match="increasing edges"):
        TimeWindows(_levels((0.0, 0.5, 1.0), (1.0, 2.0)).models, (0.0, 1.0, 0.5))


def test_every_window_starts_from_the_previous_trained_state(tmp_path):
    """Window k learns u = u_{k-1}(t_k) + 1 from the state the trained window k-1 hands over: levels 1, 2, 3."""
    edges = window_edges(0.0, 1.0, 3)
    handed_over = []

    def window_task(k, previous):
        start = jnp.asarray([edges[k], 0.5])
        target = 1.0 if previous is None else previous(start) + 1.0
        handed_over.append(None if previous is None else float(previous(start)))

        def loss(model, batch, key):
            value = jnp.square(model(start) - target)
            return value, {"mismatch": value}

        return Level(jnp.asarray(0.0), time_space(edges[k], edges[k + 1], interval(0.0, 1.0))), loss, Nothing()

    config = TrainConfig(steps=1500, learning_rate=0.05, chunk=250)
    marched, results = train_time_windows(window_task, edges, config, RunDir(tmp_path / "run"))
    assert_close([m.level for m in marched.models], [1.0, 2.0, 3.0], rtol=0, atol=1e-3, what="levels")
    assert_close(handed_over[1:], [1.0, 2.0], rtol=0, atol=1e-3, what="states handed over")
    assert [r.step for r in results] == [500, 500, 500], "the steps are split over the windows"
    assert windows_summary(results)["steps"] == 1500
    assert all((tmp_path / "run" / f"window{k}" / "metrics.jsonl").exists() for k in range(3))


def test_marched_convection_run_reloads_and_predicts(tmp_path):
    smoke = {**load_experiment("convection-pinn").smoke, "windows": 2}
    out = run_experiment("convection-pinn", smoke, tmp_path / "marched")
    summary = json.loads((out / "summary.json").read_text())["metrics"]
    assert summary["windows"] == 2 and np.isfinite(summary["rel_l2"])
    stored = open_dataset(out / "predictions.nc")
    trained = sciml.load(out)
    assert isinstance(trained.model, TimeWindows) and len(trained.model.models) == 2
    again = trained.predict(stored)
    assert_close(again.prediction.values, stored.prediction.values, rtol=1e-5, atol=1e-6, what="reloaded prediction")
