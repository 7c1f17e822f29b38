"""The random-grid ELBO and its batches.

For one task (z from the prior, a fresh uniform grid X of n points: the grid is a random variable, marginalised by
drawing it anew every step), with the forward model ``p(u | z, X)`` as the variational distribution of u:

    ELBO = E_u[ log N(R[u, z](X); 0, eps_r^2 I) ]          residual likelihood (eps_r learned, below)
         + E_u[ log q(z | y, X_s) ]                          inverse model on noisy sensor readings y of u
         - KL( p(u | z, X) || N(0, s_0^2 I) )                 against a broad reference measure of the field values
         [+ log N(y_d; mean(z_d, X_d), cov(z_d, X_d) + sigma_d^2 I)]   optional data at arbitrary points

R is the PDE residual of a reparameterised draw of u (its noises held fixed while differentiating in x), averaged over
the draw and its mirror image (antithetic pair: the noise's linear part cancels in the mean's gradient); X_s is a
second fresh uniform set of sensor slots (the first `n_sensors` of them read), u drawn jointly on X and X_s, and
y = u(X_s) plus Gaussian noise of std ``noise_level * max |u|`` (the draws' gradient held there, so the forward model
is fit by the physics alone and not bent to make z easier to read). With ``s_0 -> infinity`` the KL is the forward
model's negative entropy plus a constant (the paper's flat prior on u).

The residual noise eps_r of each task is learned from the residual of the forward model's mean at every step,
``eps_r^2 = mean_X R[mean u, z]^2`` (its gradient held; the same network pass gives the mean and the draws), capped at
`max_residual_std`: the noise level the mean field actually reaches, so the spread of u that the residual likelihood
allows follows the mean's accuracy as it improves. The cap keeps the first steps, where the mean is still far off, out
of a trap: a large eps_r lets wide draws in, and the nonlinear residual of wide draws pulls the mean to 0.
Maximising the ELBO in eps_r itself is degenerate: the draws' residual, their spread and eps_r then grow together,
since a wider u both raises the entropy and is excused by a larger eps_r; and a gradient-trained eps_r stalls, as its
gradient falls by orders of magnitude while Adam remembers the early steps.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from sciml._errors import ConfigError
from sciml.pde import Box, Field
from sciml.rgnp._gaussian import Gaussian, kl_divergence
from sciml.rgnp._networks import RGNP, ParametricProblem
from sciml.train import AbstractSampler


def _check_range(name: str, low, high, least) -> None:
    if not least <= low <= high:
        raise ConfigError(f"{name}: expected {least} <= min <= max, got ({low}, {high})")


def sensor_mask(n_slots: int, n_sensors: Array) -> Bool[Array, " s"]:
    """True for the first `n_sensors` of `n_slots` sensor slots."""
    return jnp.arange(n_slots) < n_sensors


def observe(key: jax.Array, values: Float[Array, " n"], noise_level: Float[Array, ""],
            scale: Float[Array, ""]) -> tuple[Float[Array, " n"], Float[Array, ""]]:
    """Noisy readings ``values + noise_level * scale * N(0, 1)`` and their noise std (the scale held constant)."""
    std = noise_level * jax.lax.stop_gradient(scale)
    return values + std * jax.random.normal(key, values.shape, values.dtype), std


def noise_query(noise_level: Float[Array, ""]) -> Float[Array, " 1"]:
    """The inverse network's trunk input: the relative noise level, as ``log10``."""
    return jnp.log10(noise_level)[None]


