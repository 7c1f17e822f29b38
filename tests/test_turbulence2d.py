"""Forced 2D turbulence solver: exact solutions (Taylor-Green decay, laminar Kolmogorov flow, Rossby waves), budget
closure, the LES closures on analytical fields, diagnostics, ensembles (vmap, sharding) and bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from sciml import ConfigError, DataError
from sciml.data import check_cf_attributes
from sciml.solvers import (
    DynamicSmagorinsky,
    ForcedTurbulence2D,
    Leith,
    NoClosure,
    PeriodicGrid2D,
    Smagorinsky,
    coarse_grain,
    dns_reference,
    energy_spectrum,
    enstrophy_spectrum,
    random_vorticity,
    simulate_turbulence,
    tail_probability,
    turbulence_dataset,
    vorticity_pdf,
)


@pytest.fixture(scope="module", autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def mesh_xy(n):
    x = PeriodicGrid2D(n).coordinates
    return np.meshgrid(x, x, indexing="xy")  # arrays (y, x)


def relative_error(actual, expected):
    return float(np.linalg.norm(np.asarray(actual) - expected) / np.linalg.norm(expected))


@pytest.mark.parametrize("dealiasing", ["two-thirds", "three-halves"])
def test_taylor_green_vortex_decays_exactly(dealiasing):
    n, k, nu = 64, 4, 0.01
    x, y = mesh_xy(n)
    omega0 = 2 * k * np.cos(k * x) * np.cos(k * y)
    model = ForcedTurbulence2D(n=n, viscosity=nu, drag=0.0, forcing_wavenumber=None, dt=5e-3, dealiasing=dealiasing)
    omega = simulate_turbulence(model, jnp.asarray(omega0), 1, 200)[0]  # t = 1
    assert relative_error(omega, omega0 * np.exp(-2 * nu * k**2)) <= 1e-6


def test_kolmogorov_flow_is_reached_from_rest_and_kept():
    n, kf, nu, mu = 32, 4, 0.02, 0.1
    x, y = mesh_xy(n)
    rate = nu * kf**2 + mu
    laminar = kf * (np.cos(kf * x) + np.cos(kf * y)) / rate  # F / (nu k_f^2 + mu): the steady state, J = 0
    model = ForcedTurbulence2D(n=n, viscosity=nu, drag=mu, forcing_wavenumber=kf, dt=1e-2)
    omega = simulate_turbulence(model, jnp.zeros((n, n)), 2, 100)  # t = 1, 2
    for t, snapshot in zip((1.0, 2.0), omega, strict=True):
        assert relative_error(snapshot, laminar * (1 - np.exp(-rate * t))) <= 1e-5
    # the paper's physics (Re = 20,000, k_f = 4, 64^2): the steady state stays (its instability grows from round-off)
    paper = ForcedTurbulence2D(n=64)
    x, y = mesh_xy(64)
    steady = 4 * (np.cos(4 * x) + np.cos(4 * y)) / (paper.viscosity * 16 + paper.drag)
    kept = simulate_turbulence(paper, jnp.asarray(steady), 1, 1000)[0]  # t = 0.5
    assert relative_error(kept, steady) <= 1e-9


def test_rossby_wave_moves_west_at_the_exact_phase_speed():
    n, beta, nu, mu, (kx, ky) = 32, 20.0, 0.01, 0.1, (1, 2)
    x, y = mesh_xy(n)
    k2 = kx**2 + ky**2
    model = ForcedTurbulence2D(n=n, viscosity=nu, drag=mu, beta=beta, forcing_wavenumber=None, dt=2.5e-4)
    omega0 = -k2 * np.cos(kx * x + ky * y)
    omega = np.asarray(simulate_turbulence(model, jnp.asarray(omega0), 1, 4000)[0])  # t = 1
    frequency = -beta * kx / k2  # omega = -beta k_x / |k|^2: phase speed -beta / |k|^2 along x
    exact = -k2 * np.exp(-(nu * k2 + mu)) * np.cos(kx * x + ky * y - frequency)
    assert relative_error(omega, exact) <= 1e-6
    mode = np.fft.fft2(omega)[ky, kx] / np.fft.fft2(omega0)[ky, kx]
    speed = -np.angle(mode) / kx  # the phase moved by kx * c * t (mod 2 pi; |kx c t| = 4)
    speed = speed - 2 * np.pi / kx * np.round((speed + beta / k2) / (2 * np.pi / kx))
    assert_close(speed, -beta / k2, rtol=1e-6, what="Rossby phase speed")


def test_padded_products_are_alias_free():
    """cos(7x) cos(6x) = (cos x + cos 13x) / 2 on 16^2: 13 aliases to 3 on the 16 grid, to 11 (dropped, > 7) on the
    3/2 grid, so the padded product keeps exactly cos(x) / 2."""
    grid = PeriodicGrid2D(16, "three-halves")
    x, y = mesh_xy(16)
    a_hat, b_hat = grid.to_spectral(jnp.asarray(np.cos(7 * x))), grid.to_spectral(jnp.asarray(np.cos(6 * x)))
    assert grid.cutoff == 7 and grid.product_size == 24
    product = grid.to_grid(grid.from_product_grid(grid.to_product_grid(a_hat) * grid.to_product_grid(b_hat)))
    assert_close(product, 0.5 * np.cos(x), rtol=0, atol=1e-13, what="padded product")
    assert_close(grid.to_product_grid(a_hat)[::3, ::3], np.cos(7 * x)[::2, ::2], rtol=0, atol=1e-13,
                 what="padded field")
    aliased = grid.to_grid(grid.dealias() * grid.to_spectral(jnp.asarray(np.cos(7 * x) * np.cos(6 * x))))
    assert float(jnp.max(jnp.abs(aliased - 0.5 * np.cos(x)))) > 0.4  # the unpadded product keeps cos(3x) / 2


def test_padding_agrees_with_the_two_thirds_rule_on_its_modes():
    """For a field inside the 2/3 band both rules are exact, so their Jacobians agree on that band; the padded one
    also keeps the modes between (n - 1) // 3 and n / 2 - 1, which a 64^2 grid needs for case 4's k_f = 25."""
    omega = random_vorticity(jax.random.key(1), 32, peak_wavenumber=6.0)
    thirds, halves = (ForcedTurbulence2D(n=32, dealiasing=rule) for rule in ("two-thirds", "three-halves"))
    omega_hat = thirds.grid.to_spectral(omega)
    band = thirds.grid.dealias()
    expected = thirds.advection(omega_hat)
    padded = halves.advection(omega_hat)
    assert_close(band * padded, expected, rtol=0, atol=1e-10 * float(jnp.max(jnp.abs(expected))),
                 what="Jacobian on the band")
    assert float(jnp.max(jnp.abs((1 - band) * padded))) > 1e-3 * float(jnp.max(jnp.abs(expected)))
    ForcedTurbulence2D(n=64, forcing_wavenumber=25, dealiasing="three-halves")  # resolved: 25 <= 31
    with pytest.raises(ConfigError, match="three-halves"):
        ForcedTurbulence2D(n=64, forcing_wavenumber=25)


