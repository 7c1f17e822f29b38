"""A residual's mean square whose gradient is accumulated over cache-sized blocks of collocation points.

A PINN step keeps, for every collocation point, the value and derivative streams of every layer
(`sciml.pde._taylor`) until the reverse pass reads them back. At thousands of points these exceed the CPU's caches
and the step is bound by memory traffic, not arithmetic. Taking the value and the gradient one block of points at a
time (a `lax.scan` that accumulates both) keeps each block's streams in cache, with the same arithmetic;
`benchmarks/pinn_throughput.py` times the step with and without blocks.

Hand-written because XLA does not reorder a whole forward-then-reverse program into per-block passes, and
`jax.checkpoint` per block recomputes the forward pass (it was slower than accumulating when tried). A custom VJP
hands the accumulated gradient to any reverse-mode caller (`jax.grad`, the training engine, L-BFGS, vmapped
ensembles); forward mode (`jax.jvp`, `jax.hessian`) cannot pass through it: set the problem's ``block_points=0``.
Being reverse-only, the blocks trace their derivative pass under `sciml.pde._taylor.reverse_mode_only`, whose dense
layers take the weight gradient in the form XLA's CPU matrix kernels run fastest.

On a CPU the points are split over one XLA device per core (`sciml` starts the CPU backend that way), each device
running the blocks of its own points on its core, and the sums added (`shard_map`): XLA's CPU backend spreads only
its matrix products over the cores, so one device leaves a core idle during the elementwise derivative arithmetic
(the split ran the 4 x 64 Burgers step 1.8x faster on 2 cores; `benchmarks/pinn_throughput.py`). Under a mesh
(`sciml.train.fit` with one) the points are split over its ``"data"`` axis instead.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jcore
from jax.sharding import AbstractMesh, Mesh, PartitionSpec
from jaxtyping import Array, Float

from sciml.pde._taylor import reverse_mode_only
from sciml.train._sharding import DATA_AXIS

# Intermediate values of a block's program (counted before XLA fuses them, so a calibrated budget, not bytes held).
# A device over all cores: on 2 cores blocks of 2048 points were fastest for a 4 x 64 MLP with second derivatives
# (about 2.7e7 intermediates), and 512-2048 points for 6 x 128.
BLOCK_FLOATS = 2**25
# A device on one core (the points split over the cores): 512 points for 4 x 64 (47 steps/s against 43 at 1024 and 37
# at 2048), 256 for 6 x 128 (2.36 steps/s against 2.09 at 1024).
CORE_BLOCK_FLOATS = 2**23
# Blocks are never smaller than this (more, smaller operations per step), nor the points of a device in a split.
MIN_BLOCK_POINTS = 256


def intermediate_floats(fn: Callable, point: Float[Array, " d"]) -> int:
    """The number of floating-point values `fn` computes at one point (all its program's intermediates)."""

    def count(jaxpr) -> int:
        total = 0
        for eqn in jaxpr.eqns:
            for sub in jcore.jaxprs_in_params(eqn.params):
                total += count(sub)
            total += sum(v.aval.size for v in eqn.outvars
                         if hasattr(v.aval, "dtype") and jnp.issubdtype(v.aval.dtype, jnp.inexact))
        return total

    return count(jax.make_jaxpr(fn)(point).jaxpr)


def auto_block_points(fn: Callable, points: Float[Array, "n d"]) -> int:
    """Points per block for `blocked_mean_square` on this backend: 0 (no blocks) off the CPU, where large batches
    keep an accelerator busy; else the largest power of two whose intermediates fit the budget of the device running
    them (`CORE_BLOCK_FLOATS` when the points are split over one device per core, else `BLOCK_FLOATS`), at least
    `MIN_BLOCK_POINTS`."""
    if jax.default_backend() != "cpu":
        return 0
    budget = CORE_BLOCK_FLOATS if point_split(points) is not None else BLOCK_FLOATS
    per_point = max(1, intermediate_floats(lambda p: fn(p[None]), points[0]))
    block = 1 << max(0, (budget // per_point).bit_length() - 1)
    return max(block, MIN_BLOCK_POINTS)


def blocked_mean_square(fn: Callable, model, points: Float[Array, "n d"], block_points: int) -> Float[Array, ""]:
    """``mean(fn(model, points) ** 2)`` over points and outputs, its gradient accumulated block by block.

    Args:
        fn: ``fn(model, points (b, d)) -> (b, ...)``, pointwise (a point's output depends on that point only).
        model: the differentiated argument (any pytree; its floating-point arrays get gradients).
        points: the n points; padded (with weight zero) to a whole number of blocks.
        block_points: points per block (one block when at least n); 0 evaluates all points at once with plain
            autodiff, the one setting forward mode can pass through.
    """
    n = points.shape[0]
    if block_points <= 0:
        return jnp.mean(jnp.square(fn(model, points)))
    mesh = point_split(points)
    if mesh is None:
        return _in_blocks(fn, model, points, block_points, n)
    arrays, static = eqx.partition(model, eqx.is_array)

    def local(arrays, points):
        return jax.lax.psum(_in_blocks(fn, eqx.combine(arrays, static), points, block_points, n), DATA_AXIS)

    return jax.shard_map(local, mesh=mesh, in_specs=(PartitionSpec(), PartitionSpec(DATA_AXIS)),
                         out_specs=PartitionSpec(), axis_names={DATA_AXIS}, check_vma=False)(arrays, points)


def point_split(points: Float[Array, "n d"]) -> Mesh | AbstractMesh | None:
    """The mesh whose ``"data"`` axis splits the n points, each device running the blocks of its own points (left to
    XLA's sharding propagation, the loop over blocks gathers every point onto every device), or None (one device
    takes them all).

    Under a mesh (a step traced by `sciml.train.fit` with one): its ``"data"`` axis when that divides n (a mesh of
    one device keeps the points on it). Under no mesh, on a CPU backend with several devices (one per core, as
    `sciml` starts it): those devices, when they divide n, each gets at least `MIN_BLOCK_POINTS` (fewer ran slower
    split: a 2 x 16 MLP on 256 points 7%, on 64 points 33%; 1024 points of a 3 x 32 MLP ran 2.7x faster), and the
    points are traced (under `jax.jit`; JAX runs the blocks' custom VJP inside `shard_map` only when compiled).
    """
    n = points.shape[0]
    mesh = jax.sharding.get_abstract_mesh()
    if not mesh.empty:
        split = DATA_AXIS in mesh.axis_names and mesh.shape[DATA_AXIS] > 1 and n % mesh.shape[DATA_AXIS] == 0
        return mesh if split else None
    if jax.default_backend() != "cpu" or jax.process_count() > 1 or not isinstance(points, jax.core.Tracer):
        return None
    devices = jax.local_devices()
    split = len(devices) > 1 and n % len(devices) == 0 and n // len(devices) >= MIN_BLOCK_POINTS
    return Mesh(np.asarray(devices), (DATA_AXIS,)) if split else None


def _in_blocks(fn: Callable, model, points: Float[Array, "m d"], block_points: int, total: int) -> Float[Array, ""]:
    """The points' sum of squares over `total` times the outputs, its gradient accumulated block by block."""
    m = points.shape[0]
    block_points = min(block_points, m)
    blocks = -(-m // block_points)
    padded = jnp.concatenate([points, jnp.broadcast_to(points[:1], (blocks * block_points - m, points.shape[1]))])
    weights = (jnp.arange(blocks * block_points) < m).astype(points.dtype)
    return _blocked(model, fn, padded.reshape(blocks, block_points, -1), weights.reshape(blocks, block_points), total)


def _block_sum(model, fn: Callable, points, weights, n: int):
    """The block's share of the mean square: its weighted sum of squares over n points times the outputs."""
    values = fn(model, points)
    squares = jnp.square(values).reshape(points.shape[0], -1)
    return jnp.sum(weights[:, None] * squares) / (n * squares.shape[1])


@eqx.filter_custom_vjp
def _blocked(model, fn, points, weights, n):
    return jax.lax.map(lambda block: _block_sum(model, fn, *block, n), (points, weights)).sum()


@_blocked.def_fwd
def _blocked_fwd(perturbed, model, fn, points, weights, n):
    varying, fixed = eqx.partition(model, perturbed)

    def block_value_and_grad(varying, block):
        return jax.value_and_grad(lambda v: _block_sum(eqx.combine(v, fixed), fn, *block, n))(varying)

    def accumulate(total, block):
        return jax.tree.map(jnp.add, total, block_value_and_grad(varying, block)), None

    value = jax.eval_shape(lambda: _block_sum(model, fn, points[0], weights[0], n))
    zero = (jnp.zeros((), value.dtype), jax.tree.map(jnp.zeros_like, varying))
    with reverse_mode_only():
        (value, gradient), _ = jax.lax.scan(accumulate, zero, (points, weights))
    return value, gradient


@_blocked.def_bwd
def _blocked_bwd(gradient, cotangent, perturbed, model, fn, points, weights, n):
    return jax.tree.map(lambda g: cotangent * g, gradient)
