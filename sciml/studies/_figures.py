"""The figure every trained run gets: its loss curve, drawn from `metrics.jsonl` into `figures/loss_curve.png`.

`sciml.studies.train` draws it when training ends (finished, diverged or interrupted); each call redraws it from the
whole log, so runs with several training calls show them one after another.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from sciml.studies._run import RunDir

LOSS_CURVE = "loss_curve"
_NOT_PLOTTED = frozenset({"step", "phase", "steps_per_s"})
_STAGE_NAMES = {"adam": "Adam", "lbfgs": "L-BFGS"}


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The records of a `metrics.jsonl` (one JSON object a line); a line cut short by a crash is skipped."""
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "step" in record:
            records.append(record)
    return records


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _stages(records: Sequence[dict]) -> list[tuple[int, str, list[dict]]]:
    """The training records cut into stages: a new stage where the phase changes or the step goes back (a new
    training call); each as (call, label, records), labelled by its optimizer and, when there are several, call."""
    blocks: list[tuple[int, str, list[dict]]] = []
    call = 1
    for record in records:
        if "non_finite" in record:
            continue
        phase = str(record.get("phase", "training"))
        if blocks and record["step"] <= blocks[-1][2][-1]["step"]:
            call += 1
        if not blocks or blocks[-1][0] != call or blocks[-1][1] != phase:
            blocks.append((call, phase, []))
        blocks[-1][2].append(record)
    several = call > 1
    return [(c, f"{_STAGE_NAMES.get(phase, phase)}{f' (call {c})' if several else ''}", block)
            for c, phase, block in blocks]


def _classify(records: Sequence[dict], evaluation_keys: Collection[str]) -> tuple[list[str], list[str]]:
    """(loss terms, evaluation metrics) among the numeric keys: evaluations are the named ones and those missing from
    some record (an evaluation is logged every few chunks, the loss terms every chunk)."""
    keys: dict[str, int] = {}
    for record in records:
        for key, value in record.items():
            if key not in _NOT_PLOTTED and _number(value):
                keys[key] = keys.get(key, 0) + 1
    evaluations = [k for k, n in keys.items() if k in evaluation_keys or n < len(records)]
    losses = [k for k in keys if k not in evaluations]
    losses.sort(key=lambda k: (k != "loss", k))
    return losses, evaluations


def _set_log_scale(ax, values: list[float]) -> None:
    """Log y (zeros, e.g. a count of solver failures, are left out); symmetric log when a curve goes negative (e.g.
    an ELBO)."""
    finite = np.asarray([v for v in values if np.isfinite(v)])
    if finite.size and finite.min() < 0:
        nonzero = np.abs(finite[finite != 0])
        ax.set_yscale("symlog", linthresh=float(nonzero.min()) if nonzero.size else 1.0)
    else:
        ax.set_yscale("log")


def loss_curve_figure(records: Sequence[dict], *, evaluation_keys: Collection[str] = (), title: str = ""):
    """The loss curve of a run's metrics records: every loss term against the step (left) and, where logged, the
    evaluation metrics (right), log y; training calls follow one another on the step axis and each stage (Adam,
    L-BFGS; the call when there are several) is marked and named. None when the records hold no numbers."""
    stages = _stages(records)
    training = [r for _, _, block in stages for r in block]
    losses, evaluations = _classify(training, evaluation_keys)
    if not losses and not evaluations:
        return None
    from matplotlib.figure import Figure  # not pyplot: no backend or global figure state involved

    panels = [(what, keys) for what, keys in (("loss terms", losses), ("evaluation", evaluations)) if keys]
    fig = Figure(figsize=(6 * len(panels), 4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)
    starts, points = [], {key: ([], []) for key in losses + evaluations}
    ends: dict[int, int] = {}  # the last step of each training call so far
    for call, label, block in stages:
        offset = sum(end for c, end in ends.items() if c < call)
        starts.append((offset + ends.get(call, 0), label))
        if call not in ends:  # no line joins one training call to the next
            for x, y in points.values():
                x.append(offset)
                y.append(float("nan"))
        for record in block:
            for key, (x, y) in points.items():
                if _number(record.get(key)):
                    x.append(offset + record["step"])
                    y.append(float(record[key]))
        ends[call] = block[-1]["step"]
    for ax, (what, keys) in zip(axes[0], panels, strict=True):
        for key in keys:
            x, y = points[key]
            ax.plot(x, y, "o-" if what == "evaluation" and len(x) < 30 else "-", ms=3, lw=1.3, label=key)
        _set_log_scale(ax, [v for key in keys for v in points[key][1]])
        for start, label in starts:
            ax.axvline(start, color="0.6", ls=":", lw=1)
            ax.annotate(label, (start, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -4),
                        textcoords="offset points", rotation=90, va="top", fontsize=8, color="0.35")
        ax.set(xlabel="step", ylabel=what, title=f"{title}: {what}" if title else what)
        ax.legend(fontsize=8, loc="lower left")
    return fig


def save_loss_curve(run: RunDir, *, evaluation_keys: Collection[str] = ()) -> Path | None:
    """Draw `figures/loss_curve.png` of `run` from its `metrics.jsonl`; None (and nothing drawn) without a log or
    numbers in it (e.g. a GP fitted without `sciml.studies.train`)."""
    if not run.metrics.exists():
        return None
    fig = loss_curve_figure(read_metrics(run.metrics), evaluation_keys=evaluation_keys,
                            title=run.experiment or run.path.name)
    return None if fig is None else run.save_figure(fig, LOSS_CURVE, tight=False)