class SensorData(AbstractSampler):
    """Each step: `n_batch` cases drawn from stored solutions (z, u at arbitrary points), their points shuffled, with
    a sensor count in `sensors` and a noise level log-uniform in `noise_levels` (for the inverse network).

    Args:
        z: ``(M, dz)``; points: ``(M, P, d)``; values: ``(M, P)`` the exact values there.

    Returns ``{"z": (b, dz), "points": (b, P, d), "values": (b, P), "n_sensors": (b,), "noise_level": (b,)}``.
    """

    z: Float[Array, "m dz"]
    points: Float[Array, "m p d"]
    values: Float[Array, "m p"]
    n_batch: int = eqx.field(static=True)
    sensors: tuple[int, int] = eqx.field(static=True, default=(10, 50))
    noise_levels: tuple[float, float] = eqx.field(static=True, default=(0.01, 0.01))

    def __check_init__(self):
        m, p = self.values.shape
        if self.z.shape[0] != m or self.points.shape[:2] != (m, p):
            raise ConfigError(f"SensorData: z {self.z.shape}, points {self.points.shape} and values "
                              f"{self.values.shape} must agree on the cases M and points P")
        _check_range("SensorData.sensors", *self.sensors, 1)
        if self.sensors[1] > p:
            raise ConfigError(f"SensorData: at most P={p} sensors per case, got sensors={self.sensors}")
        _check_range("SensorData.noise_levels", *self.noise_levels, 1e-12)

    def __call__(self, key, step):
        k_case, k_perm, k_count, k_noise = jax.random.split(jax.random.fold_in(key, step), 4)
        cases = jax.random.randint(k_case, (self.n_batch,), 0, self.values.shape[0])
        order = jax.vmap(lambda k: jax.random.permutation(k, self.values.shape[1]))(
            jax.random.split(k_perm, self.n_batch))
        points = jnp.take_along_axis(self.points[cases], order[:, :, None], axis=1)
        values = jnp.take_along_axis(self.values[cases], order, axis=1)
        counts = jax.random.randint(k_count, (self.n_batch,), self.sensors[0], self.sensors[1] + 1)
        low, high = (jnp.log(jnp.asarray(v, jnp.float32)) for v in self.noise_levels)
        noise = jnp.exp(jax.random.uniform(k_noise, (self.n_batch,), minval=low, maxval=high))
        return {"z": self.z[cases], "points": points, "values": values, "n_sensors": counts, "noise_level": noise}


class RandomGridTasks(AbstractSampler):
    """Each step: `n_tasks` parameters z from the uniform prior, each with its own fresh uniform collocation grid of
    `n_points` points and `n_slots` uniform sensor slots, a sensor count in `sensors` (inclusive, at most `n_slots`)
    and a noise level log-uniform in `noise_levels`; and, when `data` (a `SensorData`) is given, a batch of it under
    ``"data"``.

    Returns ``{"z": (B, dz), "grid": (B, n, d), "sensor_points": (B, s, d), "n_sensors": (B,), "noise_level": (B,)
    [, "data": {...}]}``.
    """

    domain: Box
    parameters: Box
    n_tasks: int = eqx.field(static=True)
    n_points: int = eqx.field(static=True)
    n_slots: int = eqx.field(static=True, default=50)
    sensors: tuple[int, int] = eqx.field(static=True, default=(10, 50))
    noise_levels: tuple[float, float] = eqx.field(static=True, default=(0.01, 0.01))
    data: SensorData | None = None

    def __check_init__(self):
        if self.n_tasks < 1 or self.n_points < 1:
            raise ConfigError(f"RandomGridTasks: n_tasks and n_points must be >= 1, got {self.n_tasks}, "
                              f"{self.n_points}")
        _check_range("RandomGridTasks.sensors", *self.sensors, 1)
        if self.sensors[1] > self.n_slots:
            raise ConfigError(f"RandomGridTasks: at most n_slots={self.n_slots} sensors, got sensors="
                              f"{self.sensors}; raise n_slots or lower the sensor count")
        _check_range("RandomGridTasks.noise_levels", *self.noise_levels, 1e-12)

    def __call__(self, key, step):
        k_z, k_grid, k_slots, k_count, k_noise = jax.random.split(jax.random.fold_in(key, step), 5)
        z = self.parameters.uniform(k_z, self.n_tasks)
        grid = jax.vmap(lambda k: self.domain.uniform(k, self.n_points))(jax.random.split(k_grid, self.n_tasks))
        slots = jax.vmap(lambda k: self.domain.uniform(k, self.n_slots))(jax.random.split(k_slots, self.n_tasks))
        counts = jax.random.randint(k_count, (self.n_tasks,), self.sensors[0], self.sensors[1] + 1)
        low, high = (jnp.log(jnp.asarray(v, jnp.float32)) for v in self.noise_levels)
        noise = jnp.exp(jax.random.uniform(k_noise, (self.n_tasks,), minval=low, maxval=high))
        batch = {"z": z, "grid": grid, "sensor_points": slots, "n_sensors": counts, "noise_level": noise}
        if self.data is not None:
            batch["data"] = self.data(jax.random.fold_in(key, 1 << 20), step)
        return batch


