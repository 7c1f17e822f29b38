"""`benchmarks/pdebench_cape.py`: a seconds-long run through the neural-solver study on the protocol's data, its
scores recomputed from its predictions.nc, and the table built from its record."""

import json
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from pdebench_cape import FAMILIES, markdown, overrides, protocol_family, ratio_verdict, run  # noqa: E402
from pdebench_fno import PROTOCOL  # noqa: E402

from sciml import metrics  # noqa: E402
from sciml.data import load_generator  # noqa: E402
from sciml.studies import load_experiment, resolve_config  # noqa: E402
from sciml.studies.neural_solvers import build_solver  # noqa: E402


def test_a_cape_run_on_the_protocol_data_scores_what_its_predictions_hold(tmp_path):
    record = run("advection", "cape", 0, samples=8, steps=100, runs=tmp_path)  # 5 test trajectories per split
    ds = xr.open_dataset(record["predictions"])
    assert ds.sizes["x"] == 256 and ds.sizes["t"] == 31  # PDEBench's grid, 10 given frames of 41
    held = ds.where(ds.split == "held_out", drop=True)
    assert sorted(np.unique(held.beta.values)) == [0.1, 1.0, 7.0]
    for value in FAMILIES["advection"].held_out:
        rows = held.where(held.beta == value, drop=True)
        assert metrics.nrmse(rows.prediction.values, rows.reference.values) == pytest.approx(
            record["metrics"][f"held_out_nrmse_beta={value:g}"], rel=1e-4)
    # the stored references are the exact advection of the given frames: at t = 0.5, beta = 1 and 7 shift frame 0
    # by a whole number of cells (128 and 896 of 256)
    for value in (1.0, 7.0):
        row = held.where(held.beta == value, drop=True).isel(sample=0)
        np.testing.assert_allclose(row.reference.sel(t=0.5).values,
                                   np.roll(row.initial.isel(t_input=0).values, int(value * 0.5 * 256)), atol=1e-4)
    # zero-shot transfer: the same rows on 512 and 1024 points, scored from zero_shot.nc
    fine = xr.open_dataset(Path(record["predictions"]).with_name("zero_shot.nc"))
    np.testing.assert_array_equal(fine.sample.values, ds.sample.values)
    np.testing.assert_allclose(fine.reference_1024.values[..., ::4], ds.reference.values, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fine.reference_512.values, fine.reference_1024.values[..., ::2])
    for split in ("seen", "held_out"):
        rows = fine.split.values == split
        for points in (512, 1024):
            assert metrics.nrmse(fine[f"prediction_{points}"].values[rows], fine[f"reference_{points}"].values[rows]) \
                == pytest.approx(record["zero_shot"][f"{split}_nrmse_{points}"], rel=1e-4)
    row = fine.where((fine.split == "held_out") & (fine.beta == 1.0), drop=True).isel(sample=0)
    first = ds.where(ds.sample == row.sample, drop=True).initial.isel(sample=0, t_input=0).values
    np.testing.assert_allclose(row.reference_1024.sel(t=0.5).values[::4], np.roll(first, 128), atol=1e-4)
    assert not any("clipped" in key for key in record["metrics"])  # the experiment clips beta already
    table = markdown({"runs": [record]})
    assert "| FNO + CAPE (aux. weight 1) | 1 | one-step, 8, 100, 10, linear, clipped |" in table and "beta=1" in table
    # a run reading one input frame is a row of its own, not a fourth seed of the ten-frame one
    both = markdown({"runs": [record, {**record, "frames": 1}]})
    cape = "| FNO + CAPE (aux. weight 1) | 1 | one-step, 8, 100,"
    assert f"{cape} 1, linear, clipped |" in both and f"{cape} 10, linear, clipped |" in both
    assert overrides("advection", "cape", 0, 100, frames=1)["frames"] == 1
    # and each auxiliary weight of CAPE (the parameter-channel runs take none and stay one row)
    assert record["cape_weight"] == 1.0
    weights = markdown({"runs": [record, {**record, "cape_weight": 5.7e-5},
                                 {**record, "conditioning": "channels", "cape_weight": None}]})
    assert "| FNO + CAPE (aux. weight 5.7e-05) | 1 |" in weights and "| FNO + CAPE (aux. weight 1) | 1 |" in weights
    assert weights.count("| FNO + parameter channels | 1 |") == 1
    assert weights.count("over FNO + parameter channels, held-out nRMSE seed by seed") == 2  # each against channels
    assert overrides("advection", "cape", 0, 100, cape_weight=5.7e-5)["cape_weight"] == 5.7e-5
    assert "cape_weight" not in overrides("advection", "channels", 0, 100, cape_weight=5.7e-5)
    # and each parameter scale (the record names the scale the study used: the advection experiment's is linear)
    assert record["parameter_scale"] == "linear"
    assert overrides("diffreact", "channels", 0, 100, parameter_scale="linear")["parameter_scale"] == "linear"
    scales = markdown({"runs": [record, {**record, "parameter_scale": "log"}]})
    assert f"{cape} 10, linear, clipped |" in scales and f"{cape} 10, log, clipped |" in scales
    # and each gradient penalty and clipping: a penalised unclipped CAPE row is set against the channel model trained
    # alike and against the plain one (no penalty, the experiment's clipping)
    assert (record["gradient_penalty"], record["parameter_clip"]) == (0.0, 0.0)
    penalised = overrides("advection", "cape", 0, 100, gradient_penalty=5.16e-4, clip=False)
    assert (penalised["gradient_penalty"], penalised["parameter_clip"]) == (5.16e-4, "none")
    assert "gradient_penalty" not in overrides("advection", "cape", 0, 100)
    channels = {**record, "conditioning": "channels", "cape_weight": None}
    rows = markdown({"runs": [channels, {**record, "gradient_penalty": 5.16e-4, "parameter_clip": None},
                              {**channels, "gradient_penalty": 5.16e-4, "parameter_clip": None}]})
    assert "| FNO + CAPE (aux. weight 1, gradient penalty 0.000516) | 1 | one-step, 8, 100, 10, linear, not clipped |" \
        in rows and "| FNO + parameter channels (gradient penalty 0.000516) | 1 |" in rows
    assert ("FNO + CAPE (aux. weight 1, gradient penalty 0.000516) over FNO + parameter channels (gradient penalty "
            "0.000516), held-out nRMSE seed by seed (one-step, 8, 100, 10, linear, not clipped)") in rows
    assert ("FNO + CAPE (aux. weight 1, gradient penalty 0.000516) over FNO + parameter channels (one-step, 8, 100, "
            "10, linear, clipped), held-out nRMSE seed by seed (one-step, 8, 100, 10, linear, not clipped)") in rows
    # and each CAPE module size: the paper's CAPE row is set against the channel model widened to its parameter count
    assert record["cape_module"] == "study"
    paper = overrides("advection", "channels", 0, 100, cape_module="paper")
    assert (paper["cape_width"], paper["cape_modes"], paper["cape_pool"], paper["cape_normalize"]) == (64, 16, 4, True)
    assert overrides("advection", "cape", 0, 100)["cape_width"] == 32  # the study's module, set in full
    modules = markdown({"runs": [record, channels, {**record, "cape_module": "paper"},
                                 {**channels, "cape_module": "paper"}]})
    assert ("FNO + CAPE (aux. weight 1, paper's CAPE module) over FNO + parameter channels (matched to the paper's "
            "CAPE module), held-out nRMSE seed by seed") in modules
    assert modules.count("over FNO + parameter channels, held-out nRMSE seed by seed") == 1
    assert overrides("advection", "cape", 0, 100, cape_module="paper-unnormalised")["cape_normalize"] is False
    capped = overrides("advection", "cape", 0, 100, cape_module="paper-capped")
    assert (capped["cape_normalize"], capped["cape_update_cap"]) == (False, 1.0)
    unnormalised = markdown({"runs": [{**record, "cape_module": "paper-unnormalised"},
                                      {**channels, "cape_module": "paper"}]})
    assert ("FNO + CAPE (aux. weight 1, paper's CAPE module, not normalised) over FNO + parameter channels (matched "
            "to the paper's CAPE module), held-out nRMSE seed by seed") in unnormalised
    # which is the channel network matched to the paper's module too
    experiment = load_experiment(FAMILIES["diffreact"].experiment)
    sizes = {module: build_solver(resolve_config(experiment.config_type, overrides(
        "diffreact", "channels", 0, 100, cape_module=module)), channels=1, ndim=1, key=jax.random.key(0))[1]
        for module in ("paper", "paper-unnormalised", "paper-capped", "paper-affine")}
    # (affine gains hold 6k parameters fewer than the MLPs: their channel model is one narrower)
    assert sizes == {"paper": 34, "paper-unnormalised": 34, "paper-capped": 34, "paper-affine": 33}
    # so is each base network, at its per-parameter size of pdebench_fno.py's protocol
    bases = markdown({"runs": [record, {**record, "base": "mpnn"}]})
    assert "| MPNN + CAPE (aux. weight 1) | 1 | one-step, 8, 100, 10, linear, clipped |" in bases
    assert "| FNO + CAPE (aux. weight 1) | 1 |" in bases
    assert "x (MPNN + CAPE (aux. weight 1) / per-parameter FNO)" in bases
    mpnn = overrides("advection", "channels", 0, 100, base="mpnn")
    assert (mpnn["base"], mpnn["size"], mpnn["depth"]) == ("mpnn", 64, 6)
    assert overrides("advection", "cape", 0, 100, base="tfno")["factorization"] == pytest.approx(0.42)
    # diffusion-reaction: both parameters condition the models, rho = 5 held out at every nu
    diffreact = overrides("diffreact", "cape", 0, 100)
    assert diffreact["parameters"] == ("rho", "nu") and diffreact["held_out_values"] == (5.0,)
    assert FAMILIES["diffreact"].parameters == {"rho": (1.0, 2.0, 5.0, 10.0), "nu": (0.5, 1.0, 2.0, 5.0)}
    assert table.count(" / ") >= 2  # the zero-shot columns


