"""`fit`: the one training loop of sciml.

Every method trains through `fit(model, loss, data, optimizer, steps, ...)`:

- `loss(model, batch, key) -> (scalar, metrics)` is a pure function (or an `AbstractAdaptiveLoss`, whose array
  leaves such as loss weights are carried in the training state and refreshed every `update_every` steps);
- `data` is an `AbstractSampler` (batches drawn on device from the step's key: chunks of steps are fused with
  `lax.scan`), a callable `step -> batch` returning host arrays (stacked per chunk and scanned over), or a fixed pytree
  of arrays (full-batch training);
- each compiled call runs `chunk` steps; metrics are written to `metrics.jsonl` every chunk, evaluations and
  checkpoints at multiples of it; a NaN/Inf guard inside the scan refuses the first bad update, so the state returned
  (and checkpointed) is the last good one, and the error names the loss term that went bad;
- an optional L-BFGS stage (optax's L-BFGS with zoom line search) follows, in float64 if asked;
- under a mesh that spans several processes (`jax.distributed`), every process runs the same steps on its devices,
  process 0 alone writes the log and the checkpoints, and the model comes back as a copy local to each process.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from sciml._errors import ConfigError
from sciml.provenance import package_versions
from sciml.train._checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from sciml.train._distributed import broadcast_from_main, host_local, is_main_process
from sciml.train._precision import AbstractPrecision, FullPrecision
from sciml.train._progress import AbstractProgress, NoProgress, progress_display
from sciml.train._sharding import constrain_batch, constrain_replicated, replicate, shard_batch, tracing_under


class AbstractSampler(eqx.Module):
    """Draws a training batch on device: `sampler(key, step) -> batch` (a pytree of arrays), pure and jittable.

    `key` is the run's sampling key, the same at every step; `step` is the (traced) step index. A sampler derives
    its randomness from both (e.g. ``fold_in(key, step)``), so a resumed run draws the same batches.
    """

    @abc.abstractmethod
    def __call__(self, key: jax.Array, step: jax.Array) -> Any:
        raise NotImplementedError


class AbstractAdaptiveLoss(eqx.Module):
    """A loss with state (e.g. adaptive term weights) that the engine refreshes every `update_every` steps.

    Array leaves are the state; they are not trained (the engine stops their gradient).
    """

    update_every: eqx.AbstractVar[int]

    @abc.abstractmethod
    def __call__(self, model, batch, key: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        raise NotImplementedError

    @abc.abstractmethod
    def update(self, model, batch, key: jax.Array) -> AbstractAdaptiveLoss:
        """Return the loss with refreshed state."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class LBFGS:
    """The L-BFGS stage run after the first-order optimizer.

    Args:
        steps: L-BFGS iterations (each with a zoom line search).
        memory_size: number of curvature pairs kept.
        max_linesearch_steps: line-search evaluations allowed per iteration.
        dtype: ``"float64"`` runs the stage in float64 (under `jax.enable_x64`); the model returns in its own dtype.
        resample_every: draw a fresh batch from the sampler every this many iterations and restart the curvature
            memory on it (None: one batch for the whole stage), so that the stage cannot fit one set of collocation
            points at the expense of the solution between them. A multiple of the fit's `chunk`.
    """

    steps: int
    memory_size: int = 50
    max_linesearch_steps: int = 30
    dtype: str | None = None
    resample_every: int | None = None

    def optimizer(self) -> optax.GradientTransformationExtraArgs:
        return optax.lbfgs(
            memory_size=self.memory_size,
            linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps=self.max_linesearch_steps, verbose=False),
        )


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Call `fn(model) -> dict of scalars` every `every` steps and log the result (e.g. error against a reference)."""

    fn: Callable[[Any], dict[str, float]]
    every: int


@dataclasses.dataclass
class FitResult:
    """What `fit` returns: the trained model and how the run went."""

    model: Any
    step: int
    history: list[dict[str, Any]]
    compile_time_s: float
    train_time_s: float
    resumed_from: int | None = None
    precision: dict[str, str] = dataclasses.field(default_factory=dict)
    """The first-order steps' compute dtype, parameter dtype and matmul precision (`AbstractPrecision.describe`)."""

    @property
    def steps_per_s(self) -> float:
        timed = [h for h in self.history if "steps_per_s" in h and h.get("phase") == "adam"]
        return float(np.median([h["steps_per_s"] for h in timed])) if timed else float("nan")


