"""PIG training step: sciml's evaluation against the direct formulation, on the flow-mixing problem.

Same model (flow-mixing-pig's defaults: 4 x 400 Gaussians, a 16-unit MLP), same points (as many residual points
as the case uses, its uniform and adaptive ones, here all uniform, redrawn each step; its face points), same loss,
Adam through `sciml.train.fit`, float32. The two differ only in how they evaluate:

- sciml: the Gaussians' exponent expanded into matrix products (`GaussianFeatures`) and a scalar field's first
  derivatives from one reverse pass (`sciml.pde.Field`);
- direct: the exponent from the (k, N, d) differences |(x - mu) / sigma|^2 and one forward-mode pass per coordinate
  (`sciml.pde.derivative`), as the PIG paper's formulas read.

Timed in one process, interleaved after warm-up, compilation left out; the ratio is taken pair by pair and its
median reported.

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
        python benchmarks/pig_step.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from sciml.benchmarking import Benchmark, Side, machine_info, xla_cpu_threads
from sciml.nn import GaussianFeatures
from sciml.pde import derivative
from sciml.pinn import PINNLoss
from sciml.studies import load_experiment
from sciml.studies.cases import FlowMixing
from sciml.studies.pinn import pointwise_model
from sciml.train import fit


class DirectGaussianFeatures(eqx.Module):
    """A diagonal `GaussianFeatures`' sum with the exponent taken from the differences, as the paper writes it."""

    features: GaussianFeatures

    def __call__(self, x):
        f = self.features
        z = (x - f.means) / f.scales
        return jnp.sum(f.weights * jnp.exp(-0.5 * jnp.sum(z * z, axis=-1)), axis=-1)


def flow_mixing_setup(n_gaussians: int | None):
    """flow-mixing-pig's config (with `n_gaussians` if given), problem, PIG model and one batch of points."""
    config_type = load_experiment("flow-mixing-pig").config_type
    config = config_type() if n_gaussians is None else config_type(n_gaussians=n_gaussians)
    problem, transform = FlowMixing().problem(config.n_points + config.adaptive_points, config.n_condition)
    model = pointwise_model(problem, transform, config, key=jax.random.key(0))
    batch = problem.sampler()(jax.random.key(1), 0)
    return config, problem, model, batch


def direct_model(model):
    """The same model (same parameters) with `DirectGaussianFeatures`."""
    return eqx.tree_at(lambda m: m.embedding, model, DirectGaussianFeatures(model.embedding))


def direct_loss(problem, weights):
    """The flow-mixing loss with one forward-mode pass per coordinate for u_t, u_x, u_y (`fit`'s loss signature)."""

    def loss(model, batch, key):
        def residual(p):
            u_t, u_x, u_y = (derivative(model, p, (axis,)) for axis in range(3))
            a, b = FlowMixing.velocity(p)
            return u_t + a * u_x + b * u_y

        total = weights["residual"] * jnp.mean(jnp.square(jax.vmap(residual)(batch["residual"])))
        for name, constraint in problem.constraints.items():
            total = total + constraint.loss(model, batch[name])
        return total, {}

    return loss


def fit_rate(model, loss, sampler, steps: int):
    """`rate(repeat)`: the steps/s of `steps` Adam steps through `sciml.train.fit` (compilation left out)."""

    def rate(repeat: int) -> float:
        start = time.perf_counter()
        result = fit(model, loss, sampler, optax.adam(1e-3), steps, key=jax.random.key(0), chunk=steps, progress=False)
        jax.block_until_ready(eqx.filter(result.model, eqx.is_array))
        return steps / (time.perf_counter() - start - result.compile_time_s)

    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 Gaussians, short repeats: a smoke run")
    args = parser.parse_args()
    n_gaussians, steps, repeats = (40, 5, 2) if args.quick else (None, 20, 5)
    bench = Benchmark("pig_step-quick" if args.quick else "pig_step")
    config, problem, model, batch = flow_mixing_setup(n_gaussians)
    weights = {"residual": config.residual_weight}
    sciml_loss = PINNLoss(problem, weights=weights)
    peer_loss = direct_loss(problem, weights)
    values = {"sciml": float(sciml_loss(model, batch, None)[0]),
              "direct": float(peer_loss(direct_model(model), batch, None)[0])}
    np.testing.assert_allclose(values["sciml"], values["direct"], rtol=1e-4, err_msg="the two forms disagree")
    rates = bench.interleaved({
        "sciml": Side(fit_rate(model, sciml_loss, problem.sampler(), steps), xla_cpu_threads()),
        "direct": Side(fit_rate(direct_model(model), peer_loss, problem.sampler(), steps), xla_cpu_threads()),
    }, repeats)
    ratios = [s / d for s, d in zip(rates["sciml"], rates["direct"], strict=True)]
    result = {
        "machine": machine_info(),
        "setting": {"n_gaussians": config.n_gaussians, "channels": config.channels,
                    "points": int(batch["residual"].shape[0]),
                    "face_points": int(sum(v.shape[0] for k, v in batch.items() if k != "residual")),
                    "steps_per_repeat": steps, "repeats": repeats},
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "initial_loss": values,
        "steps_per_s": rates,
        "ratio_median": float(np.median(ratios)),
    }
    s = result["setting"]
    lines = [
        f"Flow mixing, {s['channels']} x {s['n_gaussians']} Gaussians, {s['points']} residual points and "
        f"{s['face_points']} face points per step; {repeats} interleaved repeats of {steps} Adam steps. Both forms "
        f"give the same loss (sciml {values['sciml']:.6e}, direct {values['direct']:.6e}). "
        f"XLA_FLAGS: `{result['xla_flags'] or '(none)'}`.",
        "",
        "| evaluation | steps/s (median) | ratio to direct |",
        "|---|---|---|",
        f"| sciml (expanded exponent, reverse-mode first derivatives) | {np.median(rates['sciml']):.2f} | "
        f"{result['ratio_median']:.2f}x |",
        f"| direct (differences, one forward pass per coordinate) | {np.median(rates['direct']):.2f} | 1.00x |",
    ]
    bench.write_report(result, "PIG training step: sciml vs the direct formulation", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