# Each experiment whose defaults are a validated benchmark setting: the benchmark's arguments of that setting.
VALIDATED_DEFAULTS = {
    "advection": dict(steps=3000, training="curriculum", frames=1),
    "burgers": dict(steps=15000, training="one-step", frames=10, cape_weight=5.7e-5, cape_module="paper-capped"),
}


@pytest.mark.parametrize("family", sorted(VALIDATED_DEFAULTS))
def test_the_cape_experiments_defaults_are_the_benchmarks_validated_setting_on_its_data(family):
    """`sciml run advection-cape` (burgers-cape) at its defaults is the benchmark's run of its validated setting:
    the same config for each conditioning, and the registered dataset is generated as the benchmark's data (the same
    family and sizes; both take seed 0)."""
    setting = dict(VALIDATED_DEFAULTS[family])
    steps = setting.pop("steps")
    experiment = load_experiment(FAMILIES[family].experiment)
    for conditioning in ("cape", "channels", "none"):
        benchmark = resolve_config(experiment.config_type, overrides(family, conditioning, 0, steps, **setting))
        assert benchmark == experiment.config_type(conditioning=conditioning), conditioning
    generator = load_generator(experiment.config_type().dataset)
    assert generator.FAMILY == protocol_family(family)
    assert generator.FULL == {"n_per_value": 240, "num_points": PROTOCOL["points"],
                              "solver_points": PROTOCOL["solver_points"]}