class NonFiniteLossError(FloatingPointError):
    """Training produced NaN/Inf. `.model` is the last good model (also checkpointed), `.step` the bad step."""

    def __init__(self, message: str, model, step: int, term: str):
        super().__init__(message)
        self.model = model
        self.step = step
        self.term = term


_FULL_PRECISION = FullPrecision()


class _FixedBatch(AbstractSampler):
    batch: Any

    def __call__(self, key, step):
        return self.batch


class _State(eqx.Module):
    params: Any
    opt_state: Any
    loss_state: Any


def _tree_all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree) if eqx.is_inexact_array(x)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def _select(ok, new, old):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, old)


def _cast(tree, dtype):
    return jax.tree_util.tree_map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, tree)


class _Logger:
    """Appends one JSON line per logged chunk to `metrics.jsonl`.

    On resume it keeps the records up to the resumed step (`kept`), dropping later ones and a torn last line, and
    rewrites the file atomically; a fresh run starts the file anew. A logger that does not `write` (the processes
    other than process 0) only reads the kept records.
    """

    def __init__(self, path: Path | None, resumed_step: int | None, writes: bool = True):
        self.path = path if writes else None
        self.kept: list[dict] = []
        if path is None:
            return
        if resumed_step is not None and path.exists():
            self.kept = [r for r in _read_records(path) if r.get("step", 0) <= resumed_step and "non_finite" not in r]
        if not writes:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if resumed_step is not None and path.exists():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in self.kept))
            os.replace(tmp, path)
        elif path.exists():
            path.unlink()

    def write(self, record: dict) -> None:
        if self.path is not None:
            with self.path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")


def _read_records(path: Path) -> list[dict]:
    """The JSON records of a metrics log; a line cut short by a crash is skipped."""
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _host_stack(data: Callable[[int], Any], start: int, n: int):
    batches = [data(step) for step in range(start, start + n)]
    return jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *batches)


