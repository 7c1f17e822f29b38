"""`benchmarks/turbulence2d_cost.py`: each timed call covers the simulated time its cost is divided by."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from turbulence2d_cost import CASE, STATIC_CLOSURES, smarl_side, solver_side  # noqa: E402

from sciml.solvers import ForcedTurbulence2D  # noqa: E402


@pytest.mark.parametrize("closure", ["none", "dynamic"])
def test_a_solver_call_advances_the_time_it_is_charged_for(closure):
    call, span = solver_side(ForcedTurbulence2D(n=16, **CASE, closure=STATIC_CLOSURES[closure]), 30)
    assert float(call().time) == pytest.approx(span, rel=1e-5) == pytest.approx(30 * 5e-4)


@pytest.mark.parametrize("dealiasing", ["two-thirds", "three-halves"])
def test_the_smarl_call_advances_whole_action_intervals_under_the_policy(dealiasing):
    call, span = smarl_side(16, 200, dealiasing)  # the experiment acts every 10 steps of dt = 5e-3
    state = call()
    assert float(state.time) == pytest.approx(span, rel=1e-5) == pytest.approx(200 * 5e-3)
    assert bool((abs(state.omega_hat) < 1e6).all())
