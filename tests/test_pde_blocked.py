"""The residual's mean square taken block by block (`blocked_mean_square`): value and gradient equal to taking all
points at once, through the problem, the engine, an ensemble and the choice of block size."""

import os
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.nn import MLP
from sciml.pde import FixedPoints, PointSets, Problem, interval, time_space
from sciml.pde._blocked import (
    CORE_BLOCK_FLOATS,
    MIN_BLOCK_POINTS,
    auto_block_points,
    blocked_mean_square,
    intermediate_floats,
    point_split,
)
from sciml.pinn import PINN, EnsembleLoss, HardConstraint, PINNLoss, RecipeLoss
from sciml.train import LBFGS, data_mesh, fit, tracing_under

DOMAIN = time_space(0.0, 1.0, interval(-1.0, 1.0))
POINTS = DOMAIN.uniform(jax.random.key(1), 2000)


def burgers(u):
    return u.t + u.value * u.x - 0.01 * u.xx


def system(u):
    """A vector residual (two outputs per point)."""
    return jnp.stack([u.t - u.xx, u.value * u.x])


def initial(p):
    return -jnp.sin(jnp.pi * p[1])


def distance(p):
    return p[0] * (1 - p[1] ** 2)


def pinn(key=0, width=16):
    transform = HardConstraint(initial, distance)
    return PINN(DOMAIN, MLP(2, "scalar", width, 2, key=jax.random.key(key)), transform=transform)


def problem(residual=burgers, block_points=None):
    return Problem(DOMAIN, residual, FixedPoints(POINTS), {}, block_points=block_points)


@pytest.mark.parametrize("devices", [1, "all"])
@pytest.mark.parametrize("residual", [burgers, system])
@pytest.mark.parametrize("block", [128, 300, 999])
def test_value_and_gradient_equal_all_points_at_once(residual, block, devices):
    """2000 points in blocks of 128 (the last padded), 300 and 999 (two points left), on one device (a mesh of one)
    and split over every CPU device (the default): the plain mean square's value and gradient to float32 rounding,
    under jit."""
    model, blocked, whole = pinn(), problem(residual, block), problem(residual, 0)

    def value_and_grad(p):
        return eqx.filter_jit(eqx.filter_value_and_grad(lambda m: p.terms(m, {"residual": POINTS})["residual"]))(model)

    with tracing_under(data_mesh(1) if devices == 1 else None):
        value, grads = value_and_grad(blocked)
    reference, reference_grads = value_and_grad(whole)
    direct = jnp.mean(jnp.square(whole.pointwise_residual(model, POINTS)))
    assert_close(reference, direct, rtol=1e-6)
    assert_close(value, reference, rtol=1e-5)
    for g, r in zip(jax.tree.leaves(grads), jax.tree.leaves(reference_grads), strict=True):
        assert_close(g, r, rtol=2e-4, atol=1e-6 * float(jnp.max(jnp.abs(r))))


def test_gradient_scales_with_the_outer_cotangent():
    """The custom VJP multiplies the accumulated gradient by the caller's cotangent (here d(3 L^2)/dL = 6 L)."""
    model, fn = pinn(), problem(block_points=128).pointwise_residual

    def outer(block):
        return eqx.filter_grad(lambda m: 3 * blocked_mean_square(fn, m, POINTS, block) ** 2)(model)

    for g, r in zip(jax.tree.leaves(outer(128)), jax.tree.leaves(outer(0)), strict=True):
        assert_close(g, r, rtol=2e-4, atol=1e-7)


