"""Fault injection on a short run: crashes at every file write, torn metrics lines, damaged and swapped checkpoints,
kills at random moments, two processes on one folder. Every case must end with the parameters of an uninterrupted
run (after a plain rerun) or a clear refusal; never a traceback, never a lost finished run."""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sciml.studies import run_experiment
from sciml.train import _fit

TOY = Path(__file__).resolve().parent / "experiments_for_tests"
STEPS = {"train.steps": 40}


class Crash(BaseException):
    """Stands for the process dying at this point: nothing after it runs."""


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = run_experiment("linear-fit", STEPS, directory=TOY, out=tmp_path_factory.mktemp("reference") / "run")
    return (out / "model.eqx").read_bytes()


def _count_replaces(tmp_path, monkeypatch) -> int:
    calls = []
    original = os.replace
    monkeypatch.setattr(os, "replace", lambda *a: (calls.append(a), original(*a))[1])
    run_experiment("linear-fit", STEPS, directory=TOY, out=tmp_path / "count")
    monkeypatch.setattr(os, "replace", original)
    return len(calls)


def _crash_at_replace(monkeypatch, k: int, after: bool):
    original, seen = os.replace, [0]

    def replace(src, dst):
        seen[0] += 1
        if seen[0] == k and not after:
            raise Crash
        original(src, dst)
        if seen[0] == k:
            raise Crash

    monkeypatch.setattr(os, "replace", replace)
    return original


def test_a_crash_at_every_file_write_then_a_rerun_gives_the_uninterrupted_parameters(tmp_path, monkeypatch, reference):
    n = _count_replaces(tmp_path, monkeypatch)
    assert n >= 9, "config, 4 checkpoints, predictions, figure, model, checksum, summary"
    outcomes = {"identical": 0, "refused": 0}
    for k in range(1, n + 1):
        for after in (False, True):
            out = tmp_path / f"crash-{k}-{after}"
            original = _crash_at_replace(monkeypatch, k, after)
            with pytest.raises(Crash):
                run_experiment("linear-fit", STEPS, directory=TOY, out=out)
            monkeypatch.setattr(os, "replace", original)
            run_experiment("linear-fit", STEPS, directory=TOY, out=out)
            assert (out / "model.eqx").read_bytes() == reference, f"crash at write {k} (after={after})"
            assert (out / "summary.json").exists()
            outcomes["identical"] += 1
    print(f"fault injection, crash at each of {n} writes before/after: {outcomes}")


def test_a_crash_in_the_middle_of_a_metrics_line(tmp_path, monkeypatch, reference):
    for k in (1, 2, 3):
        out = tmp_path / f"torn-{k}"
        original, seen = _fit._Logger.write, [0]

        def torn(self, record, k=k, original=original, seen=seen):
            seen[0] += 1
            if seen[0] == k:
                with self.path.open("a") as handle:
                    handle.write('{"step": 99, "lo')
                raise Crash
            original(self, record)

        monkeypatch.setattr(_fit._Logger, "write", torn)
        with pytest.raises(Crash):
            run_experiment("linear-fit", STEPS, directory=TOY, out=out)
        monkeypatch.setattr(_fit._Logger, "write", original)
        seen[0] = 0
        run_experiment("linear-fit", STEPS, directory=TOY, out=out)
        assert (out / "model.eqx").read_bytes() == reference, f"torn metrics line at record {k}"


@pytest.mark.parametrize("damage", ["flip", "truncate", "swap", "delete-all-but-oldest"])
def test_damaged_checkpoints_fall_back_or_start_over(tmp_path, damage, reference):
    out = run_experiment("linear-fit", {"train.steps": 40}, directory=TOY, out=tmp_path / "run")
    (out / "summary.json").unlink()
    (out / "model.eqx").unlink()
    checkpoints = sorted((out / "checkpoints").glob("step_*"))
    newest, older = checkpoints[-1], checkpoints[-2]
    if damage == "flip":
        data = bytearray((newest / "state.eqx").read_bytes())
        data[:64] = bytes(255 - b for b in data[:64])
        (newest / "state.eqx").write_bytes(bytes(data))
    elif damage == "truncate":
        (newest / "meta.json").write_text((newest / "meta.json").read_text()[:30])
    elif damage == "swap":
        (newest / "state.eqx").rename(tmp_path / "state")
        (older / "state.eqx").rename(newest / "state.eqx")
        (tmp_path / "state").rename(older / "state.eqx")
    else:
        for path in checkpoints[1:]:
            shutil.rmtree(path)
    with pytest.warns() if damage != "delete-all-but-oldest" else _nothing():
        run_experiment("linear-fit", {"train.steps": 40}, directory=TOY, out=out)
    assert (out / "model.eqx").read_bytes() == reference


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _cli(out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "SCIML_EXPERIMENTS_DIR": str(TOY)}
    command = [sys.executable, "-m", "sciml.cli", "run", "linear-fit", "--set", "train.steps=400",
               "--set", "step_delay_s=0.01", "--out", str(out), *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def long_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("long") / "run"
    process = _cli(out)
    assert process.wait(timeout=300) == 0, process.stderr.read()
    return (out / "model.eqx").read_bytes()


def test_kills_at_random_moments_then_a_rerun(tmp_path, long_reference):
    rng = random.Random(0)
    for case in range(3):
        out = tmp_path / f"killed-{case}"
        process = _cli(out)
        time.sleep(rng.uniform(2.0, 8.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        rerun = _cli(out)
        code = rerun.wait(timeout=300)
        err = rerun.stderr.read()
        assert "Traceback" not in err, err
        assert code == 0, err
        assert (out / "model.eqx").read_bytes() == long_reference, f"kill {case}"


def test_two_processes_on_one_folder(tmp_path, long_reference):
    out = tmp_path / "shared"
    first = _cli(out)
    deadline = time.time() + 120
    while not (out / "config.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    second = _cli(out)
    assert second.wait(timeout=300) == 2
    err = second.stderr.read()
    assert "in use by another sciml process" in err and "Traceback" not in err
    assert first.wait(timeout=300) == 0
    assert (out / "model.eqx").read_bytes() == long_reference
