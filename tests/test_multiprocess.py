"""Multi-process training (jax.distributed, gloo collectives on CPU): `sciml run --processes 2` gives the
single-process result, writes one output folder, and resumes after one of its processes is killed; the cluster
variables of a scheduler are read right."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_close

from sciml import ConfigError
from sciml.studies import run_experiment
from sciml.train import cluster_from_environment

ROOT = Path(__file__).resolve().parents[1]
TOY = Path(__file__).resolve().parent / "experiments_for_tests"


def test_the_cluster_variables_are_read_and_checked():
    assert cluster_from_environment({}) is None
    explicit = {"SCIML_COORDINATOR": "host0:1234", "SCIML_NUM_PROCESSES": "2", "SCIML_PROCESS_ID": "1"}
    assert cluster_from_environment(explicit) == {"coordinator_address": "host0:1234", "num_processes": 2,
                                                  "process_id": 1}
    with pytest.raises(ConfigError, match="SCIML_PROCESS_ID not set"):
        cluster_from_environment({**explicit, "SCIML_PROCESS_ID": ""})
    with pytest.raises(ConfigError, match=r"must lie in \[0, SCIML_NUM_PROCESSES=2\)"):
        cluster_from_environment({**explicit, "SCIML_PROCESS_ID": "2"})
    with pytest.raises(ConfigError, match="must be integers"):
        cluster_from_environment({**explicit, "SCIML_NUM_PROCESSES": "two"})
    slurm_step = {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4", "SLURM_STEP_ID": "0"}
    assert cluster_from_environment({**slurm_step, "SLURM_STEP_NUM_TASKS": "4"}) == {}  # JAX reads Slurm's variables
    assert cluster_from_environment({**slurm_step, "SLURM_STEP_NUM_TASKS": "1"}) is None  # e.g. one sweep member
    assert cluster_from_environment({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}) is None  # the batch script itself
    assert cluster_from_environment({"OMPI_COMM_WORLD_SIZE": "2"}) == {}


def test_local_processes_get_one_cpu_device_and_the_flags_as_given():
    """`sciml run --processes N` started from a process whose `import sciml` asked XLA for one CPU device per core:
    each child gets SCIML_CPU_DEVICES=1 and the XLA_FLAGS the parent was started with (without the device count
    added), so the N processes do not each claim every core; a child counts one CPU device."""
    probe = ("import os, sys, sciml, jax; "
             "sys.exit(0 if jax.device_count() == 1 and os.environ['SCIML_CPU_DEVICES'] == '1' "
             "and os.environ.get('XLA_FLAGS') is None else 1)")
    parent = ("import sys, os, sciml; from sciml.train import run_local_processes; "
              "assert 'xla_force_host_platform_device_count' in os.environ['XLA_FLAGS']; "
              f"sys.exit(run_local_processes([sys.executable, '-c', {probe!r}], 2))")
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "SCIML_CPU_DEVICES")}
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: sciml adds no device count")
    done = subprocess.run([sys.executable, "-c", parent], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _launch(name: str, settings: dict, out: Path, cwd: Path) -> subprocess.Popen:
    """`sciml run NAME --processes 2`, each process with one CPU device (the mesh spans the two processes)."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
           "SCIML_COMPILATION_CACHE": str(ROOT / ".pytest_cache" / "jax"),
           "SCIML_EXPERIMENTS_DIR": str(TOY if name == "linear-fit" else ROOT / "experiments")}
    command = [sys.executable, "-m", "sciml.cli", "run", name, "--processes", "2", "--out", str(out)]
    command += [item for key, value in settings.items() for item in ("--set", f"{key}={value}")]
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _process_pids(launcher: subprocess.Popen) -> dict[int, int]:
    """The launcher's children by their SCIML_PROCESS_ID (read from /proc)."""
    found = {}
    children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split()
    for pid in children:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            variables = dict(item.split(b"=", 1) for item in handle.read().split(b"\0") if b"=" in item)
        found[int(variables[b"SCIML_PROCESS_ID"])] = int(pid)
    return found


def _kill_process_one_at(launcher: subprocess.Popen, checkpoint: Path, timeout_s: float) -> None:
    """SIGKILL process 1 of the run as soon as `checkpoint` exists."""
    deadline = time.monotonic() + timeout_s
    while not checkpoint.exists():
        assert launcher.poll() is None, f"the run ended before {checkpoint.name}: {launcher.communicate()[1]}"
        assert time.monotonic() < deadline, f"no {checkpoint.name} after {timeout_s} s"
        time.sleep(0.02)
    os.kill(_process_pids(launcher)[1], signal.SIGKILL)


