"""The surface a newcomer meets: `sciml show`, config files, `sciml run --config`, sweeps (local pool and submitit),
the best member back through `sciml.load`; and that every experiment's config keys say what they mean."""

import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import xarray as xr

import sciml
from sciml import ConfigError
from sciml.cli import main as cli
from sciml.studies import (
    EXPERIMENTS_DIR,
    best_member,
    config_dict,
    config_toml,
    describe_config,
    list_experiments,
    load_experiment,
    plan_sweep,
    read_config_file,
    resolve_config,
)
from sciml.studies._sweep import split_values

TOY = Path(__file__).resolve().parent / "experiments_for_tests"
REAL = list_experiments(EXPERIMENTS_DIR)


@pytest.fixture
def toy(monkeypatch):
    """The toy experiments (`linear-fit`: a line fitted in a second) in place of `experiments/`, for this process and
    the member processes of a sweep."""
    monkeypatch.setenv("SCIML_EXPERIMENTS_DIR", str(TOY))
    monkeypatch.setenv("SCIML_COMPILATION_CACHE", str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax"))


def _summary(path: Path) -> dict:
    return json.loads((path / "summary.json").read_text())


def test_every_key_of_every_experiment_has_a_meaning():
    for name in REAL:
        rows = describe_config(load_experiment(name, EXPERIMENTS_DIR).config_type)
        missing = [row.key for row in rows if not row.meaning.strip()]
        assert not missing, f"{name}: config keys without an attribute docstring: {missing}"
        keys = {row.key for row in rows}
        assert {"train.steps", "train.seed", "train.learning_rate"} <= keys, name


def test_describe_config_reads_defaults_sections_and_inherited_docs():
    config_type = load_experiment("burgers-cape", EXPERIMENTS_DIR).config_type  # a subclass of NeuralSolverConfig
    rows = {row.key: row for row in describe_config(config_type)}
    assert rows["dataset"].default == "pdebench-burgers", "the subclass's default"
    assert rows["dataset"].meaning.startswith("Registered trajectory dataset"), "the parent's doc, inherited"
    assert rows["train.steps"].default == 15000 and rows["train.steps"].type == "int"
    assert rows["held_out_values"].type == "tuple[float, ...]"
    assert rows["parameter_clip"].type == "float | None" and rows["parameter_clip"].default is None


@pytest.mark.parametrize("suffix", ["toml", "json"])
def test_config_files_round_trip_for_every_experiment(tmp_path, suffix):
    for name in REAL:
        config_type = load_experiment(name, EXPERIMENTS_DIR).config_type
        config = resolve_config(config_type)
        path = tmp_path / f"{name}.{suffix}"
        path.write_text(config_toml(config) if suffix == "toml" else json.dumps(config_dict(config)))
        assert resolve_config(config_type, read_config_file(path, config_type)) == config, name


def test_config_file_errors_name_the_file_and_the_key(tmp_path, toy):
    config_type = load_experiment("linear-fit").config_type
    cases = {
        "typo.toml": ("[train]\nstpes = 10\n", r"typo.toml: unknown config key 'train.stpes'.*'train.steps'"),
        "float.toml": ("[train]\nsteps = 1.5\n", r"float.toml: config key 'train.steps': expected .* int, got 1.5"),
        "bool.json": ('{"train": {"unroll": "perhaps"}}', r"bool.json: config key 'train.unroll': expected .* bool"),
        "text.toml": ('slope = "steep"\n', r"text.toml: config key 'slope': expected .* float, got 'steep'"),
        "broken.toml": ("[train\n", r"broken.toml is not valid TOML"),
        "config.yaml": ("slope: 1\n", r"expected a \.toml or \.json file"),
        "other.json": ('{"experiment": "burgers-pinn", "config": {}}', r"a config of experiment 'burgers-pinn'"),
    }
    for file, (text, message) in cases.items():
        (tmp_path / file).write_text(text)
        with pytest.raises(ConfigError, match=message):
            read_config_file(tmp_path / file, config_type, "linear-fit")
    with pytest.raises(ConfigError, match="cannot read config file"):
        read_config_file(tmp_path / "missing.toml", config_type)


def test_sweep_values_and_member_names(tmp_path, toy):
    assert split_values("0.1,[1,2],(3, 4)") == ["0.1", "[1,2]", "(3, 4)"]
    with pytest.raises(ConfigError, match="empty value"):
        split_values("1,,2")
    sweep = plan_sweep("linear-fit", {"train.seed": ["0", "1"], "train.learning_rate": ["1e-3", "3e-4"],
                                      "train.steps": ["20"]}, tmp_path)
    assert [m.name for m in sweep.members] == ["seed=0,learning_rate=0.001", "seed=0,learning_rate=0.0003",
                                              "seed=1,learning_rate=0.001", "seed=1,learning_rate=0.0003"]
    assert sweep.swept == ["train.seed", "train.learning_rate"], "a single value is fixed, not swept"
    train = sweep.members[1].config["train"]
    assert (train["seed"], train["steps"], train["learning_rate"]) == (0, 20, 3e-4)
    assert sweep.command(sweep.members[0])[-6:] == ["--set", "train.learning_rate=1e-3", "--set", "train.steps=20",
                                                    "--out", str(tmp_path / "seed=0,learning_rate=0.001")]
    with pytest.raises(ConfigError, match="would share a folder"):
        plan_sweep("linear-fit", {"train.learning_rate": ["1e-3", "0.001"]}, tmp_path)
    with pytest.raises(ConfigError, match="expected a value of type int, got 'x'"):
        plan_sweep("linear-fit", {"train.seed": ["0", "x"]}, tmp_path)


def test_newcomer_lists_keys_runs_a_config_file_sweeps_seeds_and_plots_the_best(tmp_path, toy, capsys):
    """The issue's acceptance sequence, as the docs (docs/guides/configs-and-sweeps.md) tell it."""
    assert cli(["list"]) == 0
    assert "linear-fit" in capsys.readouterr().out
    assert cli(["show", "linear-fit"]) == 0
    shown = capsys.readouterr().out
    for key, meaning in (("train.steps", "First-order optimizer steps"), ("slope", "Slope of the line")):
        line = next(line for line in shown.splitlines() if line.startswith(key + " "))
        assert meaning in line, line

    assert cli(["run", "linear-fit", "--help"]) == 0
    helped = capsys.readouterr().out
    assert "sciml show NAME" in helped and "Slope of the line" in helped, "run's help, then the experiment's keys"

    assert cli(["show", "linear-fit", "--format", "toml"]) == 0
    config_file = tmp_path / "my.toml"
    text = capsys.readouterr().out
    assert "slope = 2.0" in text and "[train]" in text
    config_file.write_text(text.replace("slope = 2.0", "slope = 3.0"))

    sweep = tmp_path / "sweep"
    members = [sweep / f"seed={seed}" for seed in range(3)]
    # The run lands where the sweep's seed-0 member goes: the sweep finds it finished and runs the other two.
    run = ["run", "linear-fit", "--config", str(config_file), "--set", "train.steps=20", "--out", str(members[0])]
    assert cli(run) == 0
    assert "slope=3.0" in capsys.readouterr().err, "the resolved config is printed at start"
    saved = json.loads((members[0] / "config.json").read_text())["config"]
    assert saved["slope"] == 3.0 and saved["train"]["steps"] == 20 and saved["train"]["learning_rate"] == 0.05

    command = ["sweep", "linear-fit", "--config", str(config_file), "--set", "train.seed=0,1,2",
               "--set", "train.steps=20", "--jobs", "2", "--out", str(sweep)]
    assert cli(command) == 0, capsys.readouterr().err
    assert "seed=0: finished earlier, skipped" in capsys.readouterr().err
    table = xr.open_dataset(sweep / "sweep.nc", engine="h5netcdf").load()
    assert table["train.seed"].values.tolist() == [0, 1, 2] and table.exit_code.values.tolist() == [0, 0, 0]
    for i, member in enumerate(members):
        summary = _summary(member)
        assert summary["config"]["slope"] == 3.0 and summary["seed"] == i
        assert table.final_loss.values[i] == pytest.approx(summary["metrics"]["final_loss"], rel=1e-12)
    report = (sweep / "sweep.md").read_text()
    assert all(f"| seed={seed} | finished | {seed} |" in report for seed in range(3))
    losses = table.final_loss.values
    header, _, grouped = report.split("## By setting")[1].strip().splitlines()[2:5]
    cell = grouped.split(" | ")[header.split(" | ").index("final_loss")]
    assert grouped.startswith("| all | 3 |") and cell == (
        f"{losses.mean():.4g} +- {np.std(losses, ddof=1):.4g} ({np.median(losses):.4g})"), (header, grouped)

    (sweep / "seed=3").write_text("a file where the member's folder would go")
    assert cli([*command[:5], "train.seed=0,1,2,3", *command[6:]]) == 1, "a failed member: exit code 1"
    err = capsys.readouterr().err
    assert err.count("finished earlier, skipped") == 3, "finished members are not run again"
    assert "seed=3: FAILED with exit code 2" in err and "cannot use" in err, "the failure and its stderr"
    assert "## Failed members" in (sweep / "sweep.md").read_text()
    table = xr.open_dataset(sweep / "sweep.nc", engine="h5netcdf").load()
    assert table.exit_code.values.tolist() == [0, 0, 0, 2] and np.isnan(table.final_loss.values[3])
    np.testing.assert_array_equal(table.final_loss.values[:3], losses)

    best = best_member(sweep, "final_loss")
    assert best == members[int(np.argmin(losses))]
    trained = sciml.load(best)
    x = np.linspace(-1.0, 1.0, 5)
    prediction = trained.predict(x)
    np.testing.assert_allclose(prediction.prediction.values, np.asarray(trained.model)[0] * x + np.asarray(
        trained.model)[1], rtol=1e-6)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    prediction.prediction.plot(ax=ax)
    fig.savefig(tmp_path / "best.png")
    plt.close(fig)
    assert (tmp_path / "best.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_through_submitit_local_executor(tmp_path, toy, capsys):
    assert cli(["sweep", "linear-fit", "--set", "train.seed=4", "--set", "train.steps=10", "--executor",
                "local-submitit", "--out", str(tmp_path)]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["failed"] == {}
    assert list((tmp_path / "logs" / "submitit").glob("*.pkl")), "the member went through submitit"
    table = xr.open_dataset(tmp_path / "sweep.nc", engine="h5netcdf").load()
    assert table.member.values.tolist() == ["seed=4,steps=10"] and table.exit_code.values.tolist() == [0]
    assert table.slope.values[0] == _summary(tmp_path / "seed=4,steps=10")["metrics"]["slope"]
