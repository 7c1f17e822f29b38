"""Data parallelism, and batch x space sharding of 2D fields: a step sharded over 4 CPU devices gives the update of
the unsharded step."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_close
from jax.sharding import PartitionSpec

from sciml import ConfigError
from sciml.nn import FNO, MLP, UNet
from sciml.pde import Problem, UniformPoints, interval, time_space
from sciml.pinn import PINN, PINNLoss
from sciml.train import data_mesh, data_space_mesh, fit, shard_batch
from sciml.train._sharding import batch_specs


def _burgers_like():
    domain = time_space(0.0, 1.0, interval(-1.0, 1.0))
    problem = Problem(domain, lambda u: u.t + u.value * u.x - 0.01 * u.xx, UniformPoints(domain, 64), {})
    model = PINN(domain, MLP(2, "scalar", 16, 2, key=jax.random.key(0)))
    return model, PINNLoss(problem)


def _flat(model):
    return np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))])


@pytest.mark.skipif(jax.device_count() < 4, reason="needs 4 (forced) CPU devices")
def test_sharded_collocation_step_matches_unsharded():
    model, loss = _burgers_like()
    kwargs = dict(key=jax.random.key(1), chunk=5)
    single = fit(model, loss, loss.problem.sampler(), optax.adam(1e-2), 5, **kwargs)
    sharded = fit(model, loss, loss.problem.sampler(), optax.adam(1e-2), 5, mesh=data_mesh(4), **kwargs)
    assert_close(_flat(sharded.model), _flat(single.model), rtol=1e-5, atol=1e-6, what="sharded vs single device")
    assert len(sharded.model.net.layers[0].weight.sharding.device_set) == 4  # replicated on every device


@pytest.mark.skipif(jax.device_count() < 4, reason="needs 4 (forced) CPU devices")
def test_sharded_host_batches_match_unsharded():
    model, loss = _burgers_like()
    points = np.asarray(loss.problem.interior(jax.random.key(2), jnp.asarray(0)))
    batches = lambda step: {"residual": points}  # noqa: E731
    single = fit(model, loss, batches, optax.adam(1e-2), 4, key=jax.random.key(1), chunk=2)
    sharded = fit(model, loss, batches, optax.adam(1e-2), 4, key=jax.random.key(1), chunk=2, mesh=data_mesh(4))
    assert_close(_flat(sharded.model), _flat(single.model), rtol=1e-5, atol=1e-6, what="sharded host batches")


def test_batches_that_do_not_split_evenly_are_rejected():
    with pytest.raises(ConfigError, match="multiple of 4"):
        shard_batch(np.zeros((10, 2)), data_mesh(4))


def _field_pairs(n: int = 16):
    """Four smooth periodic 2D fields (batch, channel, x, y) and their diffused images (a Fourier-space decay)."""
    x = np.arange(n) / n
    xx, yy = np.meshgrid(x, x, indexing="ij")
    u = np.stack([np.sin(2 * np.pi * (k * xx + yy)) + 0.5 * np.cos(2 * np.pi * (xx - k * yy)) for k in range(1, 5)])
    k = np.fft.fftfreq(n, 1 / n)
    decay = np.exp(-0.01 * (k[:, None] ** 2 + k[None, :] ** 2))
    target = np.real(np.fft.ifft2(np.fft.fft2(u) * decay))
    return {"u": u[:, None].astype(np.float32), "target": target[:, None].astype(np.float32)}


def _field_loss(model, batch, key):
    mse = jnp.mean((jax.vmap(model)(batch["u"]) - batch["target"]) ** 2)
    return mse, {"mse": mse}


# (batch, channel, x, y): batch over "data", y over "space". (XLA:CPU fails a 2D FFT of fields split along x: a
# RET_CHECK on the layout in its FFT thunk; split along y, XLA gathers the field around the FFT.)
FIELDS = PartitionSpec("data", None, None, "space")


@pytest.mark.skipif(jax.device_count() < 4, reason="needs 4 (forced) CPU devices")
@pytest.mark.parametrize("network", ["fno", pytest.param("unet", marks=pytest.mark.slow)])  # U-Net: a minute to compile
def test_batch_by_space_sharded_2d_step_matches_unsharded(network):
    key = jax.random.key(0)
    if network == "fno":
        model = FNO(1, 1, width=8, modes=4, depth=2, ndim=2, projection=16, key=key)
    else:
        model = UNet(1, 1, features=4, levels=2, ndim=2, key=key)
    batch = _field_pairs()
    # Plain gradient steps: the update is the gradient itself (Adam's first steps would magnify the rounding of
    # near-zero gradient entries, which depends on the reduction order).
    kwargs = dict(key=jax.random.key(1), chunk=2)
    single = fit(model, _field_loss, batch, optax.sgd(0.1), 2, **kwargs)
    mesh = data_space_mesh(2, 2)
    sharded = fit(model, _field_loss, batch, optax.sgd(0.1), 2, mesh=mesh, batch_spec=FIELDS, **kwargs)
    assert_close(_flat(sharded.model), _flat(single.model), rtol=1e-5, atol=1e-6, what=f"{network}: batch x space")
    assert_close(sharded.history[-1]["loss"], single.history[-1]["loss"], rtol=1e-5, what=f"{network}: loss")
    placed = shard_batch(batch, mesh, spec=FIELDS)["u"]
    assert placed.addressable_shards[0].data.shape == (2, 1, 16, 8)  # each device holds half the batch, half of y


def test_batch_specs_of_host_chunks_and_mixed_batches():
    fields, params = np.zeros((4, 1, 16, 16)), np.zeros((4, 2))
    specs = batch_specs({"u": fields, "p": params}, {"u": FIELDS, "p": None}, leading=1)  # a stacked chunk of steps
    assert specs == {"u": PartitionSpec(None, "data", None, None, "space"), "p": PartitionSpec(None, "data")}
    assert batch_specs(params) == PartitionSpec("data")


def test_a_grid_that_does_not_split_over_space_is_rejected():
    with pytest.raises(ConfigError, match=r"on axis 3 over 2 devices \(space\)"):
        shard_batch(np.zeros((2, 1, 16, 15)), data_space_mesh(1, 2), spec=FIELDS)


def test_asking_for_more_devices_than_there_are_names_the_cpu_fix():
    n = len(jax.devices()) + 1
    with pytest.raises(ConfigError, match=rf"asked for {n} devices, {n - 1} available; ask for at most {n - 1}, or "
                                          rf"start the process .*--xla_force_host_platform_device_count={n}"):
        data_mesh(n)
    with pytest.raises(ConfigError, match=r"asked for 0 devices.*ask for at most \d+$"):
        data_mesh(0)