@pytest.fixture(scope="module")
def turbulent():
    """A 32^2 flow 1 time unit after a random start (k_f = 4, Re = 20,000, no closure): it has an enstrophy cascade."""
    model = ForcedTurbulence2D(n=32, dt=1e-3)
    return simulate_turbulence(model, random_vorticity(jax.random.key(0), 32, rms=5.0), 1, 1000)[0]


@pytest.mark.parametrize("dealiasing", ["two-thirds", "three-halves"])
def test_energy_and_enstrophy_budgets_close(turbulent, dealiasing):
    dt, steps = 2e-4, 20
    model = ForcedTurbulence2D(n=32, viscosity=2e-3, beta=20.0, dt=dt, closure=Smagorinsky(), dealiasing=dealiasing)
    snapshots = simulate_turbulence(model, turbulent, steps, 1)  # after 1 .. 20 steps (AB2 from the first)

    @jax.jit
    def invariants_and_budgets(omega):
        psi = model.streamfunction(omega)
        return (-0.5 * jnp.mean(psi * omega), 0.5 * jnp.mean(omega**2)), (model.energy_budget(omega),
                                                                           model.enstrophy_budget(omega))

    values, budgets = jax.vmap(invariants_and_budgets)(snapshots)
    for name, value, budget in zip(("energy", "enstrophy"), values, budgets, strict=True):
        totals = np.asarray(budget.total)
        integral = dt * (totals[1:] + totals[:-1]).sum() / 2
        scale = dt * (steps - 1) * max(float(jnp.abs(getattr(budget, term)[0]))
                                       for term in ("injection", "viscous", "drag", "closure"))
        assert abs(float(value[-1] - value[0]) - integral) <= 1e-4 * scale
        assert float(budget.viscous[0]) < 0 and float(budget.drag[0]) < 0
        assert name == "energy" or float(budget.closure[0]) < 0  # (an energy sink only where nu_e is uniform)
        assert float(jnp.max(jnp.abs(budget.advection))) <= 1e-11 * scale / dt
        assert float(jnp.max(jnp.abs(budget.beta))) <= 1e-11 * scale / dt