def test_training_trajectory_matches_and_ensembles_vmap_through_it():
    """Five Adam steps and three float64 L-BFGS steps through `fit` with blocks land where they land without; a
    two-member ensemble (vmapped over the members, each its own loss) gives each member the gradient of its own
    loss."""
    results = []
    for block in (128, 0):
        loss = PINNLoss(problem(block_points=block))
        results.append(fit(pinn(), loss, PointSets({"residual": loss.problem.interior}), optax.adam(1e-3), 5,
                           key=jax.random.key(0), chunk=5, progress=False,
                           lbfgs=LBFGS(3, dtype="float64")).model)
    for a, b in zip(jax.tree.leaves(eqx.filter(results, eqx.is_array)[0]),
                    jax.tree.leaves(eqx.filter(results, eqx.is_array)[1]), strict=True):
        assert_close(a, b, rtol=1e-4, atol=1e-6)

    members = [pinn(0), pinn(1)]
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *[eqx.filter(m, eqx.is_array) for m in members])
    ensemble = eqx.combine(stacked, eqx.partition(members[0], eqx.is_array)[1])
    batch = {"residual": POINTS}
    grads = eqx.filter_grad(lambda m: EnsembleLoss([PINNLoss(problem(block_points=128))] * 2)(m, batch, None)[0])(
        ensemble)
    for k, member in enumerate(members):
        own = eqx.filter_grad(lambda m: PINNLoss(problem(block_points=0))(m, batch, None)[0])(member)
        for g, r in zip(jax.tree.leaves(grads), jax.tree.leaves(own), strict=True):
            assert_close(g[k], r, rtol=2e-4, atol=1e-7)


