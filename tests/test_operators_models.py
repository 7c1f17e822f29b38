"""FNO, U-Net and CAPE: the Fourier layer against a NumPy reference, conditioning behaviour, shape errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

from sciml import ConfigError, DataError
from sciml.nn import (
    FNO,
    MPNN,
    CAPEBlock,
    CAPEConditioned,
    CAPEConditioning,
    Conditioning,
    CPSpectralConv,
    FNOBase,
    MPNNBase,
    NoConditioning,
    ParameterChannelConditioning,
    SpectralConv,
    UNet,
    UNetBase,
    cp_rank,
    parameter_count,
)
from sciml.nn._cape import matched_size
from sciml.nn._fno import periodic_conv, pointwise


def test_spectral_conv_matches_numpy_fourier_multiplier(key):
    conv = SpectralConv(2, 3, 4, 1, key=key)
    x = np.asarray(jax.random.normal(jax.random.fold_in(key, 1), (2, 16)))
    weights = np.asarray(conv.weights_real[0]) + 1j * np.asarray(conv.weights_imag[0])
    coefficients = np.fft.rfft(x, axis=1)
    out = np.zeros((3, 9), complex)
    out[:, :4] = np.einsum("ik,iok->ok", coefficients[:, :4], weights)
    assert_close(conv(jnp.asarray(x)), np.fft.irfft(out, n=16, axis=1), rtol=1e-4, atol=1e-6, what="spectral conv")


def _fourier_multiplier_2d(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """numpy's 2D Fourier layer: complex weights w (2 corners, cin, cout, m, m) on the two retained corners of
    rfft2(x) (the lowest m frequencies of both signs along the first axis), the rest dropped."""
    m, n = w.shape[-1], x.shape[1]
    c = np.fft.rfft2(x)
    out = np.zeros((w.shape[2], n, n // 2 + 1), complex)
    out[:, :m, :m] = np.einsum("ikl,iokl->okl", c[:, :m, :m], w[0])
    out[:, -m:, :m] = np.einsum("ikl,iokl->okl", c[:, -m:, :m], w[1])
    return np.fft.irfft2(out, s=(n, n))


def test_spectral_conv_2d_keeps_both_corners(key):
    conv = SpectralConv(1, 1, 2, 2, key=key)
    x = np.asarray(jax.random.normal(key, (1, 8, 8)))
    w = np.asarray(conv.weights_real) + 1j * np.asarray(conv.weights_imag)
    assert_close(conv(jnp.asarray(x)), _fourier_multiplier_2d(x, w), rtol=1e-4, atol=1e-6, what="2D spectral conv")


def test_cp_spectral_conv_is_the_fourier_multiplier_of_its_rank_sum(key):
    """The TFNO layer in 2D against numpy: the weights summed rank by rank from the complex factors, applied to the
    two retained corners of rfft2."""
    conv = CPSpectralConv(2, 3, 2, 2, rank=3, key=key)
    factors = [np.asarray(a) + 1j * np.asarray(b) for a, b in zip(conv.factors_real, conv.factors_imag, strict=True)]
    w = np.zeros((2, 2, 3, 2, 2), complex)
    for r in range(3):
        w += np.multiply.outer(np.multiply.outer(np.multiply.outer(np.multiply.outer(
            factors[0][r], factors[1][r]), factors[2][r]), factors[3][r]), factors[4][r])
    x = np.asarray(jax.random.normal(jax.random.fold_in(key, 1), (2, 8, 8)))
    assert_close(conv(jnp.asarray(x)), _fourier_multiplier_2d(x, w), rtol=1e-4, atol=1e-6, what="CP spectral conv")


def test_factorized_fno_keeps_the_asked_fraction_of_spectral_parameters(key):
    dense, tfno = FNO(10, 1, key=key), FNO(10, 1, factorization=0.1, key=key)
    dense_spectral, tfno_spectral = (parameter_count(model.spectral) for model in (dense, tfno))
    assert tfno_spectral / dense_spectral == pytest.approx(0.1, rel=0.05)
    assert cp_rank(0.1, 20, 20, 12, 1) == len(tfno.spectral[0].factors_real[0])
    u = jax.random.normal(key, (10, 64))
    assert tfno(u).shape == (1, 64) and np.isfinite(np.asarray(tfno(u))).all()


@pytest.mark.parametrize("ndim, in_channels, out_channels, kernel, groups", [
    (1, 3, 4, 1, 1), (2, 3, 4, 1, 1), (1, 3, 5, 5, 1), (1, 4, 8, 5, 4), (2, 2, 3, 3, 1)])
def test_convolutions_as_matrix_products_match_equinox(key, ndim, in_channels, out_channels, kernel, groups):
    conv = eqx.nn.Conv(ndim, in_channels, out_channels, kernel, padding="SAME", padding_mode="CIRCULAR",
                       groups=groups, key=key)
    x = jax.random.normal(jax.random.fold_in(key, 1), (in_channels, *([8] * ndim)))
    assert_close(periodic_conv(conv, x), conv(x), rtol=1e-5, atol=1e-6, what="periodic conv")
    if kernel == 1:
        assert_close(pointwise(conv, x), conv(x), rtol=1e-5, atol=1e-6, what="pointwise conv")
    else:
        with pytest.raises(ValueError, match="1 x 1"):
            pointwise(conv, x)


def test_models_reject_wrong_spatial_shapes(key):
    fno = FNO(1, 1, width=4, modes=4, depth=1, key=key)
    with pytest.raises(DataError, match=r"expects one example of shape \(1, n1>=8\)"):
        eqx.filter_eval_shape(fno, jnp.zeros((1, 8, 8)))
    with pytest.raises(DataError, match="channels first"):
        eqx.filter_eval_shape(fno, jnp.zeros((2, 16)))
    with pytest.raises(DataError, match="n1>=8"):
        eqx.filter_eval_shape(fno, jnp.zeros((1, 4)))
    unet = UNet(1, 1, features=4, levels=2, key=key)
    assert eqx.filter_eval_shape(unet, jnp.zeros((1, 16))).shape == (1, 16)
    with pytest.raises(DataError, match="divisible by 4"):
        eqx.filter_eval_shape(unet, jnp.zeros((1, 18)))


def test_cape_guess_depends_on_parameters_and_baselines_do_not(key):
    u = jnp.sin(2 * jnp.pi * jnp.arange(32) / 32)[None]
    base = FNOBase(size=4, modes=4, depth=1)
    cape = CAPEConditioning(width=8, modes=2)(base, channels=1, n_params=1, ndim=1, key=key)
    call = eqx.filter_jit(lambda model, p: model(u, p))
    (next_a, guess_a), (_, guess_b) = call(cape, jnp.array([0.0])), call(cape, jnp.array([2.0]))
    assert guess_a.shape == (1, 32) and next_a.shape == (1, 32)
    assert float(jnp.max(jnp.abs(guess_a - guess_b))) > 1e-4
    plain = NoConditioning()(base, channels=1, n_params=1, ndim=1, key=key)
    assert_close(call(plain, jnp.array([0.0]))[0], call(plain, jnp.array([2.0]))[0], rtol=0, what="unconditioned")
    channels = ParameterChannelConditioning()(base, channels=1, n_params=2, ndim=1, key=key)
    with pytest.raises(DataError, match=r"params of shape \(2,\)"):
        eqx.filter_eval_shape(channels, u, jnp.array([0.0]))


def test_cape_with_parameter_channels_feeds_the_base_the_guess_and_the_parameters(key):
    """``next = u + mix(base([u, guess, p]))``, p as constant channels; with CAPE's gains silenced its guess ignores p,
    and the parameters still reach the next state through the base."""
    u = jnp.sin(2 * jnp.pi * jnp.arange(32) / 32)[None]
    model = CAPEConditioning(width=8, modes=2, parameter_channels=True)(
        FNOBase(size=4, modes=4, depth=1), channels=1, n_params=2, ndim=1, key=key)
    p = jnp.array([0.3, -1.2])
    next_state, guess = eqx.filter_jit(model)(u, p)
    constant = jnp.broadcast_to(p[:, None], (2, 32))
    expected = u + pointwise(model.mix, model.base(jnp.concatenate([u, model.cape(u, p), constant])))
    assert_close(guess, model.cape(u, p), rtol=1e-6, what="the guess is CAPE's")
    assert_close(next_state, expected, rtol=1e-5, atol=1e-6, what="base on [u, guess, parameter channels]")
    silenced = eqx.tree_at(lambda m: [g.layers[-1].weight for g in m.cape.gains], model,
                           [jnp.zeros_like(g.layers[-1].weight) for g in model.cape.gains])
    silenced = eqx.tree_at(lambda m: [g.layers[-1].bias for g in m.cape.gains], silenced,
                           [jnp.zeros_like(g.layers[-1].bias) for g in model.cape.gains])
    (next_a, guess_a), (next_b, guess_b) = (eqx.filter_jit(silenced)(u, q) for q in (p, -p))
    assert_close(guess_a, guess_b, rtol=0, what="a guess without gains ignores the parameters")
    assert float(jnp.max(jnp.abs(next_a - next_b))) > 1e-4
    with pytest.raises(DataError, match=r"expects params of shape \(2,\)"):
        eqx.filter_eval_shape(model, u, jnp.array([0.0]))


def test_cape_block_2d_multiplicative_residual_is_identity_at_zero_head(key):
    block = CAPEBlock(1, 1, ndim=2, width=8, modes=2, residual="multiply", key=key)
    block = eqx.tree_at(lambda b: b.norm.weight, block, jnp.zeros_like(block.norm.weight))
    block = eqx.tree_at(lambda b: b.norm.bias, block, jnp.zeros_like(block.norm.bias))
    u = jax.random.normal(key, (1, 16, 16))
    assert_close(eqx.filter_jit(block)(u, jnp.array([0.3])), u, rtol=1e-6, what="u * (1 + 0)")


def test_parameter_matched_baseline_is_within_five_percent(key):
    common = dict(channels=1, n_params=1, ndim=1, key=key)
    cape = CAPEConditioning(width=32, modes=8)
    target = parameter_count(eqx.filter_eval_shape(lambda: cape(FNOBase(16, modes=8, depth=4), **common)))
    build = lambda s: NoConditioning()(FNOBase(s, modes=8, depth=4), **common)  # noqa: E731
    size = matched_size(target, build, range(16, 40))
    matched = parameter_count(eqx.filter_eval_shape(build, size))
    assert abs(matched - target) / target < 0.05


@pytest.mark.parametrize("normalize", [True, False])
def test_cape_normalisation_fixes_the_size_of_the_update(key, normalize):
    """With the norm, scaling the head leaves the guess unchanged (the update's RMS is fixed, whatever the parameters);
    without it, the update is the head's output itself and scales with it."""
    block = CAPEBlock(1, 1, width=8, modes=2, pool=1, normalize=normalize, key=key)
    u = jnp.sin(2 * jnp.pi * jnp.arange(16) / 16)[None]
    doubled = eqx.tree_at(lambda b: (b.head.weight, b.head.bias), block, (2 * block.head.weight, 2 * block.head.bias))
    update, update_doubled = (eqx.filter_jit(b)(u, jnp.array([0.5])) - u for b in (block, doubled))
    if normalize:
        assert_close(update_doubled, update, rtol=2e-2, atol=1e-3, what="normalised update (up to the norm's eps)")
        assert_close(jnp.sqrt(jnp.mean(update**2)), 1.0, rtol=2e-2, what="unit RMS of the normalised update")
    else:
        assert block.norm is None
        assert_close(update_doubled, 2 * update, rtol=1e-5, what="unnormalised update")


def test_cape_affine_gains_interpolate_as_the_equations_do(key):
    """With affine gains, the gains (and so the gated sum of the branches) at the midpoint of two parameter vectors are
    the mean of theirs; the MLP gains do not interpolate so. An unknown gains name is refused."""
    p1, p2 = jnp.array([0.2, -1.0]), jnp.array([1.4, 0.6])
    for gains, affine in (("affine", True), ("mlp", False)):
        block = CAPEBlock(1, 2, width=8, modes=2, pool=1, normalize=False, gains=gains, key=key)
        mean = [(g(p1) + g(p2)) / 2 for g in block.gains]
        midpoint = [g((p1 + p2) / 2) for g in block.gains]
        interpolates = all(bool(jnp.allclose(m, a, rtol=1e-5, atol=1e-6)) for m, a in zip(mean, midpoint, strict=True))
        assert interpolates is affine, gains
    with pytest.raises(ConfigError, match="gains must be 'mlp'"):
        CAPEBlock(1, 2, width=8, modes=2, pool=1, gains="linear", key=key)


def test_cape_update_cap_bounds_large_updates_and_keeps_small_ones(key):
    """The capped update is y / sqrt(1 + rms(y)^2 / (cap rms(u))^2), computed here by hand from the uncapped block:
    an update far above the cap (head x 100) comes out at it (RMS = cap rms(u) to 1e-3), a small one (head x
    1e-3) nearly as is."""
    free = CAPEBlock(1, 1, width=8, modes=2, pool=1, normalize=False, key=key)
    capped = CAPEBlock(1, 1, width=8, modes=2, pool=1, normalize=False, update_cap=0.5, key=key)
    u = jnp.sin(2 * jnp.pi * jnp.arange(16) / 16)[None]
    rms = lambda x: jnp.sqrt(jnp.mean(x**2))  # noqa: E731
    for scale in (1e-3, 1.0, 1e2):
        scaled = [eqx.tree_at(lambda b: (b.head.weight, b.head.bias), b, (scale * b.head.weight, scale * b.head.bias))
                  for b in (free, capped)]
        y_free, y_capped = (eqx.filter_jit(b)(u, jnp.array([0.5])) - u for b in scaled)
        expected = y_free / jnp.sqrt(1 + rms(y_free) ** 2 / (0.5 * rms(u)) ** 2)
        assert_close(y_capped, expected, rtol=1e-5, atol=1e-7, what=f"capped update at head scale {scale}")
        if scale == 1e2:
            assert_close(rms(y_capped), 0.5 * rms(u), rtol=1e-3, what="a large update held at the cap")
        if scale == 1e-3:
            assert_close(y_capped, y_free, rtol=1e-3, atol=1e-9, what="a small update left as it is")
    with pytest.raises(ConfigError, match="normalize=False"):
        CAPEBlock(1, 1, width=8, modes=2, pool=1, update_cap=0.5, key=key)


@pytest.mark.parametrize("make_base", [lambda: FNOBase(size=4, modes=2, depth=1), lambda: UNetBase(size=4, depth=2),
                                       lambda: FNOBase(size=4, modes=2, depth=1, factorization=0.5),
                                       lambda: MPNNBase(size=4, depth=1)])
def test_conditionings_build_their_base_from_the_first_of_three_keys(key, make_base):
    """Every conditioning gives the base network the weights it had under the former string API (split(key, 3)[0])."""
    base = make_base()
    k_base, k_cape, _ = jax.random.split(key, 3)
    leaves = lambda m: jax.tree_util.tree_leaves(eqx.filter(m, eqx.is_array))  # noqa: E731
    plain = NoConditioning()(base, channels=1, n_params=2, ndim=1, key=key)
    for a, b in zip(leaves(plain.base), leaves(base(1, 1, ndim=1, key=k_base)), strict=True):
        np.testing.assert_array_equal(a, b)
    channels = ParameterChannelConditioning()(base, channels=1, n_params=2, ndim=1, key=key)
    for a, b in zip(leaves(channels.base), leaves(base(3, 1, ndim=1, key=k_base)), strict=True):
        np.testing.assert_array_equal(a, b)
    cape = CAPEConditioning(width=8, modes=2, pool=1)(base, channels=1, n_params=2, ndim=1, key=key)
    assert isinstance(cape, CAPEConditioned)
    block = CAPEBlock(1, 2, width=8, modes=2, pool=1, key=k_cape)
    for a, b in zip(leaves(cape.cape), leaves(block), strict=True):
        np.testing.assert_array_equal(a, b)
    u = jnp.sin(2 * jnp.pi * jnp.arange(16) / 16)[None]
    for model in (plain, channels, cape):
        assert eqx.filter_eval_shape(model, u, jnp.zeros(2))[0].shape == (1, 16)


def test_study_bases_build_the_named_networks(key):
    from sciml.studies.neural_solvers import NeuralSolverConfig, base_network

    built = {name: base_network(NeuralSolverConfig(base=name, modes=2, depth=1), 4)(1, 1, ndim=1, key=key)
             for name in ("fno", "tfno", "unet", "mpnn")}
    assert isinstance(built["unet"], UNet) and isinstance(built["mpnn"], MPNN)
    dense, factorized = parameter_count(built["fno"]), parameter_count(built["tfno"])
    assert factorized < dense  # the CP factors replace the dense spectral weights
    with pytest.raises(ConfigError, match="works on 1D grids, got ndim=2"):
        MPNNBase(size=4, depth=1)(1, 1, ndim=2, key=key)
    with pytest.raises(ValueError, match="base must be one of"):
        NeuralSolverConfig(base="gnn")


def test_a_user_defined_conditioning_plugs_into_the_same_call(key):
    class Scaled(Conditioning):
        """next = u + p[0] * base(u): the parameter scales the update."""

        def __call__(self, base, *, channels, n_params, ndim, key):
            return _ScaledSolver(base(channels, channels, ndim=ndim, key=key))

    model = Scaled()(FNOBase(size=4, modes=2, depth=1), channels=1, n_params=1, ndim=1, key=key)
    u = jnp.sin(2 * jnp.pi * jnp.arange(16) / 16)[None]
    assert_close(model(u, jnp.zeros(1))[0], u, rtol=0, what="zero update at p = 0")
    with pytest.raises(TypeError, match="abstract"):
        Conditioning()


class _ScaledSolver(eqx.Module):
    base: eqx.Module

    def __call__(self, u, params):
        return u + params[0] * self.base(u), None


def _mpnn_by_loops(model: MPNN, u: np.ndarray) -> np.ndarray:
    """The MPNN's forward pass node by node and edge by edge in numpy (messages as one MLP of the concatenated
    (h_i, h_j, u_i - u_j, (x_i - x_j) / dx), neighbours found by index arithmetic)."""
    def linear(layer, x):
        out = np.asarray(layer.weight) @ x
        return out if layer.bias is None else out + np.asarray(layer.bias)

    def swish(x):
        return x / (1 + np.exp(-x))

    def two_layer(mlp, x):
        return linear(mlp.second, swish(linear(mlp.first, x)))

    n = u.shape[1]
    h = np.stack([two_layer(model.encoder, u[:, i]) for i in range(n)])
    for layer in range(len(model.updates)):
        w = np.concatenate([np.asarray(model.message_receiver[layer].weight),
                            np.asarray(model.message_sender[layer].weight),
                            np.asarray(model.message_edge[layer].weight)], axis=1)
        new = []
        for i in range(n):
            messages = []
            for j in (i - 2, i - 1, i + 1, i + 2):
                concat = np.concatenate([h[i], h[j % n], u[:, i] - u[:, j % n], [i - j]])
                hidden = swish(w @ concat + np.asarray(model.message_receiver[layer].bias))
                messages.append(linear(model.message_out[layer], hidden))
            new.append(h[i] + two_layer(model.updates[layer], np.concatenate([h[i], np.mean(messages, axis=0)])))
        h = np.stack(new)
        h = (h - h.mean(axis=0)) / np.sqrt(h.var(axis=0) + 1e-5)
    return np.stack([two_layer(model.decoder, h[i]) for i in range(n)]).T


def test_mpnn_matches_a_node_by_node_loop_and_commutes_with_periodic_shifts(key):
    model = MPNN(3, 2, hidden=8, layers=2, neighbours=2, key=key)
    u = np.asarray(jax.random.normal(jax.random.fold_in(key, 1), (3, 7)), np.float64)
    assert_close(model(jnp.asarray(u, jnp.float32)), _mpnn_by_loops(model, u), rtol=1e-4, atol=1e-5, what="MPNN")
    shifted = model(jnp.roll(jnp.asarray(u, jnp.float32), 3, axis=1))
    assert_close(shifted, jnp.roll(model(jnp.asarray(u, jnp.float32)), 3, axis=1), rtol=1e-5, atol=1e-5,
                 what="shifted MPNN")
    with pytest.raises(DataError, match="MPNN expects one example of shape"):
        model(jnp.zeros((2, 7)))


def test_mpnn_learns_a_one_cell_advection_step(key):
    """next = the state moved one cell right, which the messages from the left neighbour carry: Adam brings the
    error on unseen states below 5% of their norm."""
    import optax

    model = MPNN(1, 1, hidden=16, layers=2, neighbours=1, key=key)
    x = np.arange(32) / 32
    rng = np.random.default_rng(0)

    def states(n):
        k, phase = rng.integers(1, 4, (n, 1)), rng.uniform(0, 2 * np.pi, (n, 1))
        return jnp.asarray(np.sin(2 * np.pi * k * x + phase)[:, None], jnp.float32)

    train, test = states(64), states(16)
    optimizer = optax.adam(3e-3)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))

    def loss(m, u):
        return jnp.mean((jax.vmap(m)(u) - jnp.roll(u, 1, axis=-1)) ** 2)

    @eqx.filter_jit
    def step(m, s):
        value, grads = eqx.filter_value_and_grad(loss)(m, train)
        updates, s = optimizer.update(grads, s)
        return eqx.apply_updates(m, updates), s, value

    for _ in range(400):
        model, opt_state, _ = step(model, opt_state)
    error = jnp.linalg.norm(jax.vmap(model)(test) - jnp.roll(test, 1, axis=-1)) / jnp.linalg.norm(test)
    assert float(error) < 0.05