def fit(
    model,
    loss,
    data,
    optimizer: optax.GradientTransformation,
    steps: int,
    *,
    key: jax.Array,
    lbfgs: LBFGS | None = None,
    lbfgs_data=None,
    chunk: int = 100,
    evaluations: Sequence[Evaluation] = (),
    out_dir: str | Path | None = None,
    checkpoint_every: int | None = None,
    keep_checkpoints: int = 3,
    resume: bool = True,
    mesh: Mesh | None = None,
    trainable: Callable[[Any], bool] = eqx.is_inexact_array,
    progress: AbstractProgress | bool | None = None,
    meta: dict | None = None,
    time_budget_s: float | None = None,
    unroll: int | bool = 1,
    precision: AbstractPrecision = _FULL_PRECISION,
    batch_spec=None,
) -> FitResult:
    """Train `model` for `steps` optimizer steps (then `lbfgs.steps` L-BFGS steps) and return a `FitResult`.

    Args:
        model: an equinox module (any pytree); its leaves selected by `trainable` are optimised.
        loss: `loss(model, batch, key) -> (scalar, dict of scalar metrics)`, or an `AbstractAdaptiveLoss`.
        data: an `AbstractSampler`, a callable `step -> batch` of host arrays, or a fixed pytree batch.
        optimizer: an optax transformation (schedules included).
        steps: number of first-order steps.
        key: the run's root PRNG key; step `i` uses `fold_in(key, i)`.
        lbfgs: optional L-BFGS stage after the first-order steps.
        lbfgs_data: the fixed batch of the L-BFGS stage, or a sampler drawn once for it (default: one draw of `data`).
        chunk: steps fused in one compiled call; logging happens every chunk.
        evaluations: callbacks run every `every` steps (a multiple of `chunk`).
        out_dir: where `metrics.jsonl` and `checkpoints/` go (nothing is written when None).
        checkpoint_every: steps between checkpoints (a multiple of `chunk`); None saves only at the end.
        resume: continue from the newest checkpoint in `out_dir/checkpoints` when there is one.
        mesh: a device mesh (`data_mesh`, or `data_space_mesh` with a `batch_spec`): batches split over it,
            parameters replicated; it may span several processes (see `join_cluster`).
        trainable: filter choosing the trained leaves.
        progress: an `AbstractProgress` (e.g. `ProgressBar`, `NoProgress`); True / False for a bar or none;
            None shows a bar when stderr is a terminal.
        meta: extra JSON-able metadata stored in every checkpoint (e.g. the run's config).
        time_budget_s: wall-clock budget of the first-order stage (compilation excluded): it stops at the first chunk
            boundary past the budget, checkpoints, and goes on to L-BFGS; `FitResult.step` says where it stopped.
        unroll: first-order steps unrolled per iteration of the compiled chunk loop (`lax.scan`'s `unroll`; True:
            the whole chunk, no loop left). Results are the same; it costs compile time and rarely helps (the FNO's
            spectral and 1x1 convolutions are written as matrix products, which XLA:CPU runs as fast in the loop).
        precision: the arithmetic of the first-order steps: `FullPrecision` (the parameters' dtype) or
            `MixedPrecision` (bfloat16 compute, float32 master weights and optimizer state). The L-BFGS stage keeps
            `lbfgs.dtype`; evaluations see the float32 model.
        batch_spec: how the batch's arrays are split over `mesh`: None (the leading axis over ``"data"``), a
            `PartitionSpec` for all of them (e.g. ``PartitionSpec("data", None, "space")`` for fields
            ``(batch, channel, x, y)`` on a `data_space_mesh`), or a pytree of them shaped like the batch.
    """
    _check_fit_args(steps, chunk, evaluations, checkpoint_every, lbfgs)
    if lbfgs is not None and lbfgs.resample_every is not None and not (
            lbfgs_data is None or isinstance(lbfgs_data, AbstractSampler)):
        raise ConfigError("fit: LBFGS.resample_every draws fresh batches, but lbfgs_data is a fixed batch; pass a "
                          "sampler as lbfgs_data (or none, to draw from `data`), or set resample_every=None")
    out_dir = Path(out_dir) if out_dir is not None else None
    ckpt_dir = out_dir / "checkpoints" if out_dir is not None else None

    params, static = eqx.partition(model, trainable)
    parameter_dtype = _float_dtype(params)
    loss_state, loss_static = eqx.partition(loss, eqx.is_array)
    adaptive = isinstance(loss, AbstractAdaptiveLoss)
    if isinstance(data, AbstractSampler):
        host_data = None
        sampler = data
    elif callable(data):
        host_data, sampler = data, None
    else:
        host_data, sampler = None, _FixedBatch(jax.tree_util.tree_map(jnp.asarray, data))
    sampler_arrays, sampler_static = eqx.partition(sampler, eqx.is_array)

    state = _State(params, optimizer.init(params), loss_state)
    fingerprint = _fingerprint(key, params)
    start, resumed_from, lbfgs_checkpoint = 0, None, None
    checkpoint = latest_checkpoint(ckpt_dir) if (resume and ckpt_dir is not None) else None
    if checkpoint is not None:
        checkpoint_meta = json.loads((checkpoint / "meta.json").read_text())
        _check_same_meta(checkpoint, checkpoint_meta.get("meta", {}), meta)
        _check_same_fingerprint(checkpoint, checkpoint_meta.get("fingerprint"), fingerprint)
        resumed_from = checkpoint_meta["step"]
        if checkpoint_meta["phase"] == "adam":
            state, _ = load_checkpoint(checkpoint, state)
            start = resumed_from
        else:
            start, lbfgs_checkpoint = checkpoint_meta.get("first_order_steps", steps), checkpoint
    state, sampler_arrays = _placed(state, mesh), _placed(sampler_arrays, mesh)
    # Donated buffers must be distinct; initialisers may share constant buffers, so start from copies.
    state = jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True) if eqx.is_array(x) else x, state)
    main = is_main_process()
    logger = _Logger(out_dir / "metrics.jsonl" if out_dir is not None else None, resumed_from, writes=main)
    meta = {"meta": meta or {}, "fingerprint": fingerprint, **_versions()}
    history: list[dict] = list(logger.kept)
    total = steps + (lbfgs.steps if lbfgs else 0)
    bar = progress_display(progress) if main else NoProgress()
    bar.start(total, start)
    if checkpoint is not None and main:
        bar.message(f"fit: resumed from step {resumed_from} ({checkpoint})")

    sample_key, loss_root = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)

    def batch_of(samp_arrays, step):
        batch = eqx.combine(samp_arrays, sampler_static)(sample_key, step)
        return constrain_batch(batch, mesh, batch_spec)

    def loss_and_grad(params, loss_arrays, batch, step_key):
        def objective(p):
            current_loss = eqx.combine(jax.lax.stop_gradient(loss_arrays), loss_static)
            model = precision.compute(eqx.combine(p, static))
            return precision.restore(current_loss(model, precision.compute(batch), step_key), parameter_dtype)

        return jax.value_and_grad(objective, has_aux=True)(params)

    def one_step(carry, xs):
        state, bad, first_bad, samp_arrays = carry
        step, host_batch = xs
        loss_key = jax.random.fold_in(loss_root, step)
        batch = batch_of(samp_arrays, step) if host_batch is None else host_batch
        loss_arrays = state.loss_state
        if adaptive:
            def refresh(arrays):
                current = eqx.combine(arrays, loss_static)
                new = current.update(eqx.combine(state.params, static), batch, loss_key)
                # Keep each leaf's dtype (a refresh computed in a wider float would change the carry's type).
                return jax.tree.map(lambda n, o: n.astype(o.dtype), eqx.filter(new, eqx.is_array), arrays)

            loss_arrays = jax.lax.cond(step % loss.update_every == 0, refresh, lambda a: a, loss_arrays)
        (value, metrics), grads = loss_and_grad(state.params, loss_arrays, batch, loss_key)
        finite = jnp.isfinite(value) & _tree_all_finite(grads)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        ok = finite & ~bad
        new_state = _State(
            _select(ok, params, state.params),
            _select(ok, opt_state, state.opt_state),
            _select(ok, loss_arrays, state.loss_state),
        )
        first_bad = jnp.where(~finite & ~bad, step, first_bad)
        return (new_state, bad | ~finite, first_bad, samp_arrays), {"loss": value, **metrics}

    def run_chunk(state, samp_arrays, steps_idx, host_batches):
        carry = (state, jnp.asarray(False), jnp.asarray(-1), samp_arrays)
        (state, bad, first_bad, _), metrics = jax.lax.scan(one_step, carry, (steps_idx, host_batches), unroll=unroll)
        return constrain_replicated((state, bad, first_bad, metrics), mesh)

    compiled: dict[int, Any] = {}
    compile_time = 0.0
    train_start = time.perf_counter()

    def call_chunk(state, step0, n):
        nonlocal compile_time
        steps_idx = jnp.arange(step0, step0 + n)
        if mesh is not None:
            steps_idx = replicate(steps_idx, mesh)
        host = None
        if host_data is not None:
            host = _host_stack(host_data, step0, n)
            host = shard_batch(host, mesh, leading=1, spec=batch_spec) if mesh is not None else jax.device_put(host)
        if n not in compiled:
            bar.stage("compiling")
            t0 = time.perf_counter()
            with tracing_under(mesh):
                compiled[n] = jax.jit(run_chunk, donate_argnums=0).lower(state, sampler_arrays, steps_idx,
                                                                         host).compile()
            compile_time += time.perf_counter() - t0
            bar.stage("adam")
        return compiled[n](state, sampler_arrays, steps_idx, host)

    step = start
    out_of_time = False
    while step < steps and not out_of_time and lbfgs_checkpoint is None:
        n = min(chunk, steps - step)
        t0, compile_before = time.perf_counter(), compile_time
        state, bad, first_bad, metrics = call_chunk(state, step, n)
        bad = bool(bad)
        elapsed = time.perf_counter() - t0 - (compile_time - compile_before)
        if bad:
            bad_step = int(first_bad)
            bad_metrics = {k: np.asarray(m)[bad_step - step] for k, m in metrics.items()}
            _stop_non_finite(state, static, bad_step, bad_metrics, ckpt_dir, meta, keep_checkpoints, bar, logger)
        step += n
        record = {"step": step, "phase": "adam", **_last(metrics), "steps_per_s": n / elapsed}
        record.update(_evaluate(evaluations, host_local(eqx.combine(state.params, static)), step, bar, "adam"))
        logger.write(record)
        history.append(record)
        bar.advance(n, record["loss"])
        out_of_time = time_budget_s is not None and time.perf_counter() - train_start - compile_time >= time_budget_s
        if time_budget_s is not None:
            out_of_time = broadcast_from_main(out_of_time)  # every process stops at the same chunk
        if ckpt_dir is not None and (checkpoint_every and step % checkpoint_every == 0 or step == steps or out_of_time):
            save_checkpoint(ckpt_dir, step, state, {"phase": "adam", **meta}, keep=keep_checkpoints)

    model = eqx.combine(state.params, static)
    first_order_steps = step  # `steps`, or fewer when the time budget ran out
    if lbfgs is not None and lbfgs.steps > 0:
        x64 = bool(jax.config.jax_enable_x64)

        def draw(step):
            """The L-BFGS batch of the window that starts at `step`, drawn in the caller's precision mode (so that the
            points do not depend on the stage's dtype)."""
            with jax.enable_x64(x64):
                if isinstance(lbfgs_data, AbstractSampler):
                    return lbfgs_data(sample_key, jnp.asarray(step))
                if lbfgs_data is not None:
                    return jax.tree_util.tree_map(jnp.asarray, lbfgs_data)
                if host_data is not None:
                    return host_data(step)
                return batch_of(sampler_arrays, jnp.asarray(step))

        model, lbfgs_history, lbfgs_compile = _lbfgs_stage(
            model, eqx.combine(state.loss_state, loss_static), draw, lbfgs, first_order_steps, key, chunk, trainable,
            ckpt_dir, lbfgs_checkpoint, meta, keep_checkpoints, logger, bar, evaluations, mesh, batch_spec,
        )
        history.extend(lbfgs_history)
        compile_time += lbfgs_compile
    bar.close()
    final_step = first_order_steps + (lbfgs.steps if lbfgs else 0)
    train_time = time.perf_counter() - train_start - compile_time
    return FitResult(host_local(model), final_step, history, compile_time, train_time, resumed_from,
                     precision.describe(parameter_dtype))


