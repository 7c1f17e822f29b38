"""Sharding over a device mesh: batches split on their leading axis (data parallelism) and, on a data x space mesh,
fields split along a spatial axis too (for fields whose activations do not fit one device); parameters replicated.

A batch's layout is a `PartitionSpec` per array (``batch_spec``): None splits the leading axis over ``"data"``;
``PartitionSpec("data", None, "space")`` splits a ``(batch, channel, x, y)`` field over the batch and x. Inside the
compiled step XLA propagates the layout through the model and inserts the collectives (halo exchanges for
convolutions, all-to-alls or gathers around FFTs, the gradient all-reduce); results equal the unsharded step.

The mesh may span several processes (`jax.distributed`): `replicate` and `shard_batch` then take the same host value
in every process and each process places its own part.
"""

from __future__ import annotations

import contextlib
import math

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from sciml._errors import ConfigError

DATA_AXIS = "data"
SPACE_AXIS = "space"


def _devices(n: int, who: str) -> list:
    devices = jax.devices()
    if not 1 <= n <= len(devices):
        fix = f"ask for at most {len(devices)}"
        if n > len(devices) and devices[0].platform == "cpu":
            fix += (f", or start the process with one CPU device per core (XLA_FLAGS="
                    f"--xla_force_host_platform_device_count={n}; docs/multi-device.md)")
        raise ConfigError(f"{who}: asked for {n} devices, {len(devices)} available; {fix}")
    if jax.process_count() > 1 and n != len(devices):
        raise ConfigError(f"{who}: a run of {jax.process_count()} processes splits its batches over all "
                          f"{len(devices)} devices of all processes, got {n}; use them all")
    return devices[:n]


def data_mesh(n_devices: int | None = None) -> Mesh:
    """A 1-D mesh named ``"data"`` over the first `n_devices` devices (all by default, across processes too)."""
    n = len(jax.devices()) if n_devices is None else n_devices
    return Mesh(np.asarray(_devices(n, "data_mesh")), (DATA_AXIS,))


def data_space_mesh(data: int, space: int) -> Mesh:
    """A 2-D mesh of `data` x `space` devices with axes ``("data", "space")``: batches split over the first, a spatial
    axis of each field over the second (name it in `fit`'s ``batch_spec``)."""
    if data < 1 or space < 1:
        raise ConfigError(f"data_space_mesh: expected data >= 1 and space >= 1, got data={data}, space={space}")
    devices = _devices(data * space, f"data_space_mesh({data}, {space})")
    return Mesh(np.asarray(devices).reshape(data, space), (DATA_AXIS, SPACE_AXIS))


def tracing_under(mesh: Mesh | None):
    """Context for tracing a step over `mesh` (`jax.set_mesh`; nothing without one): code inside can read the mesh
    with `jax.sharding.get_abstract_mesh`, e.g. to split a loss over the ``"data"`` axis by hand (`shard_map`)."""
    return contextlib.nullcontext() if mesh is None else jax.set_mesh(mesh)


def replicate(tree, mesh: Mesh):
    """Place every array of `tree` on all devices of `mesh`."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def constrain_replicated(tree, mesh: Mesh | None):
    """Inside jit: ask XLA to leave `tree` whole on every device of the mesh (e.g. a step's state and metrics)."""
    if mesh is None:
        return tree
    return jax.lax.with_sharding_constraint(tree, NamedSharding(mesh, PartitionSpec()))


def _is_spec(x) -> bool:
    return x is None or isinstance(x, PartitionSpec)


def batch_specs(tree, spec=None, leading: int = 0):
    """The `PartitionSpec` of every array of the batch `tree`, shifted right by `leading` unsplit axes.

    `spec`: None (the leading axis over ``"data"``), one `PartitionSpec` for every array, or a pytree of them (None
    entries: the leading axis over ``"data"``) with the batch's structure.
    """
    default = PartitionSpec(DATA_AXIS)
    if _is_spec(spec):
        specs = jax.tree_util.tree_map(lambda _: default if spec is None else spec, tree)
    else:
        specs = jax.tree_util.tree_map(lambda s, _: default if s is None else s, spec, tree, is_leaf=_is_spec)
    return jax.tree_util.tree_map(lambda s: PartitionSpec(*([None] * leading), *s), specs, is_leaf=_is_spec)


def _check_divisible(tree, mesh: Mesh, specs) -> None:
    def check(leaf, spec):
        for axis, names in enumerate(spec):
            if names is None:
                continue
            names = names if isinstance(names, tuple) else (names,)
            n = math.prod(mesh.shape[name] for name in names)
            if np.ndim(leaf) <= axis or np.shape(leaf)[axis] % n:
                raise ConfigError(
                    f"cannot shard a batch array of shape {np.shape(leaf)} on axis {axis} over {n} devices "
                    f"({' x '.join(names)}): the size must be a multiple of {n}. Choose a batch/collocation count "
                    "(or grid size) divisible by the device count."
                )

    jax.tree_util.tree_map(check, tree, specs)


def shard_batch(tree, mesh: Mesh, leading: int = 0, spec=None):
    """Place `tree`'s arrays split over the mesh (host -> devices): axis `leading` over ``"data"``, or as `spec`
    says (see `batch_specs`)."""
    specs = batch_specs(tree, spec, leading)
    _check_divisible(tree, mesh, specs)
    return jax.tree_util.tree_map(lambda x, s: jax.device_put(x, NamedSharding(mesh, s)), tree, specs)


def constrain_batch(tree, mesh: Mesh | None, spec=None):
    """Inside jit: ask XLA to keep a batch produced on device split over the mesh as `spec` says."""
    if mesh is None:
        return tree
    specs = batch_specs(tree, spec)
    _check_divisible(tree, mesh, specs)
    return jax.tree_util.tree_map(lambda x, s: jax.lax.with_sharding_constraint(x, NamedSharding(mesh, s)), tree,
                                  specs)