def _finished(launcher: subprocess.Popen, tmp_path: Path, out: Path, timeout_s: float) -> dict:
    """Wait for a 2-process run that must succeed; check its outputs; its summary."""
    stdout, err = launcher.communicate(timeout=timeout_s)
    assert launcher.returncode == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"], "one output folder"
    assert (out / "model.eqx").exists() and (out / "predictions.nc").exists()
    printed = stdout[stdout.index("\n{") + 1:] if not stdout.startswith("{") else stdout  # after gloo's lines
    assert json.loads(printed)["output"] == str(out)  # process 0 alone prints the result
    summary = json.loads((out / "summary.json").read_text())
    assert summary["device"]["device_count"] == 2  # one mesh over both processes
    return summary


def _killed_then_resumed(name: str, settings: dict, tmp_path: Path, kill_at: str, timeout_s: float) -> dict:
    """Run NAME as 2 processes, kill process 1 at checkpoint `kill_at`, rerun the same command; the summary."""
    tmp_path.mkdir()
    out = tmp_path / "run"
    launcher = _launch(name, settings, out, tmp_path)
    _kill_process_one_at(launcher, out / "checkpoints" / kill_at, timeout_s)
    _, err = launcher.communicate(timeout=timeout_s)
    assert launcher.returncode == 128 + signal.SIGKILL, err
    assert "process 1 of 2 ended with exit code" in err
    assert not (out / "summary.json").exists(), "the run finished before the kill; nothing was resumed"
    summary = _finished(_launch(name, settings, out, tmp_path), tmp_path, out, timeout_s)
    assert summary["resumed_from"] is not None
    return summary


def _final_loss_of_one_process(name: str, settings: dict, out: Path) -> float:
    single = run_experiment(name, settings, directory=TOY if name == "linear-fit" else None, out=out)
    return json.loads((single / "summary.json").read_text())["metrics"]["final_loss"]


LINEAR = {"train.steps": 40, "step_delay_s": 0.02}


def test_two_processes_match_one(tmp_path):
    (tmp_path / "two").mkdir()
    launcher = _launch("linear-fit", LINEAR, tmp_path / "two" / "run", tmp_path / "two")
    summary = _finished(launcher, tmp_path / "two", tmp_path / "two" / "run", timeout_s=120)
    assert_close(summary["metrics"]["final_loss"], _final_loss_of_one_process("linear-fit", LINEAR, tmp_path / "one"),
                 rtol=1e-5, what="2-process vs 1-process final loss")


@pytest.mark.slow
def test_two_processes_resume_after_one_is_killed(tmp_path):
    summary = _killed_then_resumed("linear-fit", LINEAR, tmp_path / "two", "step_000000010", timeout_s=120)
    assert_close(summary["metrics"]["final_loss"], _final_loss_of_one_process("linear-fit", LINEAR, tmp_path / "one"),
                 rtol=1e-5, what="killed and resumed 2-process run vs 1-process final loss")


BURGERS = {"train.steps": 40, "train.lbfgs_steps": 10, "n_residual": 256, "n_residual_lbfgs": 256, "width": 16,
           "depth": 2, "train.chunk": 10, "train.checkpoint_every": 20}


@pytest.mark.slow
def test_burgers_pinn_on_two_processes_matches_one_and_resumes_after_a_kill(tmp_path):
    summary = _killed_then_resumed("burgers-pinn", BURGERS, tmp_path / "two", "step_000000020", timeout_s=600)
    single = _final_loss_of_one_process("burgers-pinn", BURGERS, tmp_path / "one")
    assert_close(summary["metrics"]["final_loss"], single, rtol=1e-5,
                 what="burgers-pinn: 2-process vs 1-process final loss (Adam, then L-BFGS in float64)")


@pytest.mark.slow
def test_advection_cape_on_two_processes_matches_one(tmp_path):
    from sciml.studies import load_experiment

    settings = load_experiment("advection-cape").smoke
    (tmp_path / "two").mkdir()
    summary = _finished(_launch("advection-cape", settings, tmp_path / "two" / "run", tmp_path / "two"),
                        tmp_path / "two", tmp_path / "two" / "run", timeout_s=600)
    single = _final_loss_of_one_process("advection-cape", settings, tmp_path / "one")
    assert_close(summary["metrics"]["final_loss"], single, rtol=1e-5,
                 what="advection-cape: 2-process vs 1-process final loss")
