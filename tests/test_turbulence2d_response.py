"""`benchmarks/turbulence2d_response.py`: the reward's response to the closure coefficient by central differences
(against forward-mode autodiff through the LES) and its lag sums (against a hand computation)."""

import dataclasses
import functools
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from turbulence2d_response import EXPERIMENT, reward_response, summary  # noqa: E402


def test_lag_sums_and_their_standard_errors():
    response = np.array([[1.0, -1.0, 0.5], [3.0, 1.0, 0.5]])
    found = summary(response, discount=0.5, trace=0.5)
    assert found["lag 0"] == pytest.approx({"mean": 2.0, "standard_error": 1.0})
    assert set(found) == {"lag 0", "to 2", "advantage weights", "return weights"}  # lags beyond the data are left out
    assert found["to 2"]["mean"] == pytest.approx((0.5 + 4.5) / 2)
    assert found["return weights"]["mean"] == pytest.approx(((1 - 0.5 + 0.125) + (3 + 0.5 + 0.125)) / 2)
    assert found["advantage weights"]["mean"] == pytest.approx(((1 - 0.25 + 0.5 / 16) + (3 + 0.25 + 0.5 / 16)) / 2)


def test_the_response_right_after_the_action_is_the_derivative_of_the_reward():
    config = dataclasses.replace(EXPERIMENT.Config(), small=True, les=16, closure="leith", reward="weighted_spectrum")
    coefficient, spin_up = 0.17, 3
    response = reward_response(config, coefficient, 1e-3, starts=2, spin_up=spin_up, lags=2)
    assert response.shape == (2, 3)

    environment = EXPERIMENT.training_environment(config)
    ceiling = environment.max_coefficient
    np.testing.assert_allclose(environment.coefficients(environment.uniform_action(coefficient)), coefficient,
                               rtol=1e-5)

    def step(state, c):
        action = jnp.full((environment.agents, 1), jnp.log(c / (ceiling - c)))  # c = ceiling sigmoid(action)
        return environment.step(state, action)

    def reward(state, c):
        return step(state, c)[2][0]

    for start, omega0 in zip(response, environment.initial_vorticity[np.array([0, -1])], strict=True):
        state = environment.les.initial_state(omega0)
        for _ in range(spin_up):
            state = step(state, coefficient)[0]
        _, derivative = jax.jvp(functools.partial(reward, state), (jnp.asarray(coefficient),), (jnp.asarray(1.0),))
        assert abs(float(derivative)) > 0.5  # a change the test can see (-13.6 and 0.77 here)
        assert start[0] == pytest.approx(float(derivative), rel=2e-2)
    assert np.all(np.isfinite(response))
