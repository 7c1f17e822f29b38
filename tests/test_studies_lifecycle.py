"""The study layer's side of a run's lifecycle: folder ownership, reruns, fresh starts, clear CLI exits."""

import fcntl
import json
from pathlib import Path

import pytest

from sciml.cli import main as cli
from sciml.studies import RunFolderError, run_experiment, save_figure, write_text

TOY = Path(__file__).resolve().parent / "experiments_for_tests"


@pytest.fixture(autouse=True)
def toy_experiments(monkeypatch):
    monkeypatch.setenv("SCIML_EXPERIMENTS_DIR", str(TOY))


def _summary(out):
    return json.loads((out / "summary.json").read_text())


def test_a_finished_run_is_not_run_again_and_records_its_config(tmp_path, capsys):
    out = run_experiment("linear-fit", {}, tmp_path / "run")
    summary = _summary(out)
    assert summary["resumed_from"] is None and summary["config"]["train"]["steps"] == 40
    assert summary["metrics"]["nan_metric"] is None, "NaN is written as null: summary.json stays valid JSON"
    assert "git_commit" in summary
    run_experiment("linear-fit", {}, tmp_path / "run")
    assert "finished; nothing to do" in capsys.readouterr().err
    assert _summary(out) == summary


def test_a_run_killed_after_its_last_checkpoint_finishes_on_rerun(tmp_path):
    out = run_experiment("linear-fit", {}, tmp_path / "run")
    expected = _summary(out)["metrics"]
    (out / "summary.json").unlink()
    run_experiment("linear-fit", {}, tmp_path / "run")
    summary = _summary(out)
    assert summary["resumed_from"] == 40
    assert summary["metrics"]["slope"] == expected["slope"] and summary["metrics"]["final_loss"] is not None


def test_other_settings_are_refused_before_anything_is_written(tmp_path):
    out = run_experiment("linear-fit", {}, tmp_path / "run")
    before = (out / "config.json").read_text()
    with pytest.raises(RunFolderError, match=r"other settings \(slope: 2.0 -> 3.0\).*--fresh"):
        run_experiment("linear-fit", {"slope": "3"}, tmp_path / "run")
    assert (out / "config.json").read_text() == before


def test_a_run_made_before_a_config_field_existed_is_still_this_run(tmp_path):
    """A field added to the config since (absent from the stored config.json) counts at its default; set otherwise,
    it is another run."""
    out = run_experiment("linear-fit", {}, tmp_path / "run")
    stored = json.loads((out / "config.json").read_text())
    del stored["config"]["slope"], stored["config"]["train"]["seed"]
    (out / "config.json").write_text(json.dumps(stored))
    summary = (out / "summary.json").read_text()
    assert run_experiment("linear-fit", {}, tmp_path / "run") == out
    assert (out / "summary.json").read_text() == summary  # finished: read back, not rerun
    with pytest.raises(RunFolderError, match=r"other settings \(slope: 2.0 -> 3.0\)"):
        run_experiment("linear-fit", {"slope": "3"}, tmp_path / "run")


def test_fresh_moves_the_old_run_aside(tmp_path):
    out = run_experiment("linear-fit", {}, tmp_path / "run")
    run_experiment("linear-fit", {"slope": "3"}, tmp_path / "run", fresh=True)
    aside = list(tmp_path.glob("run.replaced-*"))
    assert len(aside) == 1 and (aside[0] / "summary.json").exists()
    assert _summary(out)["config"]["slope"] == 3.0 and _summary(aside[0])["config"]["slope"] == 2.0


def test_a_busy_folder_is_refused_and_stale_temporaries_are_removed(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with (out / ".lock").open("a+") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        holder.write("pid 1 on elsewhere")
        holder.flush()
        with pytest.raises(RunFolderError, match="in use by another sciml process .pid 1 on elsewhere"):
            run_experiment("linear-fit", {}, out)
    (out / "checkpoints" / ".tmp-step_000000010-99").mkdir(parents=True)
    (out / ".summary.json.99.tmp").write_text("{")
    run_experiment("linear-fit", {}, out)
    assert not list(out.glob(".*.tmp")) and not list((out / "checkpoints").glob(".tmp-*"))


def test_a_folder_of_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="not empty and holds no sciml run"):
        run_experiment("linear-fit", {}, tmp_path)


def test_cli_exit_codes_and_messages(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert cli(["run", "linear-fit", "--out", str(blocker / "run")]) == 2
    assert "cannot use" in capsys.readouterr().err
    assert cli(["run", "linear-fit", "--set", "train.learning_rate=1e30", "--set", "slope=1e30",
                "--out", str(tmp_path / "diverged")]) == 3
    err = capsys.readouterr().err
    assert "training diverged" in err and "last good state is kept" in err and "Traceback" not in err
    assert cli(["run", "linear-fit", "--set", "interrupt_at=20", "--out", str(tmp_path / "stopped")]) == 130
    assert "resume with" in capsys.readouterr().err.lower()
    monkeypatch.setenv("LINEAR_FIT_RESUMING", "1")
    assert cli(["run", "linear-fit", "--set", "interrupt_at=20", "--out", str(tmp_path / "stopped")]) == 0
    assert _summary(tmp_path / "stopped")["resumed_from"] == 20
    assert cli(["bench", "../experiments/burgers_pinn"]) == 2
    assert "a name, not a path" in capsys.readouterr().err


def test_load_gives_the_trained_model_its_config_and_predict(tmp_path):
    import numpy as np

    import sciml

    out = run_experiment("linear-fit", {"slope": "3"}, tmp_path / "run")
    trained = sciml.load(out)
    assert trained.config.slope == 3.0 and trained.config.train.steps == 40
    assert trained.model.shape == (2,)
    ds = trained.predict([0.0, 1.0])
    assert ds.prediction.dims == ("x",)
    np.testing.assert_allclose(ds.prediction.values, [trained.model[1], trained.model.sum()], rtol=1e-6)
    (out / "model.eqx").write_bytes((out / "model.eqx").read_bytes()[:-3])
    with pytest.raises(sciml.DataError, match="does not match its checksum"):
        sciml.load(out)
    with pytest.raises(sciml.DataError, match="holds no sciml run"):
        sciml.load(tmp_path)


def test_tables_and_figures_replace_the_old_file_whole_or_not_at_all(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = write_text(tmp_path / "table.md", "old\n")
    write_text(table, "new\n")
    assert table.read_text() == "new\n"
    def rename_fails(*args):
        raise OSError("disk full")

    with monkeypatch.context() as patch:  # the write fails after the file aside was written
        patch.setattr("sciml.studies._run.os.replace", rename_fails)
        with pytest.raises(OSError, match="disk full"):
            write_text(table, "half")
    assert table.read_text() == "new\n"
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    png = save_figure(fig, tmp_path / "figure.png", dpi=50)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not plt.get_fignums()  # written and closed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png", "table.md"]  # no file left aside
