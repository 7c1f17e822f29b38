"""FNO training speed: sciml's FNO (JAX, through `sciml.train.fit`) vs the neuraloperator package's PyTorch FNO.

Same problem (one-step prediction on 1D Burgers trajectories at 1024 points, nu = 0.01, residual update
``u + fno(u)``, mean-squared error, Adam 1e-3), same width, modes, depth, batch and float32; torch uses `--threads`
threads, which must match what XLA uses (all cores by default; 1 under
``XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"``, the setting for a shared machine).
Each repeat runs, after a warm-up, sciml on `fit`'s default path (each chunk a compiled loop, ``unroll=1``), sciml
with unrolled chunks (``unroll=True``, for comparison) and torch, for `steps` training steps each; JAX's compile time
is reported apart; the ratios to torch are taken repeat by repeat and their medians reported, the default path's
first. Writes `benchmarks/results/fno_torch.json` and
`docs/results/fno_torch.md`.

    .venv/bin/python benchmarks/fno_torch.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

from sciml.benchmarking import Benchmark, Side, xla_cpu_threads
from sciml.data import WindowSampler
from sciml.nn import FNO, Unconditioned, parameter_count
from sciml.provenance import device_description, package_versions
from sciml.solvers import burgers_trajectories, pdebench_initial_conditions
from sciml.train import fit

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 5  # steps per compiled call; each repeat's first chunk (holding the compilation) is left out of its rate


def burgers_data(n_trajectories: int, num_points: int) -> np.ndarray:
    u0 = pdebench_initial_conditions(jax.random.key(0), n_trajectories, num_points)
    return burgers_trajectories(0.01, u0, t_end=2.0, n_frames=21)


def jax_steps_per_s(model, data: np.ndarray, batch: int, steps: int, seed: int, unroll: bool) -> tuple[float, float]:
    sampler = WindowSampler(data[:, :, None], np.zeros((data.shape[0], 1)), batch_size=batch, horizon=1)

    def loss(solver, window, key):
        u = window["u"]
        prediction = jax.vmap(lambda x: solver(x, jnp.zeros(1))[0])(u[:, 0])
        value = jnp.mean((prediction - u[:, 1]) ** 2)
        return value, {}

    result = fit(model, loss, sampler, optax.adam(1e-3), steps, key=jax.random.key(seed), chunk=CHUNK, unroll=unroll)
    chunk_rates = [h["steps_per_s"] for h in result.history[1:]]  # the first chunk holds the compilation
    return float(np.median(chunk_rates)), result.compile_time_s


def torch_steps_per_s(model, data: np.ndarray, batch: int, steps: int, seed: int) -> float:
    generator = np.random.default_rng(seed)
    tensor = torch.from_numpy(data)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        index = torch.from_numpy(generator.integers(0, data.shape[0], batch))
        start = torch.from_numpy(generator.integers(0, data.shape[1] - 1, batch))
        u, target = tensor[index, start][:, None], tensor[index, start + 1][:, None]
        optimizer.zero_grad()
        loss = torch.mean((u + model(u) - target) ** 2)
        loss.backward()
        optimizer.step()

    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="torch threads: the number of cores XLA uses (1 when XLA_FLAGS makes it single-threaded)")
    args = parser.parse_args()
    width, modes, depth, batch, points = 20, 12, 4, 16, 1024
    steps, repeats = (15, 2) if args.quick else (60, 3)
    threads = args.threads
    torch.set_num_threads(threads)
    name = "fno_torch-quick" if args.quick else "fno_torch"
    bench = Benchmark(name)
    from neuralop.models import FNO as TorchFNO

    data = burgers_data(16, points)
    ours = Unconditioned(FNO(1, 1, width=width, modes=modes, depth=depth, key=jax.random.key(0)))
    # neuraloperator counts modes over both signs: n_modes = 2 * (modes - 1) keeps `modes` real-FFT modes.
    theirs = TorchFNO(n_modes=(2 * (modes - 1),), in_channels=1, out_channels=1, hidden_channels=width,
                      n_layers=depth, projection_channel_ratio=128 / width, use_channel_mlp=False)
    torch_parameters = sum(p.numel() * (2 if p.is_complex() else 1) for p in theirs.parameters())  # real numbers
    measured = bench.interleaved({
        "sciml loop": Side(lambda repeat: jax_steps_per_s(ours, data, batch, steps, seed=repeat, unroll=1),
                           xla_cpu_threads()),
        "sciml unrolled": Side(lambda repeat: jax_steps_per_s(ours, data, batch, steps, seed=repeat, unroll=True),
                               xla_cpu_threads()),
        "neuraloperator": Side(lambda repeat: torch_steps_per_s(theirs, data, batch, steps, seed=repeat), threads),
    }, repeats)
    pairs = []
    for (looped, looped_compile), (unrolled, unrolled_compile), torch_rate in zip(*measured.values(), strict=True):
        pairs.append({"jax_loop_steps_per_s": looped, "jax_unrolled_steps_per_s": unrolled,
                      "torch_steps_per_s": torch_rate, "ratio_loop": looped / torch_rate,
                      "ratio_unrolled": unrolled / torch_rate, "jax_loop_compile_s": looped_compile,
                      "jax_unrolled_compile_s": unrolled_compile})
        print(pairs[-1], flush=True)
    ratio_unrolled = float(np.median([p["ratio_unrolled"] for p in pairs]))
    ratio = float(np.median([p["ratio_loop"] for p in pairs]))
    payload = {
        "benchmark": "fno_torch", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "device": device_description(),
        "versions": {**package_versions(), "neuraloperator": _version("neuraloperator")},
        "config": {"width": width, "modes": modes, "depth": depth, "batch": batch, "points": points,
                   "steps_per_repeat": steps, "repeats": repeats, "torch_threads": threads, "dtype": "float32",
                   "xla_flags": os.environ.get("XLA_FLAGS", "")},
        "parameters": {"sciml": parameter_count(ours), "neuraloperator": torch_parameters},
        "pairs": pairs, "median_ratio_jax_loop_over_torch": ratio,
        "median_ratio_jax_unrolled_over_torch": ratio_unrolled,
    }
    rows = "\n".join(f"| {i} | {p['jax_loop_steps_per_s']:.2f} | {p['jax_unrolled_steps_per_s']:.2f} | "
                     f"{p['torch_steps_per_s']:.2f} | {p['ratio_loop']:.2f} | {p['ratio_unrolled']:.2f} | "
                     f"{p['jax_loop_compile_s']:.1f} | {p['jax_unrolled_compile_s']:.1f} |"
                     for i, p in enumerate(pairs))
    table = (
        "# FNO training speed: sciml (JAX) vs neuraloperator (PyTorch)\n\n"
        f"Generated by `benchmarks/fno_torch.py` on {payload['device']['cpu_count']} CPU cores, {payload['date']}. "
        f"1D Burgers, {points} points, width {width}, {modes} modes, {depth} Fourier layers, batch {batch}, float32, "
        f"torch threads {threads}, XLA_FLAGS `{payload['config']['xla_flags'] or 'unset'}`; parameters (real numbers, "
        f"a complex weight counting two): sciml {payload['parameters']['sciml']}, neuraloperator {torch_parameters}. "
        f"Interleaved repeats of {steps} steps, in chunks of {CHUNK}. sciml runs through `fit` twice: on its default "
        "path, each chunk a compiled loop (`unroll=1`), and with the chunk unrolled (`unroll=True`, no loop). The FNO "
        "does its Fourier transforms and 1 x 1 convolutions as matrix products, which XLA:CPU runs as fast inside "
        "the loop as outside (its FFTs and convolutions run several times slower inside).\n\n"
        "| repeat | sciml loop (default) steps/s | sciml unrolled steps/s | neuraloperator steps/s | ratio loop | "
        "ratio unrolled | compile loop (s) | compile unrolled (s) |\n|---|---|---|---|---|---|---|---|\n"
        f"{rows}\n\nMedian ratio (sciml / neuraloperator): **{ratio:.2f}** on the default path, {ratio_unrolled:.2f} "
        "unrolled.\n"
    )
    bench.write(ROOT / "benchmarks" / "results" / f"{name}.json", payload, ROOT / "docs" / "results" / f"{name}.md",
                table)


def _version(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


if __name__ == "__main__":
    main()