def test_the_cape_verdict_is_the_median_per_seed_and_refuses_diverged_pairs():
    # seed by seed (CAPE, channels): one seed where CAPE is far better cannot carry the median
    per_seed, met, verdict = ratio_verdict([(0.1, 0.5), (0.45, 0.5), (0.5, 0.5)])
    assert per_seed == pytest.approx([0.2, 0.9, 1.0]) and not met and verdict == "target <= 0.8: not met"
    assert ratio_verdict([(0.1, 0.5), (0.35, 0.5), (0.6, 0.5)])[1:] == (True, "target <= 0.8: met")  # median 0.7
    # a seed where both rollouts are worse than predicting zero gives no result, whatever the ratios
    _, met, verdict = ratio_verdict([(0.1, 0.5), (0.3, 0.5), (2.0, 9.0)])
    assert not met and verdict.startswith("no result")
    # nor does a baseline worse than predicting zero in some seed, however far below it CAPE lands
    _, met, verdict = ratio_verdict([(0.7, 1.2), (0.5, 0.9), (0.4, 0.9)])
    assert not met and "baseline's held-out error exceeds 1" in verdict and "in 1 of 3 seeds" in verdict
    assert ratio_verdict([(0.1, 0.5), (0.3, 0.5)])[1:] == (False, "2 seed(s): the target needs 3")


