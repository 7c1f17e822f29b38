"""A physics-informed surrogate of the P2D model over the two calibrated scales (after Hassanaly et al., 2024, Part II).

The network maps ``(s, i0_scale, diffusivity_scale)``, ``s = sqrt(t / t_end)``, to the whole semi-discrete state of
`sciml.solvers.P2D` on its finite-volume mesh: the electrolyte concentration and potential of every cell, the
stoichiometry of every particle shell at every electrode node and the solid potentials. Its physics loss is the
solver's own DAE residual written in s,

    M du/ds = 2 s t_end F(t, u; scales)

(concentration rates, then the charge balances, which are algebraic: M = 0 there), so the surrogate is trained on the
equations the solver integrates. The paper's network is continuous in x and r instead; the semi-discrete form keeps
three inputs instead of five and needs neither interface conditions between the regions nor second derivatives
(the mesh's finite volumes supply them), which is what lets a CPU budget of minutes reach the paper's error.

The paper's regularisations are options:

- the exponential limiter on Butler-Volmer (`P2D.with_overpotential_limit`), which keeps the trial potentials of an
  untrained network from producing overflowing reaction currents;
- gradual time expansion (`ExpandingTimeSampler`): the residual points cover ``s <= s_max(step)``, which grows from
  `s_start` to 1 over `expansion_steps`;
- integral losses: the lithium inventories the equations conserve exactly, the salt in the electrolyte
  (``sum eps h c_e`` constant) and the mean particle stoichiometry of each electrode, which moves linearly in time
  with the applied current (`lithium_inventory`);
- the hierarchy: with a trained `SPMSurrogate` as the low-fidelity level, every node's particle starts from its
  stoichiometry profile and the potentials from the uniform-reaction (SPM) potentials of its surface
  stoichiometries, and the network adds a small correction (`output_scales`); without it, from the cell at rest
  with each electrode's exact mean drift.

The concentrations carry a hard initial condition (their correction is multiplied by s). Solver states at training
pairs give the data term (the data-informed variant); without them the loss is physics only.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from sciml._errors import ConfigError
from sciml.battery._surrogate import (
    SPMSurrogate,
    SurrogateSetup,
    check_surrogate_inputs,
    check_surrogate_scales,
    check_surrogate_times,
)
from sciml.nn import MLP
from sciml.solvers import P2D
from sciml.solvers._spm import FARADAY
from sciml.train import AbstractSampler

ELECTROLYTE_SCALE = 0.1
"""Scale of the network's electrolyte outputs (c_e / c_e,init)."""
PARTICLE_SCALE = 0.02
"""Scale of the network's stoichiometry outputs."""
POTENTIAL_SCALE = 0.1
"""Scale of the network's potential outputs [V]."""
ERROR_UNIT = 1e-3
"""The unit every loss term measures its errors in: 1e-3 of a stoichiometry or of c_e,init, and 1 mV."""
POINTS_PER_CHUNK = 3232
"""(time, parameter pair) points a batched voltage evaluation computes at once (32 curves of 101 times). One vmap
over a large batch streams every layer's activations through main memory; chunks of this size keep them in cache,
which on the 2-core reference CPU makes a curve in a batch of 1024 three times cheaper (16 vs 48 us)."""


