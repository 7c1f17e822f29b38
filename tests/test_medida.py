"""MEDIDA: the two-layer QG test bed against pyqg-jax and analytical solutions, the candidate library on analytical
fields, increments, observations, interpolators, and the sparse regressions on problems whose truth is known."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pyqg_jax
import pytest
from conftest import assert_close

from sciml import ConfigError, DataError
from sciml.discovery import (
    QG_TERMS,
    CubicInterpolation,
    ParetoCurve,
    RBFInterpolation,
    RelevanceVectorMachine,
    Standardized,
    analysis_increments,
    discover,
    layer_problem,
    library,
    lowpass,
    observe,
    one_step,
    one_step_increments,
    plain_network,
    rff_network,
    standard_errors,
    stlsq_path,
    term_names,
    true_coefficients,
)
from sciml.nn import FourierFeatures
from sciml.solvers import (
    TwoLayerQG,
    energy,
    energy_tendency,
    initial_state,
    isotropic_spectrum,
    qg_dataset,
    spin_up,
    streamfunction,
    trajectory,
)

N = 16
REFERENCE = TwoLayerQG(nx=N, deformation_radius=25e3, u1=0.06, relaxation=1 / (100 * 86400.0),
                       hyperviscosity=1e27)


@pytest.fixture(scope="module")
def x64():
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="module")
def turbulent(x64):
    """A small developed state of the reference (upper-layer PV anomaly grown from noise)."""
    return spin_up(REFERENCE, 600, seed=3)


def _random_psi(seed: int, n: int = N, count: int = 3, kmax: int = 4) -> np.ndarray:
    """Random band-limited streamfunctions (count, 2, n, n), amplitude ~ 1e4 m^2/s."""
    rng = np.random.default_rng(seed)
    spectrum = np.zeros((count, 2, n, n), complex)
    modes = np.arange(-kmax, kmax + 1)
    for kx in modes:
        for ky in modes:
            if 0 < kx * kx + ky * ky <= kmax * kmax:
                spectrum[..., ky % n, kx % n] = rng.normal(size=(count, 2)) + 1j * rng.normal(size=(count, 2))
    return 1e4 * np.real(np.fft.ifft2(spectrum, axes=(-2, -1))) * n


def test_tendency_and_steps_are_pyqg_jax_s(turbulent):
    model = REFERENCE.replace(relaxation=0.0, hyperviscosity=0.0)
    pyqg = model.pyqg()
    stepped = pyqg_jax.steppers.SteppedModel(pyqg, pyqg_jax.steppers.AB3Stepper(dt=model.dt))

    @jax.jit
    def both(q):
        state = pyqg.create_initial_state(jax.random.key(0)).update(q=q)
        wrapped = jax.lax.fori_loop(0, 5, lambda _, s: stepped.step_model(s), stepped.initialize_stepper_state(state))
        terms = REFERENCE.tendency_terms(state.qh)
        return {"ours": model.tendency(state.qh), "pyqg": pyqg.get_updates(state).qh,
                "ours_steps": model.stepped().step_model(model.stepped().initialize_stepper_state(state)).state.q,
                "pyqg_steps": wrapped.state.q, "ours_inverse": model.invert(state.qh),
                "pyqg_inverse": pyqg.get_full_state(state).ph, "terms": sum(terms.values()),
                "full": REFERENCE.tendency(state.qh)}

    out = both(turbulent)
    assert bool(jnp.all(out["ours"] == out["pyqg"])), "tendency bit for bit"
    ours = trajectory(model, turbulent, 1, 5)[0]
    assert_close(ours, out["pyqg_steps"], rtol=0, atol=1e-12 * float(jnp.abs(ours).max()), what="5 AB3 steps")
    assert_close(out["ours_inverse"], out["pyqg_inverse"], rtol=0,
                 atol=1e-12 * float(jnp.abs(out["pyqg_inverse"]).max()), what="inversion")
    assert_close(out["terms"], out["full"], rtol=0, atol=1e-12 * float(jnp.abs(out["full"]).max()),
                 what="the terms sum to the tendency")


def test_unperturbed_model_gives_zero_increments_and_traced_model_is_the_same(turbulent):
    psi = streamfunction(REFERENCE, turbulent)[None]
    assert float(jnp.abs(one_step_increments(REFERENCE, REFERENCE.replace().traced(), psi)).max()) == 0.0
    assert_close(one_step(REFERENCE.traced(), psi), one_step(REFERENCE, psi), rtol=0,
                 atol=1e-13 * float(jnp.abs(psi).max()), what="traced parameters")


def test_energy_budget_signs(x64):
    psi = jnp.asarray(_random_psi(2, count=1, kmax=3)[0])  # products stay below the Nyquist wavenumber: no aliasing

    @jax.jit
    def rates(psi):
        qh = REFERENCE.potential_vorticity(REFERENCE.to_spectral(psi))
        q = REFERENCE.to_grid(qh)
        out = {name: energy_tendency(REFERENCE, q, REFERENCE.to_grid(term))
               for name, term in REFERENCE.tendency_terms(qh).items()}
        filtered = REFERENCE.to_grid(REFERENCE.step_filter()[None] * qh)
        return out, energy(REFERENCE, q), energy(REFERENCE, filtered)

    rate, before, after = jax.tree.map(float, rates(psi))
    assert rate["drag"] < 0 and rate["relaxation"] < 0, rate
    for name in ("beta", "eddy_advection"):
        assert abs(rate[name]) < 1e-10 * abs(rate["drag"]), f"{name} does no work on the eddy energy: {rate}"
    assert after < before, "the step filter dissipates"


@pytest.mark.parametrize("mode", ["barotropic", "baroclinic"])
def test_rossby_wave_phase_speed(x64, mode):
    model = TwoLayerQG(nx=N, u1=0.0, drag=0.0)
    k = 2 * np.pi / model.length
    x = model.grid
    wave = np.broadcast_to(np.cos(k * x)[None, :], (N, N))
    psi = np.stack([wave, wave if mode == "barotropic" else -model.delta * wave]) * 1e4
    q = model.to_grid(model.potential_vorticity(model.to_spectral(jnp.asarray(psi))))
    steps = 100
    final = streamfunction(model, trajectory(model, q, 1, steps)[0])
    phase = np.angle(np.fft.rfft(np.asarray(final)[0, 0])[1]) - np.angle(np.fft.rfft(psi[0, 0])[1])
    speed = -phase / k / (steps * model.dt)
    expected = -model.beta / (k**2 + (0.0 if mode == "barotropic" else 1 / model.deformation_radius**2))
    assert_close(speed, expected, rtol=1e-4, what=f"{mode} Rossby wave phase speed")


def test_library_terms_on_analytical_fields(x64):
    model = TwoLayerQG(nx=N, length=2 * np.pi * 1e5)
    k = 1e-5
    x, y = np.meshgrid(model.grid, model.grid)
    s1, c1, s2y, c2y = np.sin(k * x), np.cos(k * x), np.sin(2 * k * y), np.cos(2 * k * y)
    psi1, psi2 = s1 + c2y, c1
    lap1, lap2 = -k**2 * s1 - 4 * k**2 * c2y, -k**2 * c1
    f1, f2 = model.f1, model.f2
    j12 = -2 * k**2 * s2y * np.sin(k * x)  # J(psi1, psi2)
    j1_lap = 6 * k**4 * c1 * s2y  # J(psi1, lap psi1); J(psi2, lap psi2) = 0
    expected = {
        "psi": (psi1, psi2), "interface": (psi1 - psi2, psi1 - psi2), "laplacian": (lap1, lap2),
        "biharmonic": (k**4 * s1 + 16 * k**4 * c2y, k**4 * c1),
        "triharmonic": (-(k**6) * s1 - 64 * k**6 * c2y, -(k**6) * c1),
        "u": (2 * k * s2y, 0 * x), "v": (k * c1, -k * s1),
        "jacobian": (j1_lap + f1 * j12, -f2 * j12), "vorticity_jacobian": (j1_lap, 0 * x),
        "q_x": (-k**3 * c1 + f1 * (-k * s1 - k * c1), k**3 * s1 + f2 * (k * c1 + k * s1)),
        "q_y": (8 * k**3 * s2y + f1 * (2 * k * s2y), -f2 * 2 * k * s2y),
    }
    columns = np.asarray(library(model, jnp.asarray(np.stack([psi1, psi2])), filtered=False))
    for j, name in enumerate(term_names()):
        scale = max(np.abs(expected[name][0]).max(), np.abs(expected[name][1]).max())
        assert_close(columns[..., j], np.stack(expected[name]), rtol=0, atol=1e-10 * scale, what=name)


def test_true_coefficients_and_errors():
    cases = {c.name: c for c in standard_errors(REFERENCE)}
    names = term_names()
    drag = true_coefficients(REFERENCE, cases["drag"].apply(REFERENCE))
    assert drag[1, names.index("laplacian")] == pytest.approx(-0.5 * REFERENCE.drag) and np.count_nonzero(drag) == 1
    relax = true_coefficients(REFERENCE, cases["relaxation"].apply(REFERENCE))
    change = -2 * REFERENCE.relaxation
    assert relax[:, names.index("interface")] == pytest.approx([REFERENCE.f1 * change, -REFERENCE.f2 * change])
    assert true_coefficients(REFERENCE, cases["beta"].apply(REFERENCE))[:, names.index("v")] == pytest.approx(
        [-REFERENCE.beta] * 2)
    assert true_coefficients(REFERENCE, cases["jacobian"].apply(REFERENCE))[:, names.index("jacobian")] == \
        pytest.approx([-0.5, -0.5])
    with pytest.raises(ConfigError, match="u1"):
        true_coefficients(REFERENCE, REFERENCE.replace(u1=0.0))
    with pytest.raises(ConfigError, match="relaxation > 0"):
        standard_errors(REFERENCE.replace(relaxation=0.0))


def test_full_observations_recover_every_error_exactly(x64):
    psi = jnp.asarray(_random_psi(0))
    columns = np.asarray(library(REFERENCE, psi))
    following = one_step(REFERENCE, psi)
    for case in standard_errors(REFERENCE):
        model = case.apply(REFERENCE)
        increments = np.asarray(one_step_increments(REFERENCE, model.traced(), psi))
        via_analysis = np.asarray(analysis_increments(model.traced(), psi, following - psi))
        assert_close(via_analysis, increments, rtol=0, atol=1e-9 * np.abs(increments).max() + 1e-30,
                     what=f"{case.name}: analysis increments")
        truth = true_coefficients(REFERENCE, model)
        for layer in range(2):
            found = discover(layer_problem(increments, columns, layer, cutoff=6.0), tolerance=0.02,
                             stlsq_thresholds=np.geomspace(1e-3, 1, 8))
            for fit in found.fits.values():
                assert np.array_equal(fit.support, truth[layer] != 0), (case.name, layer)
                assert_close(fit.coefficients, truth[layer], rtol=1e-6, atol=0, what=f"{case.name} layer {layer}")


def _synthetic(seed=0, rows=4000, noise=0.1):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 10)) * np.geomspace(1, 100, 10)
    truth = np.zeros(10)
    truth[[1, 4, 7]] = [2.0, -0.05, 0.003]
    return features, features @ truth + noise * rng.normal(size=rows), truth


def test_relevance_vector_machine_on_a_known_sparse_problem():
    features, target, truth = _synthetic()
    problem = Standardized.from_arrays(features, target)
    fit = RelevanceVectorMachine().fit(problem)
    assert set(fit.order[:3]) == {1, 4, 7} and fit.support[truth != 0].all(), "the true terms rank first"
    ols_std = 0.1 / np.sqrt(len(target)) / np.std(features, axis=0)
    assert np.all(np.abs(fit.coefficients - truth)[fit.support] < 4 * ols_std[fit.support]), "kept noise terms ~ 0"
    assert_close(fit.std[truth != 0], ols_std[truth != 0], rtol=0.1, what="posterior std ~ least-squares std")
    exact = RelevanceVectorMachine().fit(Standardized.from_arrays(features, features @ truth))
    assert np.array_equal(exact.support, truth != 0)
    assert_close(exact.coefficients, truth, rtol=1e-9, atol=0, what="noise-free data")
    from sklearn.linear_model import ARDRegression

    ard = ARDRegression(fit_intercept=False).fit(features / problem.column_scale, target)
    kept = truth != 0
    assert_close(ard.coef_[kept] / problem.column_scale[kept], fit.coefficients[kept], rtol=2e-3,
                 what="sklearn's ARD (MacKay's updates) on the true terms")
    empty = RelevanceVectorMachine().fit(Standardized.from_arrays(features, 0 * target))
    assert not empty.support.any() and not empty.coefficients.any()


def test_stlsq_path_equals_pysindy_on_the_rows_and_pareto_selection():
    import pysindy

    features, target, truth = _synthetic(noise=0.01)
    problem = Standardized.from_arrays(features, target)
    thresholds = np.geomspace(1e-4, 1, 12)
    supports = stlsq_path(problem, thresholds)
    for threshold, support in zip(thresholds, supports, strict=True):
        direct = pysindy.STLSQ(threshold=threshold, alpha=0.0).fit(features / problem.column_scale,
                                                                   target / problem.target_scale)
        assert np.array_equal(support, np.abs(direct.coef_.ravel()) > 0), threshold
    curve = ParetoCurve.from_supports(problem, supports)
    assert np.array_equal(curve.select(1e-4), truth != 0)
    assert curve.residual[0] == 1.0 and np.nanmin(curve.residual) < 1e-4


def test_observations_and_lowpass():
    psi = _random_psi(1, count=2)
    obs = observe(psi, 2 * psi, fraction=0.25, noise=0.01, seed=0)
    assert obs.sensors.shape == (2, N * N // 4) and all(len(set(row)) == N * N // 4 for row in obs.sensors)
    assert obs.mask(N).sum() == obs.sensors.size
    exact = psi.reshape(2, 2, -1)[0, 0, obs.sensors[0]]
    assert_close(np.std(obs.before[0, :, 0] - exact) / (0.01 * psi[0, 0].std()), 1.0, rtol=0.3, what="noise std")
    assert_close(np.std(obs.after[0, :, 0] - 2 * exact) / (0.01 * psi[0, 0].std()), 1.0, rtol=0.3,
                 what="psi(t + dt) read at the same sensors")
    assert not np.allclose(obs.after[0, :, 0] - 2 * exact, obs.before[0, :, 0] - exact), "independent noise"
    assert_close(lowpass(psi, 4.0), psi, rtol=0, atol=1e-9 * np.abs(psi).max(), what="band-limited kept")
    assert np.abs(lowpass(psi, 2.0) - psi).max() > 0.1 * np.abs(psi).max()
    with pytest.raises(ConfigError, match="fraction"):
        observe(psi, psi, fraction=0.0, noise=0.0, seed=0)


def test_interpolators_are_periodic_and_accurate():
    rng = np.random.default_rng(0)
    points = rng.uniform(size=(600, 2))
    field = lambda p: np.sin(2 * np.pi * p[:, 0]) * np.cos(4 * np.pi * p[:, 1])  # noqa: E731
    targets = np.stack(np.meshgrid(np.linspace(0, 1, 20, endpoint=False), np.linspace(0, 1, 20, endpoint=False)),
                       -1).reshape(-1, 2)
    for method, tolerance in ((RBFInterpolation(), 0.02), (CubicInterpolation(), 0.05)):
        error = method(points, field(points)[:, None], targets)[:, 0] - field(targets)
        assert np.abs(error).max() < tolerance, type(method).__name__
    key = jax.random.key(0)
    shifted = eqx.filter_jit(lambda net, p: (net(p), net(p + jnp.array([1.0, -1.0]))))
    for build in (lambda k: rff_network(2, features=8, scale=3.0, width=8, depth=1, key=k),
                  lambda k: plain_network(2, width=8, depth=1, key=k)):
        here, there = shifted(eqx.filter_jit(build)(key), jnp.array([0.3, 0.7]))
        assert_close(there, here, rtol=1e-5, what="periodic")
    features = FourierFeatures(2, 16, 3.0, period=0.5, key=key)
    assert_close(features.matrix * 0.5, jnp.round(features.matrix * 0.5), rtol=0, atol=1e-6, what="whole cycles")


def test_bad_inputs_are_refused(x64):
    with pytest.raises(ConfigError, match="nx"):
        TwoLayerQG(nx=7)
    with pytest.raises(ConfigError, match="drag"):
        TwoLayerQG(drag=-1.0)
    with pytest.raises(ConfigError, match="no parameters"):
        REFERENCE.replace(viscosity=1.0)
    with pytest.raises(DataError, match="shape"):
        streamfunction(REFERENCE, jnp.zeros((2, 8, 8)))
    with pytest.raises(DataError, match="identically zero"):
        Standardized.from_arrays(np.zeros((5, 2)), np.ones(5))
    with jax.enable_x64(False), pytest.raises(ConfigError, match="enable_x64"):
        REFERENCE.tendency(jnp.zeros((2, N, N // 2 + 1), jnp.complex64))


def test_dataset_carries_cf_attributes(turbulent):
    from sciml.data import missing_cf_attributes

    ds = qg_dataset(REFERENCE, np.asarray(turbulent)[None], np.array([0.0]))
    assert not missing_cf_attributes(ds) and ds.psi.dims == ("time", "layer", "y", "x")
    assert initial_state(REFERENCE, 0).shape == (2, N, N)
    x = np.arange(N) / N
    wave = np.cos(2 * np.pi * 3 * x)[None, :] * np.ones((N, 1))
    wavenumber, power = isotropic_spectrum(np.stack([wave, _random_psi(4, count=1)[0, 0]]))
    assert power[0, 3] == pytest.approx(0.5) and np.delete(power[0], 3).max() < 1e-20, "one ring"
    assert power[1].sum() == pytest.approx(np.mean(_random_psi(4, count=1)[0, 0] ** 2)), "Parseval"
    assert len(QG_TERMS) == 11