def test_the_cape_benchmark_compares_cape_with_parameter_channels_seed_by_seed():
    from cape import acceptance

    def record(family, model, seed, held_out):
        return {"family": family, "model": model, "seed": seed, "summary": {"held_out_nrmse": held_out}}

    # the plain FNO diverges in one seed: it must not enter the verdict, which is CAPE over channels
    runs = [record(f, m, s, x) for f in ("advection", "burgers")
            for m, values in (("FNO", (50.0, 0.9, 0.9)), ("FNO + channels", (0.5, 0.5, 0.5)),
                              ("FNO + CAPE", (0.3, 0.35, 0.6) if f == "advection" else (0.3, 0.45, 0.45)))
            for s, x in enumerate(values)]
    verdict = acceptance(runs)
    assert verdict["cape_over_channels"]["advection"]["per_seed_ratio"] == pytest.approx([0.6, 0.7, 1.2])
    assert verdict["cape_over_channels"]["advection"]["met"]  # median 0.7
    assert not verdict["cape_over_channels"]["burgers"]["met"]  # median 0.9
    assert verdict["families_met"] == ["advection"] and not verdict["passed"]
    # beside it, CAPE over the plain FNO seed by seed, with no verdict
    assert verdict["cape_over_channels"]["advection"]["per_seed_ratio_over_plain"] == pytest.approx(
        [0.3 / 50, 0.35 / 0.9, 0.6 / 0.9])


def test_cape_on_top_of_parameter_channels_is_its_own_row_against_the_channel_baseline():
    """A ``cape+channels`` run is labelled as such, keeps its auxiliary weight, and is compared seed by seed with the
    parameter-channel FNO of the same setup (not with the plain CAPE rows)."""
    setting = FAMILIES["burgers"]

    def record(conditioning, seed, held_out):
        weight = 5.7e-5 if conditioning != "channels" else None
        per_value = {f"held_out_nrmse_{setting.parameter}={v:g}": held_out for v in setting.held_out}
        return {"family": "burgers", "base": "fno", "conditioning": conditioning, "cape_weight": weight,
                "parameter_scale": "log", "parameter_clip": None, "gradient_penalty": 0.0, "cape_module": "study",
                "training": "curriculum", "seed": seed, "samples": 240, "steps": 3000,
                "frames": 1, "wall_time_s": 60.0,
                "metrics": {"seen_nrmse": 0.1, "held_out_nrmse": held_out, "train_time_s": 60.0, **per_value}}

    runs = [record(c, s, x) for c, values in (("channels", (0.5, 0.5, 0.5)), ("cape", (0.6, 0.6, 0.6)),
                                              ("cape+channels", (0.2, 0.35, 0.45)))
            for s, x in enumerate(values)]
    table = markdown({"runs": runs})
    assert overrides("burgers", "cape+channels", 0, 3000, cape_weight=5.7e-5)["cape_weight"] == 5.7e-5
    assert ("FNO + CAPE + parameter channels (aux. weight 5.7e-05) over FNO + parameter channels, held-out nRMSE "
            "seed by seed (curriculum, 240, 3000, 1, log, not clipped): 0.4, 0.7, 0.9; median 0.7 (target <= 0.8: "
            "met)") in table
    assert "FNO + CAPE (aux. weight 5.7e-05) over FNO + parameter channels" in table and "1.2, 1.2, 1.2" in table


