"""The figures of the method guides and the executed notebook, written by running the experiments.

Each guide shows a figure of its own experiment, run at a small but meaningful size by the command stated in the
guide's caption (`GuideFigure.command`). This script runs those commands (as `sciml run` subprocesses, one at a time,
into `runs/docs-figures/NAME`: a rerun of a finished run returns at once, `--fresh` runs it again), copies the
figure to `docs/assets/guides/NAME.png` (shrunk below 200 kB) and executes `docs/notebooks/burgers.ipynb` in place,
so that the site shows its outputs.

    python docs/make_figures.py                  # everything (about 15 minutes of CPU time in all)
    python docs/make_figures.py --only lpinn pig # some targets
    python docs/make_figures.py --list           # targets and their commands
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "docs" / "assets" / "guides"
RUNS = ROOT / "runs" / "docs-figures"
NOTEBOOK = ROOT / "docs" / "notebooks" / "burgers.ipynb"
OWN_EXPERIMENT_GUIDE = ROOT / "docs" / "guides" / "own-experiment.md"
MAX_BYTES = 200_000


@dataclasses.dataclass(frozen=True)
class GuideFigure:
    """One guide's figure: the experiment run, its overrides and which of the run's figures the guide shows."""

    experiment: str
    """The name `sciml run` takes."""
    overrides: tuple[tuple[str, str], ...]
    """`--set` overrides of the small run, in order."""
    figure: str
    """The run's `figures/NAME.png` that the guide shows."""
    guide: str
    """The page that shows it, relative to `docs/`."""

    def command(self) -> str:
        """The `sciml run` command line of the figure's run, as the guide's caption states it."""
        return " ".join(["sciml run", self.experiment, *(f"--set {key}={value}" for key, value in self.overrides)])


FIGURES = {
    "burgers": GuideFigure(
        "burgers-pinn",
        (("train.steps", "2000"), ("train.lbfgs_steps", "1000"), ("n_residual_lbfgs", "4096")),
        "fields", "tutorials/burgers.md"),
    "lpinn": GuideFigure(
        "convection-lpinn",
        (("beta", "50"), ("train.steps", "1500"), ("train.lbfgs_steps", "200")),
        "fields", "guides/lpinn.md"),
    "pig": GuideFigure(
        "helmholtz-pig",
        (("train.steps", "1500"), ("n_gaussians", "200")),
        "fields", "guides/pig.md"),
    "pinn-recipes": GuideFigure(
        "allen-cahn-piratenet",
        (("train.steps", "1000"), ("train.lbfgs_steps", "300")),
        "fields", "guides/pinn-recipes.md"),
    "cape": GuideFigure(
        "diffreact-cape",
        (("small", "true"),),
        "rollout_held_out", "guides/cape.md"),
    "neural-de": GuideFigure(
        "pendulum-node", (), "trajectories", "guides/neural-de.md"),
    "mfrpn": GuideFigure(
        "lorenz96-mfrpn",
        (("small", "true"), ("members", "8"), ("train.steps", "1500"), ("train.decay_steps", "375"),
         ("online_duration", "20"), ("online_runs", "4")),
        "tendency", "guides/mfrpn.md"),
    "mmgp": GuideFigure(
        "tensile2d-mmgp",
        (("small", "true"), ("n_samples", "200")),
        "sigma22_median_sample", "guides/mmgp.md"),
    "battery": GuideFigure(
        "battery-spm",
        (("train.steps", "1500"), ("train.lbfgs_steps", "100"), ("calibrate_with_solver", "false"),
         ("num_warmup", "150"), ("num_samples", "150")),
        "voltage", "guides/battery.md"),
    "battery-p2d": GuideFigure("battery-p2d", (("calibrate_with_solver", "false"),), "voltage", "guides/battery.md"),
    "own-experiment": GuideFigure(
        "poisson1d-pinn", (), "solution", "guides/own-experiment.md"),
    "configs-and-sweeps": GuideFigure(
        "pendulum-node", (("train.steps", "1000"), ("train.learning_rate", "0.001"), ("train.seed", "1")),
        "trajectories", "guides/configs-and-sweeps.md"),
    "pinn-geometry": GuideFigure(
        "poisson-holed-disk-pinn", (("train.steps", "1000"), ("train.lbfgs_steps", "500")),
        "geometry", "guides/pinn-geometry.md"),
    "pinn-inverse": GuideFigure(
        "heat-diffusivity-inverse-pinn", (("noise", "0.01"),), "coefficients", "guides/pinn-inverse.md"),
}


def own_experiment_dir(folder: Path) -> Path:
    """Write the own-experiment guide's example file into `folder` (as a user would save it) and return `folder`."""
    code = re.search(r"```python\n(.*?)```", OWN_EXPERIMENT_GUIDE.read_text(), re.S).group(1)
    (folder / "poisson1d_pinn.py").write_text(code)
    return folder


def shrink_png(path: Path, limit: int = MAX_BYTES) -> None:
    """Bring the PNG at `path` below `limit` bytes: a palette of 256 colours at full size, then scaled by 3/4 steps."""
    from PIL import Image

    image = Image.open(path).convert("RGB")
    while path.stat().st_size > limit:
        image.quantize(colors=256).save(path, optimize=True)
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.Resampling.LANCZOS)


def make_figure(name: str, fresh: bool) -> Path:
    """Run the figure's experiment (or reuse its finished run) and copy its figure to `docs/assets/guides`."""
    figure = FIGURES[name]
    out = RUNS / name
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as folder:
        if figure.experiment == "poisson1d-pinn":
            env["SCIML_EXPERIMENTS_DIR"] = str(own_experiment_dir(Path(folder)))
        command = [sys.executable, "-m", "sciml.cli", *shlex.split(figure.command())[1:], "--out", str(out)]
        if fresh:
            command.append("--fresh")
        print(f"[{name}] {figure.command()}", flush=True)
        subprocess.run(command, check=True, env=env, cwd=ROOT)
    target = ASSETS / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / "figures" / f"{figure.figure}.png", target)
    shrink_png(target)
    return target


def execute_notebook() -> Path:
    """Execute the Burgers notebook top to bottom and store it with its outputs (the site renders them)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with tempfile.TemporaryDirectory() as folder:
        NotebookClient(notebook, timeout=900, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": folder}}).execute()
    nbformat.write(notebook, NOTEBOOK)
    return NOTEBOOK


def main(argv: list[str] | None = None) -> int:
    targets = [*FIGURES, "notebook"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=targets, help="make only these targets")
    parser.add_argument("--fresh", action="store_true", help="rerun finished runs instead of reusing them")
    parser.add_argument("--list", action="store_true", help="list the targets and their commands")
    args = parser.parse_args(argv)
    if args.list:
        for name, figure in FIGURES.items():
            print(f"{name:15s} {figure.command()}  ->  figures/{figure.figure}.png")
        print(f"{'notebook':15s} executes {NOTEBOOK.relative_to(ROOT)} in place")
        return 0
    for name in args.only or targets:
        start = time.perf_counter()
        written = execute_notebook() if name == "notebook" else make_figure(name, args.fresh)
        size = written.stat().st_size / 1000
        print(f"[{name}] wrote {written.relative_to(ROOT)} ({size:.0f} kB) in {time.perf_counter() - start:.0f} s",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
