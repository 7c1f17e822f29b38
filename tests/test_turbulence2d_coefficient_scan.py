"""`benchmarks/turbulence2d_coefficient_scan.py`: the window of coefficients that beat both baselines on both metrics,
and each reward's best coefficient, from scan rows."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from turbulence2d_coefficient_scan import merged, window_row, with_sums  # noqa: E402


def _row(form, coefficient, spectrum, tails, reward, stable=True):
    return {"case": "case4", "form": form, "coefficient": coefficient, "stable": stable, "spectrum_error": spectrum,
            "tail_hellinger": tails, "reward_a": reward, "reward_b": -reward}


def test_the_window_beats_no_closure_and_static_smagorinsky_on_both_metrics():
    results = [_row("smagorinsky", 0.0, 2.0, 0.2, -3.0), _row("smagorinsky", 0.06, 0.8, 0.1, -1.0),
               _row("smagorinsky", 0.08, 0.6, 0.19, -2.0), _row("smagorinsky", 0.1, 0.5, 0.3, -2.5),
               _row("smagorinsky", 0.17, 0.7, 0.8, -4.0),
               _row("smagorinsky", 0.22, float("nan"), float("nan"), float("nan"), stable=False),
               # A tail-less run (NaN distance) ranks as 1 and wins nothing; Leith rows share the case's baselines.
               _row("leith", 0.0, 2.0, 0.2, -3.0), _row("leith", 0.12, 0.6, float("nan"), -0.5),
               _row("leith", 0.14, 0.65, 0.15, -0.7)]
    rewards = ["reward_a", "reward_b"]
    assert window_row(results, "case4", "smagorinsky", rewards) == "| case4 | smagorinsky | 0.08 | 0.06 | 0.17 |"
    assert window_row(results, "case4", "leith", rewards) == "| case4 | leith | 0.14 | 0.12 | 0 |"
    # A row scanned before a reward existed has no value for it: the reward's best comes from the rows that do.
    older = [{key: value for key, value in r.items() if key != "reward_b"} if r["coefficient"] == 0 else r
             for r in results]
    assert window_row(older, "case4", "leith", rewards) == "| case4 | leith | 0.14 | 0.12 | 0.14 |"
    without_baseline = [r for r in results if r["coefficient"] != 0.17]
    assert "(scan 0 and Smagorinsky 0.17)" in window_row(without_baseline, "case4", "leith", ["reward_a"])


def test_a_finer_scan_merges_into_the_previous_rows():
    previous = [_row("leith", 0.1, 0.8, 0.1, -1.0), _row("leith", 0.12, 0.6, 0.18, -0.5),
                _row("smagorinsky", 0.1, 1, 1, 1)]
    new = [_row("leith", 0.12, 0.61, 0.19, -0.4), _row("leith", 0.11, 0.7, 0.15, -0.3)]
    rows = merged(new, previous)
    assert [(r["form"], r["coefficient"]) for r in rows] == [("leith", 0.1), ("leith", 0.11), ("leith", 0.12),
                                                           ("smagorinsky", 0.1)]
    assert rows[2]["spectrum_error"] == 0.61  # the redone row replaces the old one


def test_a_sum_of_rewards_is_read_from_its_terms_columns():
    row = {"coefficient": 0.1, "reward_log_spectrum": -1.5, "reward_weighted_energy": 0.5}
    shown = with_sums(row, ["weighted_energy+2*log_spectrum", "spectrum_error+log_spectrum"])
    assert shown["reward_weighted_energy+2*log_spectrum"] == 0.5 + 2 * -1.5
    assert shown["reward_spectrum_error+log_spectrum"] is None  # a term this row was not scanned for
    assert {key: shown[key] for key in row} == row
