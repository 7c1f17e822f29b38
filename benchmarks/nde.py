"""Training throughput of sciml's neural ODE / SDE (diffrax, through `sciml.train.fit`) against torchdiffeq / torchsde.

Same model (weights copied from the torch initialisation), same solver, tolerances, batch, loss, optimizer and float32;
both pinned to one CPU thread (XLA's Eigen pool off, `torch.set_num_threads(1)`), so the comparison does not depend on
how busy the machine's other cores are. Blocks of `block` training steps alternate A, B, A, B: sciml's blocks are
`fit` chunks, and each torch block runs inside a `fit` evaluation hook between two chunks. The first block of each
side is warm-up (sciml's includes XLA compilation, reported separately); the ratio is taken pair by pair.

    .venv/bin/python benchmarks/nde.py [--quick]

writes benchmarks/results/nde.json and docs/results/nde.md.
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import diffrax  # noqa: E402
import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import scipy.linalg  # noqa: E402
import torch  # noqa: E402
import torchdiffeq  # noqa: E402
import torchsde  # noqa: E402

from sciml.benchmarking import Benchmark  # noqa: E402
from sciml.dynamics import DiagonalDiffusion, MLPVectorField, NeuralODE, NeuralSDE, path_mmd, trajectory_mse  # noqa: E402
from sciml.provenance import device_description, package_versions  # noqa: E402
from sciml.train import Evaluation, fit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MMD_SCALES = (0.1, 0.3, 1.0, 3.0)


def torch_mlp(sizes):
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.Softplus()]
    return torch.nn.Sequential(*layers[:-1])


def copy_weights(mlp, net):
    """Put the torch network's weights into a `sciml.nn.MLP` of the same sizes."""
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    weights = tuple(jnp.asarray(m.weight.detach().numpy()) for m in linears)
    biases = tuple(jnp.asarray(m.bias.detach().numpy()) for m in linears)
    mlp = eqx.tree_at(lambda m: tuple(layer.weight for layer in m.layers), mlp, weights)
    return eqx.tree_at(lambda m: tuple(layer.bias for layer in m.layers), mlp, biases)