def _float_dtype(tree):
    leaves = [x.dtype for x in jax.tree_util.tree_leaves(tree) if eqx.is_inexact_array(x)]
    return leaves[0] if leaves else jnp.float32


def _check_same_meta(checkpoint: Path, stored: dict, meta: dict | None) -> None:
    """Refuse to resume a checkpoint written with other metadata (e.g. another config) than this call's."""
    current = json.loads(json.dumps(meta or {}, default=str))
    if stored == current:
        return
    stored_config, current_config = stored.get("config", stored), current.get("config", current)
    if isinstance(stored_config, dict) and isinstance(current_config, dict):
        keys = sorted(k for k in set(stored_config) | set(current_config)
                      if stored_config.get(k) != current_config.get(k))
        what = ", ".join(f"{k}: {stored_config.get(k)!r} -> {current_config.get(k)!r}" for k in keys)
    else:
        what = f"{stored!r} -> {current!r}"
    raise ConfigError(
        f"fit: the checkpoint {checkpoint} was written by a run with other settings ({what}); expected the same "
        "meta to resume. Use a new out_dir, delete the old checkpoints, or pass resume=False to start afresh."
    )


def _fingerprint(key: jax.Array, params) -> dict:
    """What a resumed run must share with the run that wrote the checkpoint: the root key and the parameter shapes."""
    leaves = [f"{x.dtype}{list(x.shape)}" for x in jax.tree_util.tree_leaves(params) if eqx.is_array(x)]
    return {"key": np.asarray(jax.random.key_data(key)).tolist(), "parameters": leaves}