def test_a_run_folder_another_invocation_trains_is_skipped_not_fatal(tmp_path, monkeypatch, capsys):
    """Parallel invocations over overlapping seeds: the seed whose folder is held by another process is skipped (that
    process records it) and the invocation goes on to its next seed, recording that one. A later invocation that
    reads the finished run back re-scores it but keeps the date and load of its training."""
    import pdebench_cape

    from sciml.studies import RunFolderError

    calls = []

    def run(name, conditioning, seed, samples, steps, **_):
        if seed == 1:
            raise RunFolderError(f"runs/{name}-s{seed} is in use by another sciml process (pid 1 on vm)")
        calls.append(seed)
        return {"family": name, "base": "fno", "conditioning": conditioning, "cape_weight": None,
                "parameter_scale": "log", "parameter_clip": None, "gradient_penalty": 0.0, "cape_module": "study",
                "training": "one-step", "seed": seed, "samples": samples, "steps": steps,
                "frames": 1, "wall_time_s": 1.0, "date": f"call {len(calls)}", "load": {"call": len(calls)},
                "read_back": len(calls) > 1,
                "metrics": {"seen_nrmse": 0.1 * len(calls), "held_out_nrmse": 0.2, "train_time_s": 1.0,
                            **{f"held_out_nrmse_rho={v:g}": 0.2 for v in FAMILIES["diffreact"].held_out}}}

    monkeypatch.setattr(pdebench_cape, "run", run)
    monkeypatch.setattr(pdebench_cape, "RESULTS", tmp_path / "pdebench_cape.json")
    monkeypatch.setattr(pdebench_cape, "TABLE", tmp_path / "pdebench_cape.md")
    monkeypatch.setattr(sys, "argv", ["pdebench_cape.py", "--families", "diffreact", "--conditionings", "channels",
                                      "--seeds", "1", "2", "--steps", "500"])
    pdebench_cape.main()
    assert "skipped: runs/diffreact-s1 is in use by another sciml process" in capsys.readouterr().out
    stored = json.loads((tmp_path / "pdebench_cape.json").read_text())["runs"]
    assert [r["seed"] for r in stored] == [2]
    pdebench_cape.main()  # seed 2 read back
    [again] = json.loads((tmp_path / "pdebench_cape.json").read_text())["runs"]
    assert (again["date"], again["load"], again["metrics"]["seen_nrmse"]) == ("call 1", {"call": 1}, 0.2)
    assert "read_back" not in again


def test_diffusion_reaction_is_set_against_the_per_parameter_fno_at_its_own_diffusivity(tmp_path, monkeypatch):
    """The per-parameter FNO of diffusion-reaction is trained at (nu, rho) = (0.5, 5): the held-out error it is set
    beside is recomputed from predictions.nc on those rows alone, not averaged over every nu."""
    import pdebench_cape

    rng = np.random.default_rng(0)
    nu = np.array([0.5, 0.5, 2.0, 2.0, 0.5, 1.0])
    split = np.array(["held_out"] * 4 + ["seen"] * 2)
    reference = rng.normal(size=(6, 3, 16))
    prediction = reference + np.array([0.1, 0.1, 0.5, 0.5, 0.0, 0.0])[:, None, None] * rng.normal(size=(6, 3, 16))
    path = tmp_path / "predictions.nc"
    xr.Dataset({"prediction": (("sample", "t", "x"), prediction), "reference": (("sample", "t", "x"), reference)},
               coords={"split": ("sample", split), "nu": ("sample", nu),
                       "rho": ("sample", np.where(split == "held_out", 5.0, 1.0))}).to_netcdf(path)
    errors = pdebench_cape.reference_point_errors("diffreact", path)
    assert list(errors) == ["held_out_nrmse_nu=0.5,rho=5"]
    assert errors["held_out_nrmse_nu=0.5,rho=5"] == pytest.approx(metrics.nrmse(prediction[:2], reference[:2]))
    assert pdebench_cape.reference_point_errors("burgers", path) == {}  # one parameter: the per-value metrics serve

    per_parameter = tmp_path / "pdebench_fno.json"
    per_parameter.write_text(json.dumps({"runs": [
        {"case": f"diffreact:nu={n},rho={r}", "model": "fno", "training": "one-step", "initial_distribution":
         "pdebench", "samples": 1200, "epochs": 20, "nrmse": x, "seed": seed}
        for (n, r, x, seed) in ((0.5, 5, 0.002, 0), (0.5, 5, 0.004, 1), (0.5, 1, 1.0, 0))]}))
    monkeypatch.setattr(pdebench_cape, "PER_PARAMETER", per_parameter)
    assert pdebench_cape.per_parameter_fno("diffreact", 5.0) == pytest.approx(0.003)
    record = {"family": "diffreact", "base": "fno", "conditioning": "cape", "cape_weight": 5.7e-5,
              "parameter_scale": "log", "parameter_clip": None, "gradient_penalty": 0.0, "cape_module": "study",
              "training": "one-step", "seed": 0, "samples": 240, "steps": 15000, "frames": 1, "wall_time_s": 1.0,
              "metrics": {"seen_nrmse": 0.01, "held_out_nrmse": 0.03, "held_out_nrmse_rho=5": 0.03,
                          "held_out_nrmse_nu=0.5,rho=5": 0.012, "train_time_s": 1.0}}
    table = markdown({"runs": [record]})
    assert "| per-parameter FNO, nu = 0.5 | | 0.003 |" in table
    assert "| x (FNO + CAPE (aux. weight 5.7e-05) / per-parameter FNO, nu = 0.5) | one-step, 240, 15000, 1, log, " \
           "not clipped | 4 (no) |" in table