class P2DSurrogate(eqx.Module):
    """A surrogate ``u(t, i0_scale, diffusivity_scale)`` of the P2D state on `solver`'s mesh, and its voltage.

    Args:
        solver: the P2D model whose mesh and state layout the surrogate follows.
        setup: the discharge (current, t_end) and the box of the two scales.
        width, depth: the MLP ``(3,) -> (n_state,)``; its output layer starts at zero (the surrogate starts as the
            baseline).
        key: PRNG key of the network (keyword-only).
        low_fidelity: a trained SPM surrogate of the same `setup` (the hierarchy's lower level) or None.
    """

    network: MLP
    solver: P2D
    low_fidelity: SPMSurrogate | None
    setup: SurrogateSetup = eqx.field(static=True)

    def __init__(self, solver: P2D, setup: SurrogateSetup, width: int, depth: int, *, key: jax.Array,
                 low_fidelity: SPMSurrogate | None = None):
        if low_fidelity is not None and low_fidelity.setup != setup:
            raise ConfigError("P2DSurrogate: the low-fidelity SPM surrogate covers another discharge or box "
                              f"({low_fidelity.setup}) than this one ({setup}); train it on the same SurrogateSetup")
        network = MLP(3, solver.mass().size, width, depth, key=key)
        last = network.layers[-1]
        self.network = eqx.tree_at(lambda n: n.layers[-1].weight, network, jnp.zeros_like(last.weight))
        self.solver, self.setup, self.low_fidelity = solver, setup, low_fidelity

    def features(self, s, i0_scale, diffusivity_scale) -> Float[Array, " 3"]:
        """``(2 s - 1, i0 scale, log D scale)``, each mapped to [-1, 1] over the box."""
        (i0_low, i0_high), (d_low, d_high) = self.setup.i0_range, self.setup.diffusivity_range
        return jnp.stack([2.0 * s - 1.0, 2.0 * (i0_scale - i0_low) / (i0_high - i0_low) - 1.0,
                          2.0 * (jnp.log(diffusivity_scale) - math.log(d_low)) / math.log(d_high / d_low) - 1.0])

    def mean_stoichiometries(self, t) -> tuple:
        """Exact mean particle stoichiometry of the negative and positive electrode at time t [s] (lithium leaves
        the negative and enters the positive at the rate of the applied current)."""
        p = self.solver.parameters
        current_density = self.setup.current / p.electrode_area
        out = []
        for electrode, sign in ((p.negative, -1.0), (p.positive, 1.0)):
            rate = current_density / (FARADAY * electrode.active_fraction * electrode.c_max * electrode.thickness)
            out.append(electrode.c_init / electrode.c_max + sign * rate * t)
        return out[0], out[1]

    def _shells(self, s, i0_scale, diffusivity_scale, shells: np.ndarray) -> Float[Array, "k 2"]:
        """Baseline stoichiometry of both electrodes' particles at the shell indices `shells`: the low-fidelity
        level's profile (clipped to (0, 1), as the SPM surrogate's own voltage does), or the exact mean
        stoichiometry."""
        if self.low_fidelity is None:
            x_n, x_p = self.mean_stoichiometries(s**2 * self.setup.t_end)
            return jnp.broadcast_to(jnp.stack([x_n, x_p]), (len(shells), 2))
        rho = jnp.asarray((shells + 0.5) / self.solver.n_shells, s.dtype)
        weights, structure = eqx.partition(self.low_fidelity.network, eqx.is_array)
        # the level is frozen: no gradient to its weights, but derivatives in s and the scales pass through
        network = eqx.combine(jax.lax.stop_gradient(weights), structure)
        profile = jax.vmap(lambda r: network(jnp.stack([s, r, i0_scale, diffusivity_scale])))(rho)
        return jnp.clip(profile, 1e-6, 1.0 - 1e-6)

    def _baseline_potentials(self, i0_scale, diffusivity_scale, outer_shells) -> Float[Array, " n_potentials"]:
        """Uniform-reaction potentials of the particles whose two outermost shells are `outer_shells` (2, 2), with
        the electrolyte at rest."""
        solver = self.solver
        surface = solver.surface_stoichiometry(outer_shells.T)  # (negative, positive)
        c_e = jnp.full(solver.n_cells, solver.parameters.electrolyte_concentration, outer_shells.dtype)
        return solver.uniform_reaction_potentials(
            (c_e, jnp.full(solver.n_negative, surface[0]), jnp.full(solver.n_positive, surface[1])),
            (self.setup.current, i0_scale, diffusivity_scale))

    def baseline(self, s, i0_scale, diffusivity_scale) -> Float[Array, " n_state"]:
        """The state the network corrects: the low-fidelity particles (or the exact mean drift) at every node, the
        electrolyte at rest, and the uniform-reaction potentials of those particles' surfaces."""
        solver = self.solver
        shells = self._shells(s, i0_scale, diffusivity_scale, np.arange(solver.n_shells))
        potentials = self._baseline_potentials(i0_scale, diffusivity_scale, shells[-2:])
        x_n = jnp.broadcast_to(shells[:, 0], (solver.n_negative, solver.n_shells))
        x_p = jnp.broadcast_to(shells[:, 1], (solver.n_positive, solver.n_shells))
        return jnp.concatenate([jnp.ones(solver.n_cells, s.dtype), x_n.ravel(), x_p.ravel(), potentials])

    def output_scales(self) -> np.ndarray:
        """(n_state,) scale of the network's correction per unknown: electrolyte, particles, potentials."""
        solver = self.solver
        n_particles = (solver.n_negative + solver.n_positive) * solver.n_shells
        return np.concatenate([np.full(solver.n_cells, ELECTROLYTE_SCALE), np.full(n_particles, PARTICLE_SCALE),
                               np.full(solver.mass().size - solver.n_cells - n_particles, POTENTIAL_SCALE)])

    def state(self, s, i0_scale, diffusivity_scale) -> Float[Array, " n_state"]:
        """The P2D state (`P2D` layout) at ``s = sqrt(t / t_end)``; concentrations equal the rest state at s = 0."""
        gate = jnp.where(self.solver.mass() > 0, s, 1.0) * self.output_scales()
        correction = self.network(self.features(s, i0_scale, diffusivity_scale))
        return self.baseline(s, i0_scale, diffusivity_scale) + gate * correction

    def terminal_voltage(self, s, i0_scale, diffusivity_scale) -> Float[Array, ""]:
        """Terminal voltage [V] at ``s = sqrt(t / t_end)``: the solver's, from the last two solid-potential cells of
        `state`, computing only what it needs (the two outermost shells of the baseline, two network outputs)."""
        n = self.solver.mass().size
        outer = self._shells(s, i0_scale, diffusivity_scale, np.arange(self.solver.n_shells - 2, self.solver.n_shells))
        hidden = self.features(s, i0_scale, diffusivity_scale)
        for layer in self.network.layers[:-1]:
            hidden = self.network.activation(layer(hidden))
        last = self.network.layers[-1]
        correction = last.weight[n - 2:] @ hidden + last.bias[n - 2:]
        phi = self._baseline_potentials(i0_scale, diffusivity_scale, outer)[-2:] + POTENTIAL_SCALE * correction
        return 1.5 * phi[1] - 0.5 * phi[0]

    def voltage_unchecked(self, t: Float[Array, " n"], i0_scale, diffusivity_scale) -> Float[Array, " n"]:
        """Terminal voltage [V] at times `t` [s] (no range checks; jittable and differentiable in the scales)."""
        s = jnp.sqrt(jnp.clip(t / self.setup.t_end, 0.0, None))
        return jax.vmap(lambda si: self.terminal_voltage(si, i0_scale, diffusivity_scale))(s)

    def voltages_unchecked(self, t: Float[Array, " n"], i0_scales: Float[Array, " m"],
                           diffusivity_scales: Float[Array, " m"]) -> Float[Array, "m n"]:
        """Terminal voltage [V] at times `t` [s] for each of m scale pairs, in cache-sized chunks of
        `POINTS_PER_CHUNK` points (no range checks; jittable)."""
        chunk = max(1, POINTS_PER_CHUNK // t.shape[0])
        return jax.lax.map(lambda pair: self.voltage_unchecked(t, pair[0], pair[1]),
                           (i0_scales, diffusivity_scales), batch_size=chunk)

    def voltage(self, t, i0_scale: float, diffusivity_scale: float, extrapolate: bool = False) -> np.ndarray:
        """(n,) terminal voltage [V] at times `t` [s] after checking the inputs lie in the trained box."""
        check_surrogate_inputs("P2DSurrogate", self.setup, t, i0_scale, diffusivity_scale, extrapolate)
        return np.asarray(_surrogate_voltage(self, jnp.asarray(t, jnp.float32), float(i0_scale),
                                             float(diffusivity_scale)))

    def voltages(self, t, i0_scales, diffusivity_scales, extrapolate: bool = False) -> np.ndarray:
        """(m, n) terminal voltage [V] at times `t` [s] for m scale pairs (`i0_scales`, `diffusivity_scales`: (m,)),
        after checking every pair lies in the trained box."""
        i0_scales, diffusivity_scales = np.asarray(i0_scales, float), np.asarray(diffusivity_scales, float)
        if i0_scales.ndim != 1 or i0_scales.shape != diffusivity_scales.shape or i0_scales.size == 0:
            raise ConfigError(f"P2DSurrogate.voltages: i0_scales and diffusivity_scales must be 1-D arrays of one "
                              f"length m >= 1 (one pair per curve), got shapes {i0_scales.shape} and "
                              f"{diffusivity_scales.shape}")
        check_surrogate_times("P2DSurrogate", self.setup, t)
        for i0_scale, diffusivity_scale in zip(i0_scales, diffusivity_scales, strict=True):
            check_surrogate_scales("P2DSurrogate", self.setup, i0_scale, diffusivity_scale, extrapolate)
        return np.asarray(_surrogate_voltages(self, jnp.asarray(t, jnp.float32), jnp.asarray(i0_scales, jnp.float32),
                                              jnp.asarray(diffusivity_scales, jnp.float32)))


@eqx.filter_jit
def _surrogate_voltage(surrogate: P2DSurrogate, t, i0_scale, diffusivity_scale):
    return surrogate.voltage_unchecked(t, i0_scale, diffusivity_scale)


@eqx.filter_jit
def _surrogate_voltages(surrogate: P2DSurrogate, t, i0_scales, diffusivity_scales):
    return surrogate.voltages_unchecked(t, i0_scales, diffusivity_scales)


def lithium_inventory(surrogate: P2DSurrogate, state: Float[Array, " n_state"], t) -> Float[Array, " 3"]:
    """The inventories the P2D equations conserve, as residuals that vanish on an exact solution: the relative
    change of the salt in the electrolyte, and each electrode's mean particle stoichiometry minus its exact value at
    time t [s] (shell averages weighted by the shell volumes, nodes by their widths)."""
    solver = surrogate.solver
    c_e, x_n, x_p, _, _, _ = solver.split(state)
    eps, _ = solver.porosities()
    salt_weight = eps * solver.cell_widths()
    salt = jnp.sum(salt_weight * c_e) / (np.sum(salt_weight) * solver.parameters.electrolyte_concentration) - 1.0
    edges = np.linspace(0.0, 1.0, solver.n_shells + 1)
    shell_weight = edges[1:] ** 3 - edges[:-1] ** 3
    x_n_mean, x_p_mean = surrogate.mean_stoichiometries(t)
    return jnp.stack([salt, jnp.mean(x_n @ shell_weight) - x_n_mean, jnp.mean(x_p @ shell_weight) - x_p_mean])


class ExpandingTimeSampler(AbstractSampler):
    """Residual points ``(n, 3)`` = (s, i0_scale, diffusivity_scale), uniform in s on [0, s_max(step)] (gradual time
    expansion: ``s_max`` grows linearly from `s_start` at step 0 to 1 at `expansion_steps`; 0 steps: always 1),
    uniform in the i0 scale and log-uniform in the diffusivity scale over the box."""

    n: int = eqx.field(static=True)
    setup: SurrogateSetup = eqx.field(static=True)
    s_start: float = eqx.field(static=True, default=1.0)
    expansion_steps: int = eqx.field(static=True, default=0)

    def __check_init__(self):
        if self.n < 1 or not 0 < self.s_start <= 1 or self.expansion_steps < 0:
            raise ConfigError(f"ExpandingTimeSampler: need n >= 1, 0 < s_start <= 1 and expansion_steps >= 0, got "
                              f"n={self.n}, s_start={self.s_start}, expansion_steps={self.expansion_steps}")

    def s_max(self, step) -> Array:
        """Upper end of the sampled s range at `step`."""
        if self.expansion_steps == 0:
            return jnp.asarray(1.0)
        grown = self.s_start + (1.0 - self.s_start) * step / self.expansion_steps
        return jnp.clip(grown, self.s_start, 1.0)

    def __call__(self, key, step):
        u = jax.random.uniform(jax.random.fold_in(key, step), (self.n, 3))
        (i0_low, i0_high), (d_low, d_high) = self.setup.i0_range, self.setup.diffusivity_range
        return jnp.stack([u[:, 0] * self.s_max(step), i0_low + u[:, 1] * (i0_high - i0_low),
                          jnp.exp(math.log(d_low) + u[:, 2] * math.log(d_high / d_low))], axis=1)


class P2DSurrogateLoss(eqx.Module):
    """The surrogate's loss on a batch of residual points ``(n, 3)`` (see `ExpandingTimeSampler`).

    Terms (mean squares of errors in `ERROR_UNIT`): ``electrolyte``, ``particles`` and ``charge``, the rows of the
    DAE residual in s, each divided by its own stiffness so that it measures an error of its own unknown: row i by
    ``1 + 2 s t_end |J_ii|`` for a concentration and by ``|J_ii|`` for a charge balance, with J the residual's
    Jacobian at the cell's rest state in the middle of the box (a Jacobi preconditioner; unscaled, the stiff
    electrolyte rows, ~1e3 times faster than the discharge, swamp every other term); ``inventory``
    (`lithium_inventory`); ``data``: the state misfit at the solver's training points; and ``voltage``: the
    terminal-voltage misfit there (the observable; one number per point against the 186 of ``data``, so it gets its
    own weight).

    Args:
        solver: the P2D residual the loss uses (e.g. with an overpotential limit).
        weights: ``{"physics", "inventory", "data", "voltage"}`` weights (0 or absent drops a term).
        data_points: (m, 3) training points (s, i0_scale, diffusivity_scale), or None (physics only).
        data_states: (m, n_state) solver states at those points.
    """

    solver: P2D
    stiffness: Array
    data_points: Array | None
    data_states: Array | None
    weights: dict[str, float] = eqx.field(static=True)

    def __init__(self, solver: P2D, weights: dict[str, float], data_points=None, data_states=None):
        unknown = set(weights) - {"physics", "inventory", "data", "voltage"}
        if unknown:
            raise ConfigError(f"P2DSurrogateLoss: unknown weights {sorted(unknown)}; expected physics, inventory, "
                              "data, voltage")
        if max(weights.get("data", 0.0), weights.get("voltage", 0.0)) > 0 and data_points is None:
            raise ConfigError("P2DSurrogateLoss: a data or voltage weight needs data_points and data_states; pass the "
                              "solver's states or set both weights to 0 (physics only)")
        if data_points is not None and (np.shape(data_points)[-1] != 3 or np.shape(data_states)
                                        != (np.shape(data_points)[0], solver.mass().size)):
            raise ConfigError(f"P2DSurrogateLoss: data_points must be (m, 3) and data_states (m, {solver.mass().size})"
                              f", got {np.shape(data_points)} and {np.shape(data_states)}")
        self.solver, self.weights = solver, dict(weights)
        with jax.enable_x64(True):
            args = (jnp.asarray(1.0), jnp.asarray(1.0), jnp.asarray(1.0))
            rest = solver.initial_state(args)
            jacobian = jax.jacfwd(lambda u: solver.residual(0.0, u, args))(rest)
            self.stiffness = jnp.asarray(np.abs(np.diag(np.asarray(jacobian))), jnp.float32)
        self.data_points = None if data_points is None else jnp.asarray(data_points, jnp.float32)
        self.data_states = None if data_states is None else jnp.asarray(data_states, jnp.float32)

    def _residual(self, model: P2DSurrogate, point) -> Float[Array, " n_state"]:
        s, i0_scale, diffusivity_scale = point[0], point[1], point[2]
        state, rate = jax.jvp(lambda si: model.state(si, i0_scale, diffusivity_scale), (s,), (jnp.ones_like(s),))
        t_end = model.setup.t_end
        rhs = self.solver.residual(s**2 * t_end, state, (model.setup.current, i0_scale, diffusivity_scale))
        differential = self.solver.mass() > 0
        scaled = jnp.where(differential, (rate - 2.0 * s * t_end * rhs) / (1.0 + 2.0 * s * t_end * self.stiffness),
                           rhs / self.stiffness)
        return scaled / ERROR_UNIT

    def __call__(self, model: P2DSurrogate, batch, key):
        terms = {}
        n_cells = self.solver.n_cells
        n_concentrations = int(np.sum(self.solver.mass()))
        if self.weights.get("physics", 0.0) > 0:
            squared = jnp.square(jax.vmap(lambda p: self._residual(model, p))(batch))
            terms["electrolyte"] = jnp.mean(squared[:, :n_cells])
            terms["particles"] = jnp.mean(squared[:, n_cells:n_concentrations])
            terms["charge"] = jnp.mean(squared[:, n_concentrations:])
        if self.weights.get("inventory", 0.0) > 0:
            def inventory(point):
                state = model.state(point[0], point[1], point[2])
                return lithium_inventory(model, state, point[0] ** 2 * model.setup.t_end) / ERROR_UNIT

            terms["inventory"] = jnp.mean(jnp.square(jax.vmap(inventory)(batch)))
        if self.weights.get("data", 0.0) > 0 or self.weights.get("voltage", 0.0) > 0:
            states = jax.vmap(lambda p: model.state(p[0], p[1], p[2]))(self.data_points)
            voltage_misfit = (self.solver.terminal_voltage(states) - self.solver.terminal_voltage(self.data_states))
            terms["data"] = jnp.mean(jnp.square((states - self.data_states) / ERROR_UNIT))
            terms["voltage"] = jnp.mean(jnp.square(voltage_misfit / ERROR_UNIT))
        weight = {"electrolyte": "physics", "particles": "physics", "charge": "physics"}
        total = sum(self.weights.get(weight.get(name, name), 0.0) * value for name, value in terms.items())
        return total, terms


def solver_states(solver: P2D, setup: SurrogateSetup, pairs: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(n_pairs, n_s, n_state) P2D states at ``t = s^2 t_end`` for each (i0_scale, diffusivity_scale) row of `pairs`
    (float64, one compiled call). Raises `ConfigError` if a discharge ends (depletion, saturation) before t_end."""
    with jax.enable_x64(True):
        states = np.asarray(_states(solver, jnp.asarray(setup.current, jnp.float64), jnp.asarray(pairs, jnp.float64),
                                    jnp.asarray(setup.t_end * np.asarray(s, float) ** 2)))
    if not np.all(np.isfinite(states)):
        raise ConfigError(f"P2D surrogate data: the discharge at {setup.current:g} A ends before t_end = "
                          f"{setup.t_end:g} s for some training pairs (electrolyte depleted or a particle saturated); "
                          "lower t_end or the current")
    return states


@eqx.filter_jit
def _states(solver: P2D, current, pairs, t):
    return jax.lax.map(lambda pair: solver.integrate(current, pair[0], pair[1], t, cutoff=False).ys, pairs)