def torch_mmd(x, y):
    x, y = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)

    def sq(a, b):
        return (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T

    dyy = sq(y, y)
    median = dyy.median().detach()

    def kernel(d):
        return sum(torch.exp(-d / (s * median)) for s in MMD_SCALES)

    def off(k):
        n = k.shape[0]
        return (k.sum() - torch.diagonal(k).sum()) / (n * (n - 1))

    return off(kernel(sq(x, x))) + off(kernel(dyy)) - 2 * kernel(sq(x, y)).mean()


def interleaved(model, loss, batch, torch_step, block, repeats):
    """Run `repeats + 1` blocks of each side alternately; return per-block seconds of both and sciml's compile time."""
    torch_seconds = []

    def torch_block(_):
        t0 = time.perf_counter()
        for _ in range(block):
            torch_step()
        torch_seconds.append(time.perf_counter() - t0)
        return {}

    result = fit(model, loss, batch, optax.adam(1e-3), block * (repeats + 1), key=jax.random.key(0), chunk=block,
                 evaluations=[Evaluation(torch_block, block)], progress=False)
    ours_seconds = [block / h["steps_per_s"] for h in result.history]
    return ours_seconds, torch_seconds, result


def summarise(name, ours, theirs, compile_s, block, extra):
    ours, theirs = np.asarray(ours[1:]), np.asarray(theirs[1:])
    ratio = theirs / ours
    return {
        "name": name,
        "sciml_steps_per_s": float(np.median(block / ours)),
        "peer_steps_per_s": float(np.median(block / theirs)),
        "speedup_median": float(np.median(ratio)),
        "speedup_min": float(np.min(ratio)),
        "speedup_max": float(np.max(ratio)),
        "sciml_compile_s": compile_s,
        "raw_sciml_block_s": ours.tolist(),
        "raw_peer_block_s": theirs.tolist(),
        **extra,
    }


def neural_ode_case(config):
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    ts = np.linspace(0.0, config["t1"], config["times"], dtype=np.float32)
    matrix = np.array([[-0.1, 2.0], [-2.0, -0.1]])
    y0 = rng.normal(size=(config["batch"], 2))
    ys = np.stack([[scipy.linalg.expm(matrix * t) @ y for t in ts] for y in y0]).astype(np.float32)
    sizes = [2] + [config["width"]] * config["depth"] + [2]

    net = torch_mlp(sizes)
    nfe = [0]

    class Field(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, t, y):
            nfe[0] += 1
            return self.net(y)

    field = Field()
    optimizer = torch.optim.Adam(field.parameters(), 1e-3)
    t_torch, ys_torch = torch.tensor(ts), torch.tensor(ys).transpose(0, 1)

    def torch_step():
        optimizer.zero_grad()
        pred = torchdiffeq.odeint(field, ys_torch[0], t_torch, method="dopri5", rtol=config["rtol"],
                                  atol=config["atol"])
        loss = ((pred - ys_torch) ** 2).mean()
        loss.backward()
        optimizer.step()

    vector_field = MLPVectorField(2, config["width"], config["depth"], key=jax.random.key(0))
    vector_field = eqx.tree_at(lambda v: v.mlp, vector_field, copy_weights(vector_field.mlp, net))
    model = NeuralODE(vector_field, solver=diffrax.Dopri5(),
                      stepsize_controller=diffrax.PIDController(rtol=config["rtol"], atol=config["atol"]))
    batch = {"ts": jnp.asarray(ts), "values": jnp.asarray(ys)}
    nfe[0] = 0
    with torch.no_grad():
        torchdiffeq.odeint(field, ys_torch[0], t_torch, method="dopri5", rtol=config["rtol"], atol=config["atol"])
    torch_nfe_at_init = nfe[0]
    steps_at_init = jax.vmap(model.solve, in_axes=(None, 0))(batch["ts"], batch["values"][:, 0]).stats["num_steps"]
    ours, theirs, result = interleaved(model, trajectory_mse, batch, torch_step, config["block"], config["repeats"])
    return summarise("neural ODE (Dopri5) vs torchdiffeq", ours, theirs, result.compile_time_s, config["block"], {
        "sciml_steps_per_solve_at_init": {"mean": float(np.mean(steps_at_init)), "max": int(np.max(steps_at_init))},
        "torchdiffeq_nfe_per_solve_at_init": torch_nfe_at_init,
        "torchdiffeq_steps_per_solve_at_init_approx": (torch_nfe_at_init - 2) / 6,
    })


def neural_sde_case(config):
    rng = np.random.default_rng(1)
    torch.manual_seed(1)
    n_steps, dt = config["sde_steps"], config["sde_dt"]
    ts = (dt * np.arange(n_steps + 1)).astype(np.float32)
    theta, sigma = 1.0, 0.5
    paths = [rng.normal(0.0, sigma / np.sqrt(2 * theta), size=(config["batch"], 2))]
    decay = np.exp(-theta * dt)
    for _ in range(n_steps):
        paths.append(paths[-1] * decay
                     + sigma * np.sqrt((1 - decay**2) / (2 * theta)) * rng.normal(size=paths[-1].shape))
    data = np.stack(paths, axis=1).astype(np.float32)
    sizes = [2] + [config["width"]] * config["depth"] + [2]
    drift_net, diffusion_net = torch_mlp(sizes), torch_mlp(sizes)

    class SDE(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def __init__(self):
            super().__init__()
            self.drift_net, self.diffusion_net = drift_net, diffusion_net

        def f(self, t, y):
            return self.drift_net(y)

        def g(self, t, y):
            return torch.nn.functional.softplus(self.diffusion_net(y))

    sde = SDE()
    optimizer = torch.optim.Adam(sde.parameters(), 1e-3)
    t_torch, data_torch = torch.tensor(ts), torch.tensor(data)

    def torch_step():
        optimizer.zero_grad()
        generated = torchsde.sdeint(sde, data_torch[:, 0], t_torch, method="euler", dt=dt).transpose(0, 1)
        loss = torch_mmd(generated, data_torch)
        loss.backward()
        optimizer.step()

    drift = MLPVectorField(2, config["width"], config["depth"], key=jax.random.key(0))
    drift = eqx.tree_at(lambda v: v.mlp, drift, copy_weights(drift.mlp, drift_net))
    diffusion = DiagonalDiffusion(2, config["width"], config["depth"], key=jax.random.key(1))
    diffusion = eqx.tree_at(lambda v: v.mlp, diffusion, copy_weights(diffusion.mlp, diffusion_net))
    model = NeuralSDE(drift, diffusion, dt0=dt)

    def loss(model, batch, key):
        keys = jax.random.split(key, batch["values"].shape[0])
        generated = jax.vmap(lambda y0, k: model(batch["ts"], y0, key=k))(batch["values"][:, 0], keys)
        mmd = path_mmd(generated, batch["values"], MMD_SCALES)
        return mmd, {"mmd": mmd}

    batch = {"ts": jnp.asarray(ts), "values": jnp.asarray(data)}
    ours, theirs, result = interleaved(model, loss, batch, torch_step, config["block"], config["repeats"])
    return summarise("neural SDE (Euler-Maruyama) vs torchsde", ours, theirs, result.compile_time_s,
                     config["block"], {"brownian": "diffrax VirtualBrownianTree vs torchsde BrownianInterval"})


def markdown(payload) -> str:
    config = payload["config"]
    lines = [
        "# Neural differential equations: training throughput vs torchdiffeq / torchsde",
        "",
        f"Generated by `benchmarks/nde.py{' --quick' if payload['quick'] else ''}` on {payload['device']['machine']} "
        f"({payload['device']['cpu_count']} cores, both sides pinned to 1 thread); "
        f"jax {payload['versions'].get('jax')}, "
        f"diffrax {payload['versions'].get('diffrax')}, torch {payload['versions'].get('torch')}, torchdiffeq "
        f"{payload['peer_versions']['torchdiffeq']}, torchsde {payload['peer_versions']['torchsde']}.",
        "",
        f"Neural ODE: batch {config['batch']} trajectories of a 2-D damped linear oscillator, {config['times']} save "
        f"times on [0, {config['t1']}], MLP 2-{config['width']}x{config['depth']}-2 (softplus), Dopri5 with "
        f"rtol={config['rtol']}, atol={config['atol']}, discretise-then-optimise gradients (diffrax "
        "RecursiveCheckpointAdjoint; torchdiffeq `odeint` backprop), Adam 1e-3, float32.",
        f"Neural SDE: batch {config['batch']} paths of a 2-D OU process, {config['sde_steps']} Euler-Maruyama steps of "
        f"dt={config['sde_dt']} (Ito, diagonal noise), drift and diffusion MLPs "
        f"2-{config['width']}x{config['depth']}-2, "
        "path-MMD loss, Adam 1e-3, float32; Brownian motion from diffrax's VirtualBrownianTree vs torchsde's "
        "BrownianInterval (each library's default).",
        "",
        f"Blocks of {config['block']} training steps, interleaved, {config['repeats']} timed pairs after one warm-up "
        "pair; steps/s are medians, the speed-up is the median (min-max) of the pair-by-pair ratios.",
        "",
        "| case | sciml steps/s | peer steps/s | speed-up (median) | min - max | sciml compile (s) |",
        "|---|---|---|---|---|---|",
    ]
    for case in payload["cases"]:
        lines.append(f"| {case['name']} | {case['sciml_steps_per_s']:.1f} | {case['peer_steps_per_s']:.2f} | "
                     f"{case['speedup_median']:.1f}x | {case['speedup_min']:.1f} - {case['speedup_max']:.1f} | "
                     f"{case['sciml_compile_s']:.1f} |")
    ode = payload["cases"][0]
    lines += [
        "",
        f"Solver work at the shared initialisation: diffrax takes {ode['sciml_steps_per_solve_at_init']['mean']:.1f} "
        f"accepted+rejected steps per trajectory on average (max {ode['sciml_steps_per_solve_at_init']['max']}; each "
        "trajectory has its own step size under `vmap`); torchdiffeq makes "
        f"{ode['torchdiffeq_nfe_per_solve_at_init']} function evaluations for the whole batch (one shared step size, "
        f"about {ode['torchdiffeq_steps_per_solve_at_init_approx']:.0f} steps).",
        "",
        "Compile time is paid once per model/shape (it is the first `fit` chunk's XLA compile of "
        f"{config['block']} fused steps). Absolute numbers move between runs and the pair ratios spread (min - max "
        "column); the medians are the figures to quote.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = {"batch": 32, "times": 20, "t1": 2.0, "width": 32, "depth": 2, "rtol": 1e-3, "atol": 1e-6,
              "sde_steps": 50, "sde_dt": 0.02, "block": 10 if args.quick else 20, "repeats": 2 if args.quick else 5,
              "torch_threads": torch.get_num_threads(), "xla_flags": os.environ["XLA_FLAGS"]}
    bench = Benchmark("nde")
    bench.declare_threads(sciml=1, torch=torch.get_num_threads())
    cases = [neural_ode_case(config)]
    bench.sample("after the neural ODE")
    cases.append(neural_sde_case(config))
    from importlib import metadata

    payload = {
        "benchmark": "nde",
        "quick": args.quick,
        "config": config,
        "cases": cases,
        "device": device_description(),
        "versions": package_versions(),
        "peer_versions": {name: metadata.version(name) for name in ("torchdiffeq", "torchsde")},
    }
    bench.write(ROOT / "benchmarks" / "results" / "nde.json", payload, ROOT / "docs" / "results" / "nde.md",
                markdown(payload))
    print(json.dumps([{k: v for k, v in c.items() if not k.startswith("raw")} for c in cases], indent=1))


if __name__ == "__main__":
    main()
