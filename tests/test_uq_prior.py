"""Randomized priors, bootstrap subsets, ensembles trained as one program, and multi-fidelity stacking."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from conftest import assert_close

from sciml.train import fit
from sciml.uq import (
    BootstrapSampler,
    MultiFidelity,
    MultiFidelityLoss,
    RandomizedPrior,
    bootstrap_subsets,
    ensemble_loss,
    ensemble_predict,
    make_ensemble,
    member,
    mse_member_loss,
    out_of_bag_mask,
    trainable_filter,
)


def _rp(key, n_in=2, prior_scale=1.0):
    return RandomizedPrior(n_in, 1, width=8, depth=2, prior_scale=prior_scale, key=key)


def test_randomized_prior_output_and_scale(key):
    model = _rp(key, prior_scale=2.5)
    x = jnp.array([0.3, -0.7])
    assert_close(model(x), model.trainable(x) + 2.5 * model.prior(x), rtol=1e-6, what="f = g + beta p")
    plain = _rp(key, prior_scale=0.0)
    assert_close(plain(x), model.trainable(x), rtol=1e-6, what="beta = 0 gives the trainable net")
    grads = jax.grad(lambda m: m(x).sum())(model)
    assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree_util.tree_leaves(grads.prior))


def test_bootstrap_subsets_and_out_of_bag(key):
    subsets = np.asarray(bootstrap_subsets(50, 4, 0.8, key=key))
    assert subsets.shape == (4, 40)
    assert all(len(set(row)) == 40 for row in subsets)
    assert len({tuple(row) for row in subsets}) == 4
    mask = np.asarray(out_of_bag_mask(jnp.asarray(subsets), 50))
    assert (mask.sum(axis=1) == 10).all()
    assert all(mask[m, subsets[m]].sum() == 0 for m in range(4))


def test_ensemble_in_one_program_equals_members_trained_alone(key):
    """Summed member losses + Adam train every member exactly as if alone; the prior stays frozen."""
    members, batch, steps = 3, 16, 25
    ensemble = make_ensemble(_rp, members, key=key)
    x = jax.random.normal(jax.random.fold_in(key, 1), (members, batch, 2))
    y = jnp.sin(x[..., :1]) + x[..., 1:] ** 2
    loss = ensemble_loss(mse_member_loss)
    together = fit(ensemble, loss, {"data": (x, y)}, optax.adam(1e-2), steps, key=key, chunk=25,
                   trainable=trainable_filter(ensemble), progress=False).model
    for m in range(members):
        alone_init = jax.tree_util.tree_map(lambda a, m=m: a[m:m + 1] if eqx.is_array(a) else a, ensemble)
        alone = fit(alone_init, loss, {"data": (x[m:m + 1], y[m:m + 1])}, optax.adam(1e-2), steps, key=key,
                    chunk=25, trainable=trainable_filter(alone_init), progress=False).model
        for a, b in zip(jax.tree_util.tree_leaves(member(together, m)), jax.tree_util.tree_leaves(member(alone, 0)),
                        strict=True):
            assert_close(a, b, rtol=2e-5, atol=1e-6, what=f"member {m} parameters")
    for before, after in zip(jax.tree_util.tree_leaves(ensemble.prior), jax.tree_util.tree_leaves(together.prior),
                             strict=True):
        assert_close(after, before, rtol=0, what="frozen prior")
    assert float(jnp.abs(together.trainable.layers[0].weight - ensemble.trainable.layers[0].weight).max()) > 0


def test_bootstrap_sampler_draws_from_each_members_subset(key):
    inputs = jnp.arange(30.0)[:, None]
    subsets = bootstrap_subsets(30, 2, 0.5, key=key)
    sampler = BootstrapSampler({"data": (inputs, 2 * inputs, subsets)}, batch_size=64)
    x, y = sampler(key, jnp.asarray(3))["data"]
    assert x.shape == (2, 64, 1)
    for m in range(2):
        assert set(np.asarray(x[m, :, 0]).astype(int)) <= set(np.asarray(subsets[m]).tolist())
    assert_close(y, 2 * x, rtol=0, what="pairs stay aligned")


def test_multifidelity_detaches_low_fidelity(key):
    k_lo, k_hi = jax.random.split(key)
    model = MultiFidelity(_rp(k_lo, 3), _rp(k_hi, 1 + 3), use_state=True)
    x = jnp.array([0.1, 0.2, -0.3])
    assert_close(model(x), model.high(jnp.concatenate([model.low(x), x])), rtol=1e-6, what="HF([LF(x), x])")
    batch = {"hf": (x[None], jnp.ones((1, 1))), "lf": (x[None], jnp.zeros((1, 1)))}
    hf_only = MultiFidelityLoss(alpha=0.0)
    grads = jax.grad(lambda m: hf_only(m, batch, key)[0])(model)
    assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree_util.tree_leaves(grads.low))
    assert any(float(jnp.abs(g).max()) > 0 for g in jax.tree_util.tree_leaves(grads.high.trainable))
    ensemble = make_ensemble(lambda k: MultiFidelity(_rp(k, 3), _rp(jax.random.fold_in(k, 1), 1)), 4, key=key)
    assert ensemble_predict(ensemble, jnp.ones((5, 3))).shape == (4, 5, 1)