@pytest.mark.skipif(jax.device_count() < 4, reason="needs 4 (forced) CPU devices")
@pytest.mark.parametrize("under", ["mesh", "no mesh"])
def test_points_split_over_the_devices_stay_on_their_devices(under):
    """Traced under a 4-device data mesh, or under none on a CPU of 4 devices (the default split), each device takes
    the blocks of its 500 points (four blocks of 128, the last padded) and the sums are added: the value and gradient
    of all points at once, no point gathered onto every device; `fit` with the mesh lands where it lands without.
    2002 points (not a multiple of 4), a mesh of one device and, with no mesh, fewer than MIN_BLOCK_POINTS per device
    take the unsplit path; a model committed to one device trains through the split."""
    mesh, model = data_mesh(4), pinn()
    blocked, whole = problem(block_points=128), problem(block_points=0)
    sharded = jax.device_put(POINTS, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data")))

    def value_and_grad(p):
        return jax.jit(lambda points: eqx.filter_value_and_grad(
            lambda m: p.terms(m, {"residual": points})["residual"])(model))

    def split_of(n):
        """`point_split` of n traced points."""
        found = []
        jax.jit(lambda p: found.append(point_split(p)) or p).lower(jnp.zeros((n, 2)))
        return found[0]

    with tracing_under(mesh if under == "mesh" else None):
        split = split_of(2000)
        assert split is not None and split.shape == {"data": 4} and split_of(2002) is None
        assert (split_of(4 * MIN_BLOCK_POINTS - 4) is None) == (under == "no mesh")
        compiled = value_and_grad(blocked).lower(sharded if under == "mesh" else POINTS).compile()
    with tracing_under(data_mesh(1)):
        assert split_of(2000) is None
    assert point_split(POINTS) is None  # not traced: one device
    assert "all-gather(" not in compiled.as_text()
    value, grads = compiled(sharded if under == "mesh" else POINTS)
    reference, reference_grads = value_and_grad(whole)(POINTS)
    assert_close(value, reference, rtol=1e-5)
    for g, r in zip(jax.tree.leaves(grads), jax.tree.leaves(reference_grads), strict=True):
        assert_close(g, r, rtol=2e-4, atol=1e-6 * float(jnp.max(jnp.abs(r))))

    loss = PINNLoss(blocked)
    on_first_device = jax.tree.map(lambda x: jax.device_put(x, jax.devices()[0]) if eqx.is_array(x) else x, pinn())
    trained = [fit(start, loss, PointSets({"residual": loss.problem.interior}), optax.adam(1e-3), 5,
                   key=jax.random.key(0), chunk=5, progress=False, mesh=m).model
               for start, m in ((pinn(), mesh), (pinn(), None), (on_first_device, None))]
    for a, b, c in zip(*(jax.tree.leaves(eqx.filter(t, eqx.is_array)) for t in trained), strict=True):
        assert_close(a, b, rtol=1e-4, atol=1e-6)
        assert_close(c, b, rtol=1e-6)  # a model committed to one device trains as well (`fit` uncommits it)


def test_automatic_block_size():
    """On the CPU: a power of two, at least MIN_BLOCK_POINTS, smaller for a bigger network (more intermediates per
    point); a network small enough takes all 2000 points at once on one device; split over one device per core,
    blocks are the smaller budget's (CORE_BLOCK_FLOATS, a quarter of BLOCK_FLOATS)."""
    residual = problem().pointwise_residual

    def traced_block_points(model):
        """`auto_block_points` as a compiled step sees it (the points traced)."""
        found = []
        jax.jit(lambda p: found.append(auto_block_points(lambda q: residual(model, q), p)) or p).lower(POINTS)
        return found[0]

    sizes, split_sizes = {}, {}
    for width in (16, 64, 128):
        model = pinn(width=width)
        with tracing_under(data_mesh(1)):
            sizes[width] = traced_block_points(model)
        split_sizes[width] = traced_block_points(model)
        floats = intermediate_floats(lambda p, m=model: residual(m, p[None]), POINTS[0])
        assert floats > 3 * width  # at least the value and three derivative streams of one hidden layer
        expected = 1 << ((CORE_BLOCK_FLOATS // floats).bit_length() - 1)
        assert split_sizes[width] == max(expected, MIN_BLOCK_POINTS)
    assert all(s >= MIN_BLOCK_POINTS and s & (s - 1) == 0 for s in sizes.values())
    assert sizes[16] >= sizes[64] >= sizes[128] and sizes[16] > sizes[128]
    assert sizes[16] >= len(POINTS)
    assert all(split_sizes[w] <= sizes[w] for w in sizes) and split_sizes[128] < sizes[128]


def test_forward_mode_needs_no_blocks_and_bad_sizes_are_refused():
    """`jax.hessian` of the loss works with block_points=0; a negative size is refused with the fix."""
    model = pinn()
    params, static = eqx.partition(model, eqx.is_inexact_array)
    bias = params.net.layers[-1].bias

    def loss_of_bias(b):
        m = eqx.combine(eqx.tree_at(lambda p: p.net.layers[-1].bias, params, b), static)
        return problem(block_points=0).terms(m, {"residual": POINTS})["residual"]

    hessian = jax.hessian(loss_of_bias)(bias)
    assert hessian.shape == (1, 1) and np.isfinite(float(hessian[0, 0])) and float(hessian[0, 0]) > 0
    with pytest.raises(ConfigError, match="block_points must be"):
        problem(block_points=-1)


def test_recipe_loss_without_causal_weights_takes_blocks():
    """`RecipeLoss` (no causal weighting) keeps its residual term, the per-point square summed over the outputs and
    averaged over the points, in blocks as at once."""
    model, batch = pinn(), {"residual": POINTS}
    direct = jnp.mean(jnp.sum(jnp.square(problem(system, 0).pointwise_residual(model, POINTS)), axis=1))
    values, grads = [], []
    for block in (128, 0):
        value, grad = eqx.filter_value_and_grad(
            lambda m, b=block: RecipeLoss(problem(system, b)).term_values(m, batch)["residual"])(model)
        values.append(value)
        grads.append(jax.tree.leaves(grad))
    assert_close(values[1], direct, rtol=1e-6)
    assert_close(values[0], values[1], rtol=1e-5)
    for g, r in zip(*grads, strict=True):
        assert_close(g, r, rtol=2e-4, atol=1e-6 * float(jnp.max(jnp.abs(r))))


def test_sciml_starts_one_cpu_device_per_core():
    """A fresh process that imports sciml has one CPU device per available core; SCIML_CPU_DEVICES sets the count (1:
    one device); XLA_FLAGS naming a count or one XLA thread is left alone; a bad count warns and keeps the default."""
    cores = len(os.sched_getaffinity(0))
    probe = "import sciml, jax; print(jax.device_count())"

    def devices(**env):
        base = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "SCIML_CPU_DEVICES")}
        done = subprocess.run([sys.executable, "-W", "always", "-c", probe], env={**base, **env}, capture_output=True,
                              text=True, check=True)
        return int(done.stdout.split()[0]), done.stderr

    assert devices()[0] == cores
    assert devices(SCIML_CPU_DEVICES="3")[0] == 3
    assert devices(SCIML_CPU_DEVICES="1")[0] == 1
    assert devices(XLA_FLAGS="--xla_force_host_platform_device_count=5")[0] == 5
    assert devices(XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")[0] == 1
    count, warning = devices(SCIML_CPU_DEVICES="two")
    assert count == cores and "expected a positive number of CPU devices, got 'two'" in warning