def residual_log_likelihood(residuals: Float[Array, "n ..."], std: Float[Array, ""]) -> Float[Array, ""]:
    """``sum log N(r; 0, std^2)`` over every residual entry."""
    return jnp.sum(-0.5 * jnp.square(residuals / std) - jnp.log(std) - 0.5 * jnp.log(2 * jnp.pi))


def residual_noise_std(residuals: Float[Array, "n ..."], ceiling: float = jnp.inf,
                       floor: float = 1e-6) -> Float[Array, ""]:
    """The residual noise std ``min(sqrt(mean r^2 + floor^2), ceiling)`` of residuals r (of the mean field), its
    gradient held."""
    return jnp.minimum(jnp.sqrt(jax.lax.stop_gradient(jnp.mean(jnp.square(residuals))) + floor**2), ceiling)


def _inverse_log_likelihood(model: RGNP, key, z, points, values, scale, n_sensors, noise_level):
    readings, _ = observe(key, values, noise_level, scale)
    posterior = model.inverse(points, readings, sensor_mask(points.shape[0], n_sensors), noise_query(noise_level))
    return posterior.log_prob(z)


def _data_log_likelihood(model: RGNP, z, points, values, noise_std: float):
    return model.forward.distribution(z, points).with_noise(noise_std**2 + 1e-10).log_prob(values)


class RandomGridELBO(eqx.Module):
    """The negative random-grid ELBO per collocation point (module docstring), averaged over the batch's tasks.

    Args:
        problem: the parametric PDE.
        reference_std: s_0, the std of the broad reference measure in the KL.
        max_residual_std: the cap on eps_r (in the residual's units).
        data_noise: std of the noise on the optional data's values (0 for exact solver values).

    The batch is a `RandomGridTasks` batch; when it carries ``"data"``, the data's log-likelihood (mean over its
    cases) is added. Metrics: the ELBO's parts per task and eps_r.
    """

    problem: ParametricProblem
    reference_std: float = eqx.field(static=True, default=10.0)
    max_residual_std: float = eqx.field(static=True, default=1.0)
    data_noise: float = eqx.field(static=True, default=0.0)

    def __check_init__(self):
        if self.reference_std <= 0 or self.max_residual_std <= 0 or self.data_noise < 0:
            raise ConfigError(f"RandomGridELBO: expected reference_std > 0, max_residual_std > 0 and data_noise >= 0, "
                              f"got {self.reference_std}, {self.max_residual_std} and {self.data_noise}")

    def terms(self, model: RGNP, batch, key) -> dict[str, Array]:
        """The ELBO's parts per task ``(B,)``: residual log-likelihood, inverse log-likelihood, KL, residual noise std.

        Everything pointwise (the network's rows, the residuals) runs as one flat batch of (z, x) pairs: nesting a
        vmap over tasks around the residual's derivatives doubles the compile time for nothing.
        """
        z, grid, slots = batch["z"], batch["grid"], batch["sensor_points"]
        n_tasks, n, d = grid.shape
        forward = model.forward
        points = jnp.concatenate([grid, slots], axis=1)  # (B, n + s, d)
        m = points.shape[1]
        k_point, k_shared, k_obs = jax.random.split(key, 3)
        rows = jax.vmap(forward.raw)(jnp.repeat(z, m, axis=0), points.reshape(-1, d)).reshape(n_tasks, m, -1)
        distributions = jax.vmap(forward.distribution_of_rows)(points, rows)
        point_noise = jax.random.normal(k_point, (n_tasks, m), grid.dtype)
        shared_noise = jax.random.normal(k_shared, (n_tasks, forward.covariance.rank), grid.dtype)
        values = jax.vmap(Gaussian.sample_from)(distributions, point_noise, shared_noise)
        names = self.problem.domain.names

        def residual(zi, x, eps, shared):
            fields = Field(lambda p: forward.antithetic_fields(zi, p, eps, shared), x, names)
            return self.problem.residual(fields, zi)

        residuals = jax.vmap(residual)(jnp.repeat(z, n, axis=0), grid.reshape(-1, d),
                                       point_noise[:, :n].reshape(-1), jnp.repeat(shared_noise, n, axis=0))
        if residuals.ndim < 2 or residuals.shape[1] != 3:
            raise ConfigError(f"RandomGridELBO: the residual must act elementwise on u (a Field of three fields gave "
                              f"shape {residuals.shape[1:]} per point, expected (3, ...)); write it with u.value, "
                              "u.x, ... and no reductions over u")
        residuals = residuals.reshape(n_tasks, n, *residuals.shape[1:])  # of the mean, the draw, its mirror
        reference = Gaussian(jnp.zeros((m,), grid.dtype), jnp.full((m,), self.reference_std**2, grid.dtype),
                             jnp.zeros((m, 0), grid.dtype))

        def task(r, distribution, u, zi, slot_points, n_sensors, noise_level, k):
            std = residual_noise_std(r[:, 0], self.max_residual_std)
            return {
                "residual_loglik": 0.5 * (residual_log_likelihood(r[:, 1], std)
                                          + residual_log_likelihood(r[:, 2], std)),
                # the draws' gradient held: the inverse network learns from the forward model, not vice versa
                "inverse_loglik": _inverse_log_likelihood(model, k, zi, slot_points, jax.lax.stop_gradient(u[n:]),
                                                          jnp.max(jnp.abs(u)), n_sensors, noise_level),
                "kl": kl_divergence(distribution, reference),
                "residual_std": std,
            }

        return jax.vmap(task)(residuals, distributions, values, z, slots, batch["n_sensors"], batch["noise_level"],
                              jax.random.split(k_obs, n_tasks))

    def __call__(self, model: RGNP, batch, key):
        n_points = batch["grid"].shape[1]
        terms = {name: jnp.mean(value) for name, value in self.terms(model, batch, key).items()}
        elbo = terms["residual_loglik"] + terms["inverse_loglik"] - terms["kl"]
        metrics = dict(terms)
        if "data" in batch:
            data = batch["data"]
            data_loglik = jnp.mean(jax.vmap(lambda z, p, v: _data_log_likelihood(model, z, p, v, self.data_noise))(
                data["z"], data["points"], data["values"]))
            elbo = elbo + data_loglik
            metrics["data_loglik"] = data_loglik
        return -elbo / n_points, metrics


