"""Experiment configs: the one training config (`TrainConfig`), nested sections, and typed `--set` overrides.

An experiment's `Config` is a frozen dataclass whose field `train` is a `TrainConfig` (with that experiment's
defaults); other fields are the problem's and the model's knobs. Overrides are ``key=value`` strings, with dotted keys
for sections (``train.steps=2000``). A key that moved into a section (``steps``, ``adam_steps``, ``seed``...) gets
an error naming its new place.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path

import jax
import numpy as np
import optax

from sciml._errors import ConfigError
from sciml.train import LBFGS, data_mesh

_OPTIMIZERS = ("adam", "adamw")
_SCHEDULES = ("constant", "exponential", "cosine")
_DTYPES = ("float32", "float64")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How a model is trained: the one set of training knobs every experiment nests as its `train` section.

    Attributes:
        seed: the run's seed; `key(purpose)` derives the keys of model initialisation (0), training (1) and the rest.
        steps: first-order steps (micro-batches when `accumulate` > 1).
        optimizer: ``"adam"`` or ``"adamw"`` (decoupled `weight_decay`).
        learning_rate: the first learning rate.
        schedule: ``"constant"``; ``"exponential"`` (times `decay_rate` every `decay_steps` updates); ``"cosine"``
            (to `final_fraction` x learning_rate at the last update).
        clip_norm: when > 0, gradients are clipped to this global norm before the optimizer.
        accumulate: gradients of this many steps are averaged into one update (optax's `MultiSteps`).
        lbfgs_steps: L-BFGS iterations after the first-order steps (0: none), run in `lbfgs_dtype`.
        chunk: steps fused in one compiled call (metrics are logged every chunk).
        checkpoint_every: steps between checkpoints, a multiple of `chunk` (0: at the end only).
        time_budget_s: wall-clock budget of the first-order stage in seconds (0: none).
        devices: devices the batch is split over (1: no mesh).
        unroll: unroll each chunk's loop (FFT models train much faster on CPU so; compile time grows).
    """

    seed: int = 0
    steps: int = 1000
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "constant"
    decay_steps: int = 1000
    decay_rate: float = 0.9
    final_fraction: float = 0.0
    weight_decay: float = 0.0
    clip_norm: float = 0.0
    accumulate: int = 1
    lbfgs_steps: int = 0
    lbfgs_dtype: str = "float64"
    chunk: int = 100
    checkpoint_every: int = 0
    time_budget_s: float = 0.0
    devices: int = 1
    unroll: bool = False

    def __post_init__(self):
        choices_of = {"optimizer": _OPTIMIZERS, "schedule": _SCHEDULES, "lbfgs_dtype": _DTYPES}
        for name, choices in choices_of.items():
            value = getattr(self, name)
            if value not in choices:
                raise ValueError(f"train.{name} must be one of {choices}, got {value!r}")
        for name in ("steps", "lbfgs_steps", "checkpoint_every", "decay_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("chunk", "accumulate", "devices"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.optimizer == "adam" and self.weight_decay:
            raise ValueError(f"train.weight_decay={self.weight_decay} needs train.optimizer='adamw'")

    def key(self, purpose: int) -> jax.Array:
        """The run's key for one purpose: 0 model initialisation, 1 training, 2 and up the experiment's own."""
        return jax.random.fold_in(jax.random.key(self.seed), purpose)

    def learning_rate_schedule(self) -> optax.Schedule | float:
        """The learning rate against the optimizer's update count."""
        updates = max(1, self.steps // self.accumulate)
        if self.schedule == "exponential":
            return optax.exponential_decay(self.learning_rate, max(1, self.decay_steps), self.decay_rate)
        if self.schedule == "cosine":
            return optax.cosine_decay_schedule(self.learning_rate, updates, alpha=self.final_fraction)
        return self.learning_rate

    def optimizer_transform(self) -> optax.GradientTransformation:
        """The optax transformation: clipping, Adam or AdamW on the schedule, wrapped in `MultiSteps` to accumulate."""
        rate = self.learning_rate_schedule()
        optimizer = optax.adamw(rate, weight_decay=self.weight_decay) if self.optimizer == "adamw" else optax.adam(rate)
        if self.clip_norm > 0:
            optimizer = optax.chain(optax.clip_by_global_norm(self.clip_norm), optimizer)
        if self.accumulate > 1:
            optimizer = optax.MultiSteps(optimizer, every_k_schedule=self.accumulate).gradient_transformation()
        return optimizer

    def lbfgs(self) -> LBFGS | None:
        """The L-BFGS stage, or None when `lbfgs_steps` is 0."""
        return LBFGS(self.lbfgs_steps, dtype=self.lbfgs_dtype) if self.lbfgs_steps else None

    def mesh(self):
        """The data mesh over `devices` devices, or None for one."""
        return data_mesh(self.devices) if self.devices > 1 else None


# Keys of earlier flat configs that now have another name; the first candidate the config has is the one named.
_RENAMED = {"adam_steps": ("train.steps",), "lbfgs_precision": ("train.lbfgs_dtype",),
            "schedule": ("curriculum", "train.schedule"), "max_iter": ("train.lbfgs_steps",)}


def _has_key(config_type: type, dotted: str) -> bool:
    head, _, rest = dotted.partition(".")
    fields = {f.name: f for f in dataclasses.fields(config_type)}
    if head not in fields:
        return False
    return not rest or (head in _section_types(config_type) and _has_key(_section_types(config_type)[head], rest))


def _section_types(config_type: type) -> dict[str, type]:
    hints = typing.get_type_hints(config_type)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_type)
            if isinstance(hints[f.name], type) and dataclasses.is_dataclass(hints[f.name])}


