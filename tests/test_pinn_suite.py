"""The PINN family's PDE cases (exact solutions solve their problems), L-shape samplers, the pointwise runner, and bad
input."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from conftest import assert_close

from sciml import ConfigError, metrics
from sciml.nn import GaussianFeatures
from sciml.pde import BoundaryPoints, InteriorPoints, Problem, UniformPoints, interval, rectangle
from sciml.solvers import poisson_lshape_fem
from sciml.studies import run_experiment
from sciml.studies.cases import Convection, FlowMixing, Helmholtz, KleinGordon, PoissonLShape
from sciml.studies.cases.poisson_lshape import LSHAPE
from sciml.studies.pinn import BALANCING, PointwiseConfig, balancing, pointwise_model


def max_residual(problem: Problem, exact, n: int = 64) -> float:
    points = problem.domain.uniform(jax.random.key(0), n)
    return float(jnp.max(jnp.abs(problem.pointwise_residual(exact, points))))


def test_exact_solutions_solve_the_suite_problems():
    helmholtz, klein_gordon, flow, convection = Helmholtz(), KleinGordon(), FlowMixing(), Convection(30.0)
    assert max_residual(helmholtz.problem(8)[0], helmholtz.exact) < 1e-3
    assert max_residual(klein_gordon.problem(8, 8)[0], klein_gordon.exact) < 1e-3
    assert max_residual(convection.problem(8, 8, 8)[0], convection.exact) < 1e-4
    problem, transform = flow.problem(8, 8)
    assert max_residual(problem, flow.exact) < 1e-4
    p = jnp.asarray([0.0, 1.3, -0.4])
    assert_close(transform(p, 5.0), flow.exact(p), rtol=1e-6, what="built-in initial value")


def test_klein_gordon_conditions_vanish_on_the_exact_solution():
    case = KleinGordon()
    problem, _ = case.problem(8, 16)
    assert {"initial", "initial_rate"} <= set(problem.constraints)
    batch = problem.sampler()(jax.random.key(1), jnp.asarray(0))
    terms = problem.terms(case.exact, batch)
    assert all(float(v) < 1e-8 for k, v in terms.items() if k != "residual"), terms


def test_klein_gordon_built_in_initial_value_and_rate():
    case = KleinGordon()
    problem, transform = case.problem(8, 16, hard_initial=True)
    assert not {"initial", "initial_rate"} & set(problem.constraints)

    def model(p):  # any network output: the transform must still meet u0 and u_t(0)
        return transform(p, jnp.sin(3 * p[0] + p[1]) * p[2] + 2.0)

    for x, y in [(0.3, -0.7), (-1.0, 0.5), (0.9, 0.9)]:
        p = jnp.asarray([0.0, x, y])
        assert_close(model(p), case.exact(p), rtol=1e-6, what="u(0)")
        rate = jax.jvp(model, (p,), (jnp.asarray([1.0, 0.0, 0.0]),))[1]
        assert_close(rate, 2.0 * x * y, rtol=1e-5, atol=1e-6, what="u_t(0)")


def test_lshape_samplers_stay_on_the_lshape():
    inside = np.asarray(InteriorPoints(LSHAPE, 2000)(jax.random.key(0), jnp.asarray(0)))
    assert np.all(np.abs(inside) <= 1) and not np.any((inside[:, 0] > 0) & (inside[:, 1] > 0))
    # uniform: each of the three unit quadrants holds a third of the points
    quadrants = [np.mean((np.sign(inside[:, 0]) == sx) & (np.sign(inside[:, 1]) == sy)) for sx, sy in
                 [(-1, -1), (-1, 1), (1, -1)]]
    np.testing.assert_allclose(quadrants, 1 / 3, atol=0.04)
    edge = np.asarray(BoundaryPoints(LSHAPE, 2000)(jax.random.key(0), jnp.asarray(0)))
    on_outer = np.isclose(np.abs(edge).max(axis=1), 1.0)
    on_inner = (np.isclose(edge[:, 0], 0) & (edge[:, 1] >= 0)) | (np.isclose(edge[:, 1], 0) & (edge[:, 0] >= 0))
    assert np.all(on_outer | on_inner)


def test_references_are_consistent():
    ref = Convection(30.0, nu=0.1).reference(nt=5, nx=32)
    t, x = ref.t.values[:, None], ref.x.values[None, :]
    assert_close(ref.reference.values, np.exp(-0.1 * t) * np.sin(x - 30 * t), rtol=0, atol=1e-10, what="spectral")
    poisson = PoissonLShape().reference()
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
    edge = BoundaryPoints(LSHAPE, 500)(jax.random.key(1), jnp.asarray(0))
    inside = InteriorPoints(LSHAPE, 2000)(jax.random.key(2), jnp.asarray(0))
    assert float(jnp.max(jnp.abs(jax.vmap(LSHAPE.distance)(edge)))) < 1e-6
    assert float(jnp.min(jax.vmap(LSHAPE.distance)(inside))) > 0


def test_pig_run_with_adaptive_points_writes_a_recomputable_contract(tmp_path):
    overrides = {"train.steps": "20", "train.chunk": "10", "n_gaussians": "16", "n_points": "64",
                 "adaptive_points": "32",
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
    problem, transform = KleinGordon().problem(8, 8)  # t in [0, 10], (x, y) in [-1, 1]^2
    assert problem.domain.half_widths == (5.0, 1.0, 1.0)
    assert_close(problem.domain.normalise(jnp.asarray([10.0, -1.0, 0.5])), [1.0, -1.0, 0.5], rtol=1e-6,
                 what="box corner and midpoint in scaled units")
    class Config(PointwiseConfig):  # the embedding knobs only; pointwise_model never asks for the PDE
        def pde(self):
            return KleinGordon(), problem, transform

    config = Config(n_gaussians=3, sigma=0.5, sigma_units="physical")
    model = pointwise_model(problem, transform, config, key=jax.random.key(0))
    assert_close(model.embedding.scales[0, 0], [0.1, 0.5, 0.5], rtol=1e-5, what="0.5 in t, x, y units, scaled")


def test_balancing_names_map_to_strategies():
    assert set(BALANCING) == {"fixed", "grad_norm", "ntk"}
    assert balancing("grad_norm", momentum=0.5).momentum == 0.5
    assert type(balancing("ntk")).__name__ == "NTKBalancing"
    with pytest.raises(ValueError, match="balancing must be one of"):
        balancing("lra")


def test_flat_training_keys_name_their_new_place(tmp_path):
    with pytest.raises(ConfigError, match="train.steps"):
        run_experiment("helmholtz-pig", {"steps": "20"}, tmp_path / "run")
