"""`benchmarks/turbulence2d_stability.py`: a long run of a learned closure is the experiment's evaluation run for
longer; at the evaluation's own length and starts it, and its baselines, reproduce the run's metrics."""

import json
import sys
from pathlib import Path

import numpy as np

from sciml.studies import load, load_experiment, run_experiment

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from turbulence2d_stability import baseline_runs, long_run  # noqa: E402


def test_a_long_run_at_the_evaluation_length_reproduces_the_runs_metrics(tmp_path):
    smoke = load_experiment("turbulence2d-smarl").smoke
    out = run_experiment("turbulence2d-smarl", smoke, tmp_path / "run")
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    trained = load(out)
    episode = smoke["episode_steps"] * smoke["action_every"] * 5e-3  # the experiment's default dt
    same = long_run(trained, smoke["evaluation_episodes"] * episode, smoke["evaluation_starts"])
    assert same["stable"] and same["training_episodes"] == smoke["evaluation_episodes"]
    np.testing.assert_allclose(same["spectrum_error"], metrics["learned_spectrum_error"], rtol=1e-5)
    length = smoke["evaluation_episodes"] * episode
    none, smagorinsky = baseline_runs(trained.config, length, smoke["evaluation_starts"])
    np.testing.assert_allclose(none["spectrum_error"], metrics["none_spectrum_error"], rtol=1e-5)
    np.testing.assert_allclose(smagorinsky["spectrum_error"], metrics["smagorinsky_spectrum_error"], rtol=1e-5)
    longer = long_run(trained, 25 * episode, 1)
    assert longer["stable"] and longer["training_runs"] == 25 and 0 < longer["coefficient"] < 0.34