def _parse_value(key: str, text: str, annotation, default):
    hint = typing.get_origin(annotation) or annotation
    try:
        if hint is bool or isinstance(default, bool):
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return lowered in ("true", "1", "yes")
        if hint is int or (isinstance(default, int) and not isinstance(default, bool)):
            return int(float(text)) if float(text).is_integer() else int(text)
        if hint is float or isinstance(default, float):
            return float(text)
        if hint in (tuple, list, Sequence) or isinstance(default, (tuple, list)):
            items = [item for item in text.strip("()[] ").split(",") if item.strip()]
            args = typing.get_args(annotation)
            element = args[0] if args and isinstance(args[0], type) else (type(default[0]) if default else float)
            return tuple(element(item.strip()) for item in items)
        if hint in (types.UnionType, typing.Union):
            choices = [a for a in typing.get_args(annotation) if a is not type(None)]
            if text.lower() == "none":
                return None
            return _parse_value(key, text, choices[0], None)
    except ValueError:
        expected = getattr(hint, "__name__", str(hint))
        raise ConfigError(f"--set {key}={text}: expected a value of type {expected}, got {text!r}") from None
    return text


def _unknown_key(config_type: type, key: str, prefix: str) -> ConfigError:
    fields = [f.name for f in dataclasses.fields(config_type)]
    full = f"{prefix}{key}"
    renamed = [new for new in _RENAMED.get(full, ()) if not prefix and _has_key(config_type, new)]
    if renamed:
        return ConfigError(f"config key {full!r} is now {renamed[0]!r}; use --set {renamed[0]}=...")
    for section, section_type in _section_types(config_type).items():
        if key in {f.name for f in dataclasses.fields(section_type)}:
            moved = f"{prefix}{section}.{key}"
            return ConfigError(f"config key {full!r} is now {moved!r}; use --set {moved}=...")
    close = difflib.get_close_matches(key, fields, n=1)
    hint = f" Did you mean {prefix + close[0]!r}?" if close else ""
    return ConfigError(f"unknown config key {full!r} for {config_type.__qualname__}; valid keys: "
                       f"{', '.join(prefix + f for f in fields)}.{hint}")


def _nest(overrides: Mapping[str, typing.Any]) -> dict[str, typing.Any]:
    nested: dict[str, typing.Any] = {}
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})
            if not isinstance(nested[head], dict):
                raise ConfigError(f"config key {head!r} is set both as a value and as a section ({key!r})")
            nested[head][rest] = value
        else:
            nested[key] = value
    return nested


def _build(config_type: type, base, settings: Mapping[str, typing.Any], prefix: str):
    """`base` (an instance or None for the defaults) with `settings` (strings or typed values, nested) applied."""
    fields = {f.name: f for f in dataclasses.fields(config_type)}
    hints = typing.get_type_hints(config_type)
    sections = _section_types(config_type)
    changes = {}
    for key, value in settings.items():
        if key not in fields:
            raise _unknown_key(config_type, key, prefix)
        current = getattr(base, key) if base is not None else (
            fields[key].default if fields[key].default is not dataclasses.MISSING else None)
        if key in sections:
            if dataclasses.is_dataclass(value):
                changes[key] = value
                continue
            if not isinstance(value, Mapping):
                raise ConfigError(f"{prefix}{key} is a section; set its keys, e.g. --set {prefix}{key}.steps=100")
            changes[key] = _build(sections[key], current, _nest(value), f"{prefix}{key}.")
        elif isinstance(value, str) and hints[key] is not str:
            changes[key] = _parse_value(f"{prefix}{key}", value, hints[key], current)
        elif isinstance(value, list):  # a tuple field read back from JSON
            changes[key] = tuple(value)
        else:
            changes[key] = value
    try:
        return dataclasses.replace(base, **changes) if base is not None else config_type(**changes)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid config for {config_type.__qualname__}: {err}") from err


def resolve_config(config_type: type, overrides: Mapping[str, typing.Any] | None = None, **values):
    """Build `config_type` from its defaults, `values` and `overrides` (strings are parsed; dotted keys for sections).

    Unknown keys raise `ConfigError` listing the valid ones and the closest match; keys that moved into a section
    name their new place.
    """
    return _build(config_type, None, _nest({**values, **dict(overrides or {})}), "")


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """Parse `key=value` strings from `--set`."""
    overrides = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}; e.g. --set train.steps=2000")
        key, value = item.split("=", 1)
        overrides[key.strip()] = value.strip()
    return overrides


def jsonable(value):
    """`value` as plain JSON types (dataclasses, mappings, arrays, numpy and jax scalars, paths)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)) or type(value).__module__.startswith("jax"):
        array = np.asarray(value)
        return array.item() if array.ndim == 0 else array.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def config_dict(config) -> dict:
    """A config as the JSON-able nested dict stored in `config.json` and in every checkpoint."""
    return json.loads(json.dumps(jsonable(config), default=str))
