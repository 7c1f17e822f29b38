"""Data-parallel sharding over a 1-D device mesh: batches split on their leading axis, parameters replicated.

The mesh may span several processes (`jax.distributed`): `replicate` and `shard_batch` then take the same host value
in every process and each process places its own part.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from sciml._errors import ConfigError

DATA_AXIS = "data"


def data_mesh(n_devices: int | None = None) -> Mesh:
    """A 1-D mesh named ``"data"`` over the first `n_devices` devices (all by default, across processes too)."""
    devices = jax.devices()
    n = len(devices) if n_devices is None else n_devices
    if not 1 <= n <= len(devices):
        raise ConfigError(f"data_mesh: asked for {n} devices, {len(devices)} available; pass n_devices <= "
                          f"{len(devices)}")
    if jax.process_count() > 1 and n != len(devices):
        raise ConfigError(f"data_mesh: a run of {jax.process_count()} processes splits its batches over all "
                          f"{len(devices)} devices of all processes, got n_devices={n}; pass none")
    return Mesh(np.asarray(devices[:n]), (DATA_AXIS,))


def replicate(tree, mesh: Mesh):
    """Place every array of `tree` on all devices of `mesh`."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def constrain_replicated(tree, mesh: Mesh | None):
    """Inside jit: ask XLA to leave `tree` whole on every device of the mesh (e.g. a step's state and metrics)."""
    if mesh is None:
        return tree
    return jax.lax.with_sharding_constraint(tree, NamedSharding(mesh, PartitionSpec()))


def batch_sharding(mesh: Mesh, leading: int = 0) -> NamedSharding:
    """Sharding that splits axis `leading` over the mesh (earlier axes replicated)."""
    return NamedSharding(mesh, PartitionSpec(*([None] * leading), DATA_AXIS))


def _check_divisible(tree, mesh: Mesh, leading: int) -> None:
    n = mesh.devices.size
    for leaf in jax.tree_util.tree_leaves(tree):
        if np.ndim(leaf) <= leading or np.shape(leaf)[leading] % n:
            raise ConfigError(
                f"cannot shard a batch array of shape {np.shape(leaf)} on axis {leading} over {n} devices: the size "
                f"must be a multiple of {n}. Choose a batch/collocation count divisible by the device count."
            )


def shard_batch(tree, mesh: Mesh, leading: int = 0):
    """Place `tree`'s arrays split along axis `leading` over the mesh's data axis (host -> devices)."""
    _check_divisible(tree, mesh, leading)
    return jax.device_put(tree, batch_sharding(mesh, leading))


def constrain_batch(tree, mesh: Mesh | None):
    """Inside jit: ask XLA to keep a batch produced on device split over the mesh."""
    if mesh is None:
        return tree
    _check_divisible(tree, mesh, 0)
    return jax.lax.with_sharding_constraint(tree, batch_sharding(mesh))