def test_burgers_runs_are_read_again_with_nu_clipped_to_the_trained_range(tmp_path, monkeypatch):
    """Burgers holds out nu = 0.001 and 4, outside the trained [0.002, 2]: each run is scored again with nu clipped
    there. The clipped rollouts equal the model's own rollouts given nu = 0.002 and 2 for those rows, and the
    unclipped ones elsewhere; the table sets CAPE over the channels on them. (Smooth decaying waves stand in for the
    family's data, which takes a minute to solve; the zero-shot rollouts, which solve it on the finer grid, are
    another test's.)"""
    import pdebench_cape

    import sciml

    nu = np.repeat(FAMILIES["burgers"].values, 16)
    rng = np.random.default_rng(0)
    t, x = np.linspace(0.0, 2.0, 41), np.arange(256) / 256
    phase, k = rng.uniform(0, 2 * np.pi, nu.size), rng.integers(1, 4, nu.size)
    u = np.sin(2 * np.pi * k[:, None, None] * (x - 0.3 * t[:, None]) + phase[:, None, None]) * np.exp(
        -(nu * k**2)[:, None, None] * t[:, None])
    (tmp_path / "data").mkdir()
    xr.Dataset({"u": (("sample", "t", "x"), u.astype(np.float32), {"long_name": "u", "units": "1"})},
               coords={"nu": ("sample", nu), "t": t, "x": x}).to_netcdf(tmp_path / "data" / "burgers-16.nc")
    monkeypatch.setattr(pdebench_cape, "zero_shot", lambda *args: {})
    record = run("burgers", "cape", 0, samples=16, steps=100, runs=tmp_path)
    folder = Path(record["predictions"]).parent
    clipped = xr.open_dataset(folder / "clipped.nc")
    stored = xr.open_dataset(folder / "predictions.nc")
    held = stored.isel(sample=stored.split.values == "held_out")
    np.testing.assert_array_equal(clipped.sample.values, held.sample.values)
    nu = held.nu.values
    moved = held.assign_coords(nu=("sample", np.clip(nu, 0.002, 2.0)))
    trained = sciml.load(folder)
    np.testing.assert_allclose(clipped.prediction.values, trained.predict(moved)["prediction"].values,
                               rtol=1e-5, atol=1e-6)
    inside = (nu > 0.001) & (nu < 4.0)
    np.testing.assert_allclose(clipped.prediction.values[inside], held.prediction.values[inside], rtol=1e-5,
                               atol=1e-6)
    assert not np.allclose(clipped.prediction.values[nu == 0.001], held.prediction.values[nu == 0.001])
    assert record["metrics"]["held_out_nrmse_clipped"] == pytest.approx(
        metrics.nrmse(clipped.prediction.values, clipped.reference.values), rel=1e-6)
    assert record["metrics"]["held_out_nrmse_clipped_nu=4"] == pytest.approx(
        metrics.nrmse(clipped.prediction.values[nu == 4.0], clipped.reference.values[nu == 4.0]), rel=1e-6)
    del record["zero_shot"]  # not computed here: the table shows '-'
    channels = {**record, "conditioning": "channels", "cape_weight": None,
                "metrics": {**record["metrics"], "held_out_nrmse_clipped": 2 * record["metrics"][
                    "held_out_nrmse_clipped"]}}
    table = markdown({"runs": [record, channels, {**record, "seed": 1}, {**channels, "seed": 1},
                               {**record, "seed": 2}, {**channels, "seed": 2}]})
    assert "Read again with nu clipped to the trained range [0.002, 2]" in table
    assert "| nu=0.001, clipped | nu=4, clipped |" in table
    assert "Clipped: FNO + CAPE (aux. weight 1) over FNO + parameter channels, seed by seed " \
           "(one-step, 16, 100, 10, log, not clipped): 0.5, 0.5, 0.5; median 0.5" in table


