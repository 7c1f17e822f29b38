"""The PDE suite's problem definitions (exact solutions solve them), L-shape samplers, and bad input."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from conftest import assert_close

from sciml import ConfigError, metrics
from sciml.experiment import run_experiment
from sciml.nn import GaussianFeatures
from sciml.pde import Field, Problem, UniformPoints, interval, rectangle
from sciml.pinn import suite
from sciml.solvers import poisson_lshape_fem


def max_residual(problem: Problem, exact, n: int = 64) -> float:
    points = problem.domain.uniform(jax.random.key(0), n)
    return float(jnp.max(jnp.abs(problem.pointwise_residual(exact, points))))


def test_exact_solutions_solve_the_suite_problems():
    helmholtz, _ = suite.helmholtz_problem(8)
    assert max_residual(helmholtz, suite.helmholtz_exact) < 1e-3
    klein_gordon, _ = suite.klein_gordon_problem(8, 8)
    assert max_residual(klein_gordon, suite.klein_gordon_exact) < 1e-3
    flow, transform = suite.flow_mixing_problem(8, 8)
    assert max_residual(flow, suite.flow_mixing_exact) < 1e-4
    p = jnp.asarray([0.0, 1.3, -0.4])
    assert_close(transform(p, 5.0), suite.flow_mixing_exact(p), rtol=1e-6, what="built-in initial value")


def test_klein_gordon_conditions_vanish_on_the_exact_solution():
    problem, _ = suite.klein_gordon_problem(8, 16)
    assert {"initial", "initial_rate"} <= set(problem.constraints)
    batch = problem.sampler()(jax.random.key(1), jnp.asarray(0))
    terms = problem.terms(suite.klein_gordon_exact, batch)
    assert all(float(v) < 1e-8 for k, v in terms.items() if k != "residual"), terms


def test_klein_gordon_built_in_initial_value_and_rate():
    problem, transform = suite.klein_gordon_problem(8, 16, hard_initial=True)
    assert not {"initial", "initial_rate"} & set(problem.constraints)

    def model(p):  # any network output: the transform must still meet u0 and u_t(0)
        return transform(p, jnp.sin(3 * p[0] + p[1]) * p[2] + 2.0)

    for x, y in [(0.3, -0.7), (-1.0, 0.5), (0.9, 0.9)]:
        p = jnp.asarray([0.0, x, y])
        assert_close(model(p), suite.klein_gordon_exact(p), rtol=1e-6, what="u(0)")
        rate = jax.jvp(model, (p,), (jnp.asarray([1.0, 0.0, 0.0]),))[1]
        assert_close(rate, 2.0 * x * y, rtol=1e-5, atol=1e-6, what="u_t(0)")


def test_lshape_samplers_stay_on_the_lshape():
    inside = np.asarray(suite.LShapePoints(2000)(jax.random.key(0), jnp.asarray(0)))
    assert np.all(np.abs(inside) <= 1) and not np.any((inside[:, 0] > 0) & (inside[:, 1] > 0))
    edge = np.asarray(suite.LShapeBoundary(2000)(jax.random.key(0), jnp.asarray(0)))
    on_outer = np.isclose(np.abs(edge).max(axis=1), 1.0)
    on_inner = (np.isclose(edge[:, 0], 0) & (edge[:, 1] >= 0)) | (np.isclose(edge[:, 1], 0) & (edge[:, 0] >= 0))
    assert np.all(on_outer | on_inner)


def test_references_are_consistent():
    ref = suite.convection_reference(30.0, nu=0.1, nt=5, nx=32)
    t, x = ref.t.values[:, None], ref.x.values[None, :]
    assert_close(ref.reference.values, np.exp(-0.1 * t) * np.sin(x - 30 * t), rtol=0, atol=1e-10, what="spectral")
    poisson = suite.poisson_lshape_reference()
    assert poisson.reference.dims == ("node",)
    points = np.stack([poisson.x.values, poisson.y.values], axis=1)
    coarse = poisson_lshape_fem(points, refinements=4)
    assert metrics.relative_l2(coarse, poisson.reference.values) < 3e-3  # converged under refinement
    assert 0.14 < poisson.reference.max() < 0.16


def test_inverted_domain_bounds_are_refused():
    with pytest.raises(ConfigError, match="lower < upper"):
        interval(1.0, 0.0)
    with pytest.raises(ConfigError, match="lower < upper"):
        rectangle((0.0, 1.0), (1.0, -1.0))


def test_residual_of_the_wrong_shape_is_refused():
    domain = rectangle((-1.0, -1.0), (1.0, 1.0))
    problem = Problem(domain, lambda u: jnp.ones((2, 2)) * u.value, UniformPoints(domain, 4), {})
    with pytest.raises(ConfigError, match="scalar or a vector"):
        problem.pointwise_residual(lambda p: p[0], jnp.zeros((4, 2)))


def test_zero_gaussians_are_refused():
    with pytest.raises(ConfigError, match="at least one Gaussian"):
        GaussianFeatures(2, 0, key=jax.random.key(0))


def test_lshape_distance_vanishes_on_the_boundary_only():
    edge = suite.LShapeBoundary(500)(jax.random.key(1), jnp.asarray(0))
    inside = suite.LShapePoints(2000)(jax.random.key(2), jnp.asarray(0))
    assert float(jnp.max(jnp.abs(jax.vmap(suite.lshape_distance)(edge)))) < 1e-6
    assert float(jnp.min(jax.vmap(suite.lshape_distance)(inside))) > 0


def test_pig_run_with_adaptive_points_writes_a_recomputable_contract(tmp_path):
    overrides = {"steps": "20", "chunk": "10", "n_gaussians": "16", "n_points": "64", "adaptive_points": "32",
                 "adaptive_candidates": "256", "adaptive_every": "10", "n_condition": "16", "causal_chunks": "4"}
    out = run_experiment("flow-mixing-pig", overrides, tmp_path / "run")
    with xr.open_dataset(out / "predictions.nc") as ds:
        recomputed = metrics.relative_l2(ds.prediction.values, ds.reference.values)
    summary = json.loads((out / "summary.json").read_text())
    assert_close(summary["metrics"]["rel_l2"], recomputed, rtol=1e-6, what="rel. L2 from predictions.nc")
    assert summary["metrics"]["steps"] == 20
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(0 < r["causal_min_weight"] <= 1 for r in logged if r.get("phase") == "adam")


def test_physical_widths_convert_by_the_domain_half_widths():
    problem, transform = suite.klein_gordon_problem(8, 8)  # t in [0, 10], (x, y) in [-1, 1]^2
    assert problem.domain.half_widths == (5.0, 1.0, 1.0)
    assert_close(problem.domain.normalise(jnp.asarray([10.0, -1.0, 0.5])), [1.0, -1.0, 0.5], rtol=1e-6,
                 what="box corner and midpoint in scaled units")
    config = suite.PointwiseConfig(n_gaussians=3, sigma=0.5, sigma_units="physical")
    model = suite.pointwise_model(problem, transform, config, key=jax.random.key(0))
    assert_close(model.embedding.scales[0, 0], [0.1, 0.5, 0.5], rtol=1e-5, what="0.5 in t, x, y units, scaled")