def _check_same_fingerprint(checkpoint: Path, stored: dict | None, current: dict) -> None:
    """Refuse a checkpoint of another seed or model, whatever `meta` says (a call without meta included)."""
    if stored == current:
        return
    same_key = (stored or {}).get("key") == current["key"]
    what = "parameter shapes (another model)" if same_key else "root key (another seed)"
    raise ConfigError(
        f"fit: the checkpoint {checkpoint} was written by a run with another {what}; expected the same to resume. "
        "Use a new out_dir, delete the old checkpoints, or pass resume=False to start afresh."
    )


def _placed(tree, mesh: Mesh | None):
    """`tree`'s arrays placed for a step: replicated over `mesh`; with none, on a CPU of several devices, free for JAX
    to place with the rest of the step's program. A PINN residual there splits its points over every CPU device
    (`sciml.pde._blocked.point_split`), and a program that spans them refuses an argument committed to one device
    (`jax.device_put(x, device)`, a restored checkpoint); a host round trip uncommits it. Elsewhere arrays stay where
    they are."""
    if mesh is not None:
        return replicate(tree, mesh)
    if jax.default_backend() != "cpu" or len(jax.local_devices()) == 1:
        return tree

    def free(x):
        if not isinstance(x, jax.Array) or not x.committed or not x.is_fully_addressable:
            return x
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(free(jax.random.key_data(x)), impl=jax.random.key_impl(x))
        return jnp.asarray(np.asarray(x))

    return jax.tree_util.tree_map(free, tree)


