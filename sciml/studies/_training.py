"""The one place where a `TrainConfig` becomes a `sciml.train.fit` call, and where its result becomes summary lines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax

from sciml.studies._config import TrainConfig, config_dict
from sciml.studies._figures import save_loss_curve
from sciml.studies._run import RunDir
from sciml.train import Evaluation, FitResult, fit


def train(
    model,
    loss,
    data,
    config: TrainConfig,
    run: RunDir | None = None,
    *,
    evaluations: Sequence[Evaluation] = (),
    lbfgs_data=None,
    trainable: Callable[[Any], bool] = eqx.is_inexact_array,
    progress=None,
    key: jax.Array | None = None,
) -> FitResult:
    """Train `model` on `loss` and `data` (see `sciml.train.fit`) as `config` says; log and checkpoint into `run`.

    The optimizer, schedule, clipping, accumulation, L-BFGS stage, chunk, checkpoint interval, time budget, device
    mesh and precision all come from `config`; the training key is ``config.key(1)`` unless `key` is given (studies
    whose published numbers were drawn with another derivation keep it so). Checkpoints carry the run's whole
    resolved config (or, without a run, the training config), so a resume with other settings is refused. The
    precision of the steps goes into ``run.record`` (the summary's ``precision``).
    """
    meta = {"config": dict(run.config) if run is not None and run.config else config_dict(config)}
    evaluated: set[str] = set()  # the names the evaluations return, for the loss curve's second panel
    evaluations = [Evaluation(_recording(e.fn, evaluated), e.every) for e in evaluations]
    try:
        result = fit(
            model, loss, data, config.optimizer_transform(), config.steps,
            key=config.key(1) if key is None else key,
            lbfgs=config.lbfgs(),
            lbfgs_data=lbfgs_data,
            chunk=config.chunk,
            evaluations=evaluations,
            out_dir=run.path if run is not None else None,
            checkpoint_every=config.checkpoint_every or None,
            mesh=config.mesh(),
            trainable=trainable,
            progress=progress,
            meta=meta,
            time_budget_s=config.time_budget_s or None,
            unroll=True if config.unroll else 1,
            precision=config.precision_strategy(),
        )
    finally:  # a diverged or interrupted run gets its curve too
        if run is not None and run.writes:
            save_loss_curve(run, evaluation_keys=evaluated)
    if run is not None:
        run.record["precision"] = result.precision
        if result.resumed_from is not None:
            run.record.setdefault("resumed_from", result.resumed_from)
    return result


def _recording(fn: Callable[[Any], dict], names: set[str]) -> Callable[[Any], dict]:
    """`fn` that also adds the names of the values it returns to `names`."""

    def evaluate(model):
        values = fn(model)
        names.update(values)
        return values

    return evaluate


def fit_summary(result: FitResult) -> dict[str, float]:
    """Steps, final loss and timings of a `FitResult`, for the run summary."""
    return {"final_loss": result.history[-1]["loss"], "steps": result.step, "train_time_s": result.train_time_s,
            "compile_time_s": result.compile_time_s, "adam_steps_per_s": result.steps_per_s}