@pytest.mark.parametrize("closure", [Smagorinsky(), Leith(), DynamicSmagorinsky(), Smagorinsky(domain_mean=True),
                                     Leith(domain_mean=True)],
                         ids=["smagorinsky", "leith", "dynamic", "smagorinsky-mean", "leith-mean"])
def test_closures_remove_enstrophy(closure, turbulent):
    model = ForcedTurbulence2D(n=32, closure=closure)
    grid = model.grid

    @jax.jit
    def closure_term_and_expected(omega):
        omega_x, omega_y = grid.gradient(grid.to_spectral(omega))
        nu_e = closure.eddy_viscosity(grid.to_spectral(omega), grid)
        # <omega div(nu_e grad omega)> = -<nu_e |grad omega|^2>
        return model.enstrophy_budget(omega).closure, -jnp.mean(nu_e * (omega_x**2 + omega_y**2))

    term, expected = closure_term_and_expected(turbulent)
    assert float(term) < 0
    assert_close(term, expected, rtol=1e-10, what="closure enstrophy tendency")


def test_eddy_viscosities_on_an_analytical_field():
    n = 32
    grid = PeriodicGrid2D(n)
    x, y = mesh_xy(n)
    omega_hat = grid.to_spectral(jnp.asarray(-5 * np.sin(x) * np.cos(2 * y)))  # psi = sin x cos 2y
    strain = np.sqrt(16 * np.cos(x) ** 2 * np.sin(2 * y) ** 2 + 9 * np.sin(x) ** 2 * np.cos(2 * y) ** 2)
    gradient = 5 * np.sqrt(np.cos(x) ** 2 * np.cos(2 * y) ** 2 + 4 * np.sin(x) ** 2 * np.sin(2 * y) ** 2)
    delta = 2 * np.pi / n
    tol = dict(rtol=1e-12, atol=1e-14)
    nu_e = eqx.filter_jit(lambda closure: closure.eddy_viscosity(omega_hat, grid))
    assert_close(nu_e(Smagorinsky()), (0.17 * delta) ** 2 * strain, **tol, what="smag")
    # <|S|^2> = 16/4 + 9/4, so the domain RMS of |S| is 5/2
    assert_close(nu_e(Smagorinsky(domain_mean=True)), (0.17 * delta) ** 2 * 2.5 +
                 0 * strain, **tol, what="smagorinsky, domain mean")
    assert_close(nu_e(Leith(coefficient=0.2)), (0.2 * delta) ** 3 * gradient, **tol,
                 what="leith")
    assert_close(nu_e(Leith(domain_mean=True)), (0.17 * delta) ** 3 * gradient.mean() +
                 0 * strain, **tol, what="leith, domain mean")
    field = 0.1 + 0.05 * np.cos(x)  # a coefficient per point (an RL action on the grid)
    assert_close(nu_e(Smagorinsky(coefficient=jnp.asarray(field))),
                 (field * delta) ** 2 * strain, **tol, what="smagorinsky with a coefficient field")
    # a band-limited field (|k| <= 2 < test cutoff / 2) has no Leonard stress: the dynamic coefficient is 0
    assert float(jax.jit(DynamicSmagorinsky().coefficient, static_argnums=1)(omega_hat, grid)) <= 1e-12
    assert float(jnp.max(nu_e(DynamicSmagorinsky()))) <= 1e-14