@pytest.fixture
def run_folder_and_overrides(tmp_path, monkeypatch):
    """`run` stopped where it would train: returns the (folder, overrides) it would train with."""
    import pdebench_cape

    class Trained(Exception):
        pass

    def trained_run(experiment, overrides, folder, **_):
        raise Trained(folder, overrides)

    monkeypatch.setattr(pdebench_cape, "trained_run", trained_run)
    monkeypatch.setattr(pdebench_cape, "data_file", lambda *_: tmp_path / "data.nc")

    def folder_and_overrides(*args, **kwargs):
        with pytest.raises(Trained) as caught:
            run(*args, samples=8, steps=100, runs=tmp_path, **kwargs)
        return caught.value.args

    return folder_and_overrides


def test_a_channel_run_for_the_unnormalised_module_is_the_paper_modules_run(run_folder_and_overrides):
    """`run` trains the channel model matched to the unnormalised paper-size CAPE in the paper module's folder, with
    its overrides: the same network, so one run serves both."""
    folder, overrides_used = run_folder_and_overrides("diffreact", "channels", 0, cape_module="paper-unnormalised")
    assert folder.name == "diffreact-channels-one-step-8-100-paper-module-s0"
    assert overrides_used["cape_normalize"] is True


def test_a_cape_warmup_run_is_set_against_the_one_step_channel_runs(run_folder_and_overrides):
    """A warm-up trains the CAPE module alone, so a channel model asked for with it trains (and is looked up) as the
    one-step run; the CAPE run itself warms up for one epoch."""
    import pdebench_cape

    for conditioning, folder_name, warmup in (("channels", "diffreact-channels-one-step-8-100-s0", None),
                                              ("cape", "diffreact-cape-one-step-warmup-8-100-s0", 1)):
        folder, overrides_used = run_folder_and_overrides("diffreact", conditioning, 0, training="one-step-warmup")
        assert folder.name == folder_name and overrides_used.get("warmup_epochs") == warmup
    channels = ("fno", "channels", 0.0, 0.0, "paper-affine")
    groups = {(*channels, "one-step", 240, 15000, 10, "linear", None): [],
              (*channels, "curriculum", 240, 3000, 1, "linear", None): []}
    cape = ("fno", "cape", 5.7e-5, 0.0, "paper-affine", "one-step-warmup", 240, 15000, 10, "linear", None)
    assert pdebench_cape._channel_baselines(FAMILIES["diffreact"], groups, cape) == [next(iter(groups))]


def test_the_benchmarks_study_module_is_the_studys_whatever_the_experiments_defaults():
    """`burgers-cape`'s defaults are the paper-size capped module at aux. weight 5.7e-5; the benchmark's runs named
    for the study's module and weight (``--cape-module study``, no ``--cape-weight``) keep the study's."""
    experiment = load_experiment("burgers-cape")
    config = resolve_config(experiment.config_type, overrides("burgers", "cape", 0, 100))
    assert experiment.config_type().cape_update_cap == 1.0 and experiment.config_type().cape_width == 64
    assert (config.cape_width, config.cape_modes, config.cape_pool, config.cape_update_cap, config.cape_weight) == (
        32, 8, 1, 0.0, 1.0)