class DataELBO(eqx.Module):
    """The neural process without physics: the forward model's log-likelihood of solver data at arbitrary points plus
    the inverse model's log-likelihood of the true z from noisy sensor readings of the same data; negative, per data
    point, averaged over the batch (a `SensorData` batch).

    Args:
        n_slots: sensor slots the inverse network reads (the first points of each shuffled case).
        data_noise: std of the noise on the data's values (0 for exact solver values).
    """

    n_slots: int = eqx.field(static=True)
    data_noise: float = eqx.field(static=True, default=0.0)

    def __check_init__(self):
        if self.data_noise < 0 or self.n_slots < 1:
            raise ConfigError(f"DataELBO: expected n_slots >= 1 and data_noise >= 0, got {self.n_slots} and "
                              f"{self.data_noise}")

    def __call__(self, model: RGNP, batch, key):
        n_batch, n_points = batch["values"].shape

        def case(z, points, values, n_sensors, noise_level, k):
            slots = slice(0, self.n_slots)
            return (_data_log_likelihood(model, z, points, values, self.data_noise),
                    _inverse_log_likelihood(model, k, z, points[slots], values[slots], jnp.max(jnp.abs(values)),
                                            n_sensors, noise_level))

        data_loglik, inverse_loglik = jax.vmap(case)(batch["z"], batch["points"], batch["values"],
                                                     batch["n_sensors"], batch["noise_level"],
                                                     jax.random.split(key, n_batch))
        data_loglik, inverse_loglik = jnp.mean(data_loglik), jnp.mean(inverse_loglik)
        return -(data_loglik + inverse_loglik) / n_points, {"data_loglik": data_loglik,
                                                            "inverse_loglik": inverse_loglik}