def _dynamic_coefficient_numpy(omega, ratio=2):
    """The Germano-Lilly least-squares coefficient with full complex FFTs (an independent implementation)."""
    n = omega.shape[0]
    k = np.fft.fftfreq(n, 1.0 / n)
    kx, ky = k[None, :], k[:, None]
    k2 = kx**2 + ky**2
    cutoff = (n - 1) // 3
    test = (np.abs(kx) <= cutoff // ratio) & (np.abs(ky) <= cutoff // ratio)
    w_hat = np.fft.fft2(omega) * (np.abs(kx) <= cutoff) * (np.abs(ky) <= cutoff)
    p_hat = -w_hat / np.where(k2 == 0, 1, k2)

    def real(f_hat):
        return np.fft.ifft2(f_hat).real

    def hat(f):
        return real(test * np.fft.fft2(f))

    def strain(p):
        return np.sqrt(4 * real(-kx * ky * p) ** 2 + real((ky**2 - kx**2) * p) ** 2)

    u, v, w = real(-1j * ky * p_hat), real(1j * kx * p_hat), real(w_hat)
    wx, wy = real(1j * kx * w_hat), real(1j * ky * w_hat)
    d2 = (2 * np.pi / n) ** 2
    s, s_test = strain(p_hat), strain(test * p_hat)
    lx, ly = hat(u * w) - hat(u) * hat(w), hat(v * w) - hat(v) * hat(w)
    mx = ratio**2 * d2 * s_test * real(1j * kx * test * w_hat) - hat(d2 * s * wx)
    my = ratio**2 * d2 * s_test * real(1j * ky * test * w_hat) - hat(d2 * s * wy)
    return max(-np.mean(lx * mx + ly * my) / np.mean(mx**2 + my**2), 0.0)


def test_dynamic_coefficient_of_a_turbulent_field(turbulent):
    grid = PeriodicGrid2D(32)
    omega = turbulent
    coefficient = float(eqx.filter_jit(DynamicSmagorinsky().coefficient)(grid.to_spectral(omega), grid))
    assert_close(coefficient, _dynamic_coefficient_numpy(np.asarray(omega)), rtol=1e-10, what="C_s^2")
    assert 1e-4 < coefficient < 0.25  # a positive C_s^2 of the usual size (C_s ~ 0.1-0.2)


def test_spectra_of_single_modes_and_their_sums(turbulent):
    n = 32
    x, y = mesh_xy(n)
    omega = 2.0 * np.cos(3 * x) + 0.5 * np.sin(4 * x + 3 * y)  # |k| = 3 and |k| = 5
    k, z = enstrophy_spectrum(jnp.asarray(omega))
    _, e = energy_spectrum(jnp.asarray(omega))
    expected_z = np.zeros(n // 2 + 1)
    expected_z[[3, 5]] = [2.0**2 / 4, 0.5**2 / 4]
    assert_close(k, np.arange(n // 2 + 1), rtol=0, what="wavenumbers")
    assert_close(z, expected_z, rtol=1e-12, atol=1e-14, what="enstrophy spectrum")
    assert_close(e, expected_z / np.maximum(k, 1) ** 2, rtol=1e-12, atol=1e-14, what="energy spectrum")
    batch = jnp.stack([turbulent, 2 * turbulent, turbulent.T])
    _, spectra = enstrophy_spectrum(batch)
    assert spectra.shape == (3, n // 2 + 1)
    assert_close(spectra.sum(-1), 0.5 * jnp.mean(batch**2, axis=(-2, -1)), rtol=1e-12, what="Parseval")


def test_vorticity_pdf_and_tails():
    two_values = jnp.asarray(np.where(np.arange(64 * 64).reshape(64, 64) % 2, 3.0, -1.0))  # standardized: +-1
    centres, density = vorticity_pdf(two_values, bins=5, limit=2.5)
    assert_close(density, [0, 0.5, 0, 0.5, 0], rtol=0, atol=1e-12, what="pdf of +-1")  # 0.5 mass per unit width
    assert_close(centres, [-2, -1, 0, 1, 2], rtol=0, atol=1e-12, what="bin centres")
    assert float(tail_probability(two_values, 0.5)) == 1.0 and float(tail_probability(two_values, 1.5)) == 0.0
    assert float(tail_probability(two_values, 0.5, scale=10.0)) == 0.0  # +-2 / 10
    gaussian = jax.random.normal(jax.random.key(5), (16, 64, 64))
    centres, density = vorticity_pdf(gaussian, bins=41, limit=5.0)
    assert_close(density[20], 1 / np.sqrt(2 * np.pi), rtol=0.05, what="Gaussian density at 0")
    assert_close(tail_probability(gaussian, 3.0), 2.7e-3, rtol=0.3, what="Gaussian 3-sigma tail")


def test_coarse_grain_keeps_resolved_modes_and_drops_the_rest():
    x64_, y64 = mesh_xy(64)
    x32, y32 = mesh_xy(32)
    fine = np.cos(3 * x64_ + 5 * y64) + 0.3 * np.sin(20 * y64)
    assert_close(coarse_grain(jnp.asarray(fine)[None], 32)[0], np.cos(3 * x32 + 5 * y32), rtol=0, atol=1e-12,
                 what="filtered field")


def test_ensembles_vmap_like_a_loop_and_shard_over_devices(turbulent):
    model = ForcedTurbulence2D(n=32, viscosity=1e-3, beta=20.0, dt=1e-3, closure=Leith())
    omega0 = jnp.stack([jnp.roll(turbulent, shift, axis=1) for shift in (0, 3, 7, 12)])  # four members
    one = jax.jit(lambda w: model.vorticity(model.advance(model.initial_state(w), 10)))
    run = jax.jit(jax.vmap(one))
    batched = run(omega0)
    looped = [one(w) for w in omega0]
    assert_close(batched, np.stack(looped), rtol=1e-12, atol=1e-12, what="vmap vs loop")
    mesh = Mesh(np.array(jax.devices()[:4]), ("ensemble",))
    sharded = jax.device_put(omega0, NamedSharding(mesh, PartitionSpec("ensemble")))
    out = run(sharded)
    assert len(out.sharding.device_set) == min(4, len(jax.devices()))
    assert_close(out, batched, rtol=1e-12, atol=1e-12, what="sharded vs single device")


def test_dataset_has_cf_attributes(turbulent):
    model = ForcedTurbulence2D(n=32)
    omega = np.stack([turbulent, -turbulent])
    ds = turbulence_dataset(model, omega, np.array([0.0, 1.0]))
    check_cf_attributes(ds, what="turbulence dataset")
    assert ds.omega.dims == ("time", "y", "x") and ds.attrs["closure"] == "NoClosure"
    assert_close(ds.psi.isel(time=0), model.streamfunction(jnp.asarray(omega[0])), rtol=1e-12, what="psi")


def test_dns_reference_statistics_and_filtered_snapshots(turbulent):
    model = ForcedTurbulence2D(n=32, dt=1e-3)
    ds = dns_reference(model, turbulent, spin_up=10, count=2, every=5, les_sizes=(16,))
    check_cf_attributes(ds, what="DNS reference")
    assert ds.omega_fdns16.dims == ("time", "y16", "x16") and ds.sizes["time"] == 2
    assert_close(ds.time, [0.015, 0.02], rtol=1e-12, what="snapshot times")
    # the sharp filter keeps every ring |k| <= 7 whole: the filtered spectrum equals the DNS one there
    for name in ("enstrophy_spectrum", "energy_spectrum"):
        assert_close(ds[f"{name}_fdns16"][:8], ds[name][:8], rtol=1e-10, atol=1e-20, what=f"filtered {name}")
    assert float(ds.vorticity_std_fdns16) < float(ds.vorticity_std) and ds.attrs["wall_seconds"] > 0


def test_bad_input_is_refused():
    with pytest.raises(ConfigError, match="forcing_wavenumber"):
        ForcedTurbulence2D(n=32, forcing_wavenumber=25)
    with pytest.raises(ConfigError, match="even"):
        PeriodicGrid2D(31)
    with pytest.raises(ConfigError, match="dealiasing must be one of"):
        PeriodicGrid2D(32, "padded")
    with pytest.raises(ConfigError, match="C_s"):
        Smagorinsky(coefficient=-0.1)
    with pytest.raises(ConfigError, match="dt"):
        ForcedTurbulence2D(dt=0.0)
    with pytest.raises(DataError, match="n=16"):
        ForcedTurbulence2D(n=32).initial_state(jnp.zeros((16, 16)))
    with pytest.raises(ConfigError, match="count >= 1"):
        simulate_turbulence(ForcedTurbulence2D(n=32, closure=NoClosure()), jnp.zeros((32, 32)), 0, 1)