def _lbfgs_stage(model, loss, draw, lbfgs, step0, key, chunk, trainable, ckpt_dir, checkpoint, meta, keep, logger, bar,
                 evaluations, mesh, batch_spec):
    """Full-batch L-BFGS on the batch `draw(step0)` (fixed: line searches need a deterministic objective), or on
    `draw(w)` for each window starting at step w when `lbfgs.resample_every` is set (memory restarted per window).

    With ``dtype="float64"`` the stage runs under `jax.enable_x64`; the model comes back in the dtype it came in.
    """
    dtype_in = _float_dtype(model)
    context = jax.enable_x64(True) if lbfgs.dtype == "float64" else contextlib.nullcontext()
    with context:
        every = lbfgs.resample_every

        def window_batch(step):
            """The batch of the window holding `step`, in the stage's dtype and layout."""
            batch = draw(step0 if every is None else step0 + (step - step0) // every * every)
            if lbfgs.dtype is not None:
                batch = _cast(batch, jnp.dtype(lbfgs.dtype))
            return batch if mesh is None else shard_batch(batch, mesh, spec=batch_spec)

        if lbfgs.dtype is not None:
            model = _cast(model, jnp.dtype(lbfgs.dtype))
        params, static = eqx.partition(model, trainable)
        loss_key = jax.random.fold_in(jax.random.fold_in(key, 1), step0)
        optimizer = lbfgs.optimizer()

        def run_chunk(params, opt_state, batch, n):
            # The batch is an argument, not a closure: arrays that span processes cannot be closed over.
            def value_fn(p):
                return loss(eqx.combine(p, static), batch, loss_key)[0]

            value_and_grad = optax.value_and_grad_from_state(value_fn)

            def one_step(carry, _):
                params, opt_state, bad = carry
                value, grad = value_and_grad(params, state=opt_state)
                updates, new_opt_state = optimizer.update(
                    grad, opt_state, params, value=value, grad=grad, value_fn=value_fn
                )
                new_params = optax.apply_updates(params, updates)
                ok = jnp.isfinite(value) & _tree_all_finite(new_params) & ~bad
                return (_select(ok, new_params, params), _select(ok, new_opt_state, opt_state), bad | ~ok), value

            init = (params, opt_state, jnp.asarray(False))
            (params, opt_state, bad), values = jax.lax.scan(one_step, init, None, length=n)
            metrics = loss(eqx.combine(params, static), batch, loss_key)[1]
            return constrain_replicated((params, opt_state, bad, values, metrics), mesh)

        opt_state = optimizer.init(params)
        start = step0
        if checkpoint is not None:
            (params, opt_state), checkpoint_meta = load_checkpoint(checkpoint, (params, opt_state))
            start = checkpoint_meta["step"]
        params, opt_state = _placed((params, opt_state), mesh)
        compiled, compile_time, history = {}, 0.0, []
        end = step0 + lbfgs.steps
        step = start
        batch = window_batch(start)
        while step < end:
            if every is not None and step > step0 and (step - step0) % every == 0:
                batch, opt_state = window_batch(step), optimizer.init(params)
                if mesh is not None:
                    opt_state = replicate(opt_state, mesh)
            n = min(chunk, end - step)
            if n not in compiled:
                bar.stage("compiling")
                t0 = time.perf_counter()
                with tracing_under(mesh):
                    compiled[n] = jax.jit(run_chunk, static_argnums=3).lower(params, opt_state, batch, n).compile()
                compile_time += time.perf_counter() - t0
                bar.stage("lbfgs")
            t0 = time.perf_counter()
            params, opt_state, bad, values, metrics = jax.block_until_ready(compiled[n](params, opt_state, batch))
            elapsed = time.perf_counter() - t0
            step += n
            record = {"step": step, "phase": "lbfgs", "loss": float(values[-1]),
                      **{k: float(v) for k, v in metrics.items()}, "steps_per_s": n / elapsed}
            record.update(_evaluate(evaluations, host_local(eqx.combine(params, static)), step, bar, "lbfgs"))
            logger.write(record)
            history.append(record)
            bar.advance(n, record["loss"])
            if ckpt_dir is not None:
                stage_meta = {"phase": "lbfgs", "first_order_steps": step0, **meta}
                save_checkpoint(ckpt_dir, step, (params, opt_state), stage_meta, keep=keep)
            if bool(bad):
                # A non-finite value met in the line search: the kept state is the last good one; the stage ends.
                logger.write({"step": step, "phase": "lbfgs", "non_finite": "loss"})
                break
        model = host_local(eqx.combine(params, static))
        model = jax.tree_util.tree_map(
            lambda x: np.asarray(x).astype(dtype_in) if eqx.is_inexact_array(x) else x, model
        )
    model = jax.tree_util.tree_map(lambda x: jnp.asarray(x) if isinstance(x, np.ndarray) else x, model)
    return model, history, compile_time


def _stop_non_finite(state, static, bad_step, bad_metrics, ckpt_dir, meta, keep, bar, logger):
    terms = {k: float(v) for k, v in bad_metrics.items()}
    broken = [k for k, v in terms.items() if not math.isfinite(v) and k != "loss"]
    term = broken[0] if broken else ("loss" if not math.isfinite(terms.get("loss", 0.0)) else "gradient")
    logger.write({"step": bad_step, "phase": "adam", "non_finite": term, **{k: repr(v) for k, v in terms.items()}})
    saved = ""
    if ckpt_dir is not None:
        path = save_checkpoint(ckpt_dir, bad_step, state, {"phase": "adam", "reason": "non-finite", **meta}, keep=keep)
        saved = f" The last good state (before step {bad_step}) is saved in {path}."
    bar.close()
    what = f"loss term {term!r}" if term != "gradient" else "the gradient (all loss terms finite)"
    raise NonFiniteLossError(
        f"training stopped at step {bad_step}: {what} became non-finite (terms: {terms}).{saved} "
        "Lower the learning rate, check the data for NaN, or train in float64.",
        host_local(eqx.combine(state.params, static)),
        bad_step,
        term,
    )


def _last(metrics) -> dict[str, float]:
    return {k: float(np.asarray(v)[-1]) for k, v in metrics.items()}


def _evaluate(evaluations, model, step, bar, phase) -> dict[str, float]:
    record = {}
    due = [evaluation for evaluation in evaluations if step % evaluation.every == 0]
    if due:
        bar.stage("evaluation")
        for evaluation in due:
            record.update({k: float(v) for k, v in evaluation.fn(model).items()})
        bar.stage(phase)
    return record


def _versions() -> dict:
    return {"versions": package_versions()}


def _check_fit_args(steps, chunk, evaluations, checkpoint_every, lbfgs) -> None:
    if steps < 0 or chunk < 1:
        raise ConfigError(f"fit: expected steps >= 0 and chunk >= 1, got steps={steps}, chunk={chunk}")
    for name, every in [("checkpoint_every", checkpoint_every), *[("Evaluation.every", e.every) for e in evaluations]]:
        if every is not None and (every < 1 or every % chunk):
            raise ConfigError(
                f"fit: {name}={every} must be a positive multiple of chunk={chunk} (work happens between chunks); "
                f"use e.g. {max(chunk, (every // chunk) * chunk)}"
            )
    if lbfgs is not None and lbfgs.dtype not in (None, "float32", "float64"):
        raise ConfigError(f"LBFGS.dtype must be None, 'float32' or 'float64', got {lbfgs.dtype!r}")
    every = lbfgs.resample_every if lbfgs is not None else None
    if every is not None and (every < 1 or every % chunk):
        raise ConfigError(f"LBFGS.resample_every={every} must be a positive multiple of chunk={chunk} (batches change "
                          f"between chunks); use e.g. {max(chunk, (every // chunk) * chunk)}, or None for one batch")
