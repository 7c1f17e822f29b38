"""Experiment configs: the one training config (`TrainConfig`), nested sections, typed `--set` overrides, config
files, and what each key means.

An experiment's `Config` is a frozen dataclass whose field `train` is a `TrainConfig` (with that experiment's
defaults); other fields are the problem's and the model's knobs, each with a one-line attribute docstring (the string
below the field) that `describe_config` reads from the sources. Overrides are ``key=value`` strings, with dotted keys
for sections (``train.steps=2000``). A key that moved into a section (``steps``, ``adam_steps``, ``seed``...) gets
an error naming its new place. Config files (`read_config_file`) are TOML or JSON with tables for sections;
`config_toml` writes a complete one. Values that are not strings (from files, JSON or Python) are checked against
the field's type.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import difflib
import functools
import inspect
import json
import numbers
import textwrap
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path

import jax
import numpy as np
import optax

from sciml._errors import ConfigError
from sciml.train import LBFGS, AbstractPrecision, FullPrecision, MixedPrecision, data_mesh

_OPTIMIZERS = ("adam", "adamw")
_SCHEDULES = ("constant", "exponential", "cosine")
_DTYPES = ("float32", "float64")
_PRECISIONS = ("float32", "bfloat16")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How a model is trained: the one set of training knobs every experiment nests as its `train` section.

    Each knob maps to optax and `sciml.train.fit` here (`optimizer_transform`, `lbfgs`, `mesh`) and in
    `sciml.studies.train`.
    """

    seed: int = 0
    """Seed of the run; `key(purpose)` derives the keys of model initialisation (0), training (1) and the rest."""
    steps: int = 1000
    """First-order optimizer steps (micro-batches when `accumulate` > 1)."""
    optimizer: str = "adam"
    """First-order optimizer: "adam", or "adamw" (Adam with decoupled `weight_decay`)."""
    learning_rate: float = 1e-3
    """Learning rate at the first update (the schedule starts from it)."""
    schedule: str = "constant"
    """Learning-rate schedule: "constant", "exponential" (x `decay_rate` every `decay_steps` updates) or "cosine"."""
    decay_steps: int = 1000
    """Updates between two multiplications by `decay_rate` (schedule "exponential" only)."""
    decay_rate: float = 0.9
    """Factor applied to the learning rate every `decay_steps` updates (schedule "exponential" only)."""
    final_fraction: float = 0.0
    """Learning rate at the last update as a fraction of `learning_rate` (schedule "cosine" only)."""
    weight_decay: float = 0.0
    """Decoupled weight decay per update (optimizer "adamw" only; 0: none)."""
    clip_norm: float = 0.0
    """Global gradient norm that gradients are clipped to before the optimizer (0: no clipping)."""
    accumulate: int = 1
    """Steps whose gradients are averaged into one update (optax `MultiSteps`; 1: every step updates)."""
    lbfgs_steps: int = 0
    """L-BFGS iterations after the first-order steps (0: no L-BFGS stage)."""
    lbfgs_dtype: str = "float64"
    """Float width of the L-BFGS stage: "float32" or "float64"."""
    lbfgs_resample_every: int = 0
    """L-BFGS iterations on one batch before a fresh one is drawn and the curvature memory restarts, a multiple of
    `chunk` (0: one batch for the whole stage)."""
    chunk: int = 100
    """Steps fused into one compiled call (`lax.scan`); metrics are logged once per chunk."""
    checkpoint_every: int = 0
    """Steps between checkpoints, a multiple of `chunk` (0: a checkpoint at the end only)."""
    time_budget_s: float = 0.0
    """Wall-clock budget of the first-order stage in seconds; training stops when it is spent (0: none)."""
    devices: int = 1
    """Devices the batch is split over (1: no device mesh); a multi-process run splits it over all its devices."""
    unroll: bool = False
    """Unroll each chunk's loop (no loop left in the compiled chunk): same results, longer compile; rarely faster."""
    precision: str = "float32"
    """Arithmetic of the first-order steps: "float32", or "bfloat16" (bfloat16 compute, float32 master weights)."""

    def __post_init__(self):
        choices_of = {"optimizer": _OPTIMIZERS, "schedule": _SCHEDULES, "lbfgs_dtype": _DTYPES,
                      "precision": _PRECISIONS}
        for name, choices in choices_of.items():
            value = getattr(self, name)
            if value not in choices:
                raise ValueError(f"train.{name} must be one of {choices}, got {value!r}")
        for name in ("steps", "lbfgs_steps", "lbfgs_resample_every", "checkpoint_every", "decay_steps"):
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
        if not self.lbfgs_steps:
            return None
        return LBFGS(self.lbfgs_steps, dtype=self.lbfgs_dtype, resample_every=self.lbfgs_resample_every or None)

    def precision_strategy(self) -> AbstractPrecision:
        """`FullPrecision` for "float32", `MixedPrecision` (bfloat16 compute) for "bfloat16"."""
        return MixedPrecision() if self.precision == "bfloat16" else FullPrecision()

    def mesh(self):
        """The data mesh over `devices` devices, or None for one; over every process's devices in a multi-process run
        (`sciml run --processes N`, or processes that joined one: `sciml.train.join_cluster`)."""
        if jax.process_count() > 1:
            return data_mesh()
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
    if hint in (types.UnionType, typing.Union) and type(None) in typing.get_args(annotation) \
            and text.strip().lower() == "none":
        return None  # before the default's type: `float | None = 0.0` takes "none" too
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
            return _parse_value(key, text, choices[0], None)
    except ValueError:
        expected = getattr(hint, "__name__", str(hint))
        raise ConfigError(f"config key {key!r}: expected a value of type {expected}, got {text!r}") from None
    return text


def _wrong_type(key: str, value, annotation) -> ConfigError:
    expected = getattr(annotation, "__name__", str(annotation).replace("typing.", ""))
    return ConfigError(f"config key {key!r}: expected a value of type {expected}, got {value!r} "
                       f"({type(value).__name__})")


def _checked_value(key: str, value, annotation, default):
    """A typed value (from a config file, JSON or Python) checked against the field's annotation: ints become floats
    for float fields and lists tuples; a value of another type is refused."""
    origin = typing.get_origin(annotation) or annotation
    args = typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        for choice in (a for a in args if a is not type(None)):
            with contextlib.suppress(ConfigError):
                return _checked_value(key, value, choice, None)
        raise _wrong_type(key, value, annotation)
    real = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if annotation is bool and isinstance(value, (bool, np.bool_)):
        return bool(value)
    if annotation is int and real and float(value).is_integer():
        return int(value)
    if annotation is float and real:
        return float(value)
    if annotation is str and isinstance(value, str):
        return value
    if origin in (tuple, list, Sequence) and isinstance(value, (list, tuple)):
        if Ellipsis in args or (not args and default):  # tuple[float, ...], or a bare tuple typed by its default
            element = args[0] if args else type(default[0])
            elements = [element] * len(value)
        else:
            elements = list(args) if len(args) == len(value) else [None] * len(value)
        items = [item if element is None else _checked_value(f"{key}[{i}]", item, element, None)
                 for i, (item, element) in enumerate(zip(value, elements, strict=True))]
        return list(items) if origin is list else tuple(items)
    if annotation in (bool, int, float, str) or origin in (tuple, list, Sequence):
        raise _wrong_type(key, value, annotation)
    return value


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
                keys = ", ".join(f"{prefix}{key}.{f.name}" for f in dataclasses.fields(sections[key]))
                raise ConfigError(f"{prefix}{key} is a section; set its keys ({keys}), e.g. --set "
                                  f"{prefix}{key}.{dataclasses.fields(sections[key])[0].name}=...")
            changes[key] = _build(sections[key], current, _nest(value), f"{prefix}{key}.")
        elif isinstance(value, str) and hints[key] is not str:
            changes[key] = _parse_value(f"{prefix}{key}", value, hints[key], current)
        else:
            changes[key] = _checked_value(f"{prefix}{key}", value, hints[key], current)
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


@functools.cache
def _class_field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings written in `cls`'s own body (a string right below a field), as one line each."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = next((node.body for node in ast.walk(tree) if isinstance(node, ast.ClassDef)), [])
    docs = {}
    for statement, following in zip(body, body[1:], strict=False):
        if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            docs[statement.target.id] = " ".join(following.value.value.split())
    return docs


def field_docs(config_type: type) -> dict[str, str]:
    """Each field's attribute docstring, read from the sources of `config_type` and its parents (a subclass that only
    changes a default keeps its parent's)."""
    docs: dict[str, str] = {}
    for cls in reversed(config_type.__mro__):
        if dataclasses.is_dataclass(cls):
            docs.update(_class_field_docs(cls))
    return docs


class ConfigKey(typing.NamedTuple):
    """One key of a config as `sciml show` lists it."""

    key: str
    """Dotted path (``train.steps`` for a key of the `train` section)."""
    type: str
    """The field's annotation as written."""
    default: typing.Any
    """The value in the config described (its defaults unless a config was given)."""
    meaning: str
    """The field's attribute docstring ("" when it has none)."""


def _field_value(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _type_name(field: dataclasses.Field, hint) -> str:
    if isinstance(field.type, str):
        return field.type
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def describe_config(config_type: type, config=None, prefix: str = "") -> list[ConfigKey]:
    """Every key of `config_type` (sections expanded into dotted keys) with its type, value and meaning.

    Values are `config`'s when given, else the defaults (a section's keys take the default of the section field, so
    an experiment's own training defaults show).
    """
    hints = typing.get_type_hints(config_type)
    docs = field_docs(config_type)
    sections = _section_types(config_type)
    rows = []
    for field in dataclasses.fields(config_type):
        value = getattr(config, field.name) if config is not None else _field_value(field)
        if field.name in sections:
            rows += describe_config(sections[field.name], value, f"{prefix}{field.name}.")
        else:
            rows.append(ConfigKey(prefix + field.name, _type_name(field, hints[field.name]), value,
                                  docs.get(field.name, "")))
    return rows


def flatten_config(config) -> dict[str, typing.Any]:
    """A config instance as ``{dotted key: value}`` (the keys `--set` takes)."""
    return {row.key: row.default for row in describe_config(type(config), config)}


def _flatten_sections(config_type: type, nested: Mapping[str, typing.Any], prefix: str = "") -> dict[str, typing.Any]:
    sections = _section_types(config_type)
    flat = {}
    for key, value in nested.items():
        if key in sections and isinstance(value, Mapping):
            flat.update(_flatten_sections(sections[key], value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def read_config_file(path: str | Path, config_type: type, experiment: str | None = None) -> dict[str, typing.Any]:
    """The settings of a ``.toml`` or ``.json`` config file as dotted keys (tables/objects are the sections).

    A run's own ``config.json`` (``{"experiment": ..., "config": {...}}``) is read as its config. The settings are
    checked against `config_type` (unknown keys, wrong types, bad values): the error names the file and the key.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}; expected a readable .toml or .json "
                          "file (`sciml show NAME --format toml > FILE` writes one)") from None
    try:
        if path.suffix == ".toml":
            nested = tomllib.loads(text)
        elif path.suffix == ".json":
            nested = json.loads(text)
        else:
            raise ConfigError(f"config file {path}: expected a .toml or .json file, got suffix {path.suffix!r}")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"config file {path} is not valid {path.suffix[1:].upper()}: {err}") from None
    if not isinstance(nested, dict):
        raise ConfigError(f"config file {path}: expected a table of settings at the top, got {type(nested).__name__}")
    if set(nested) == {"experiment", "config"}:  # a run's config.json
        if experiment is not None and nested["experiment"] != experiment:
            raise ConfigError(f"config file {path} is a config of experiment {nested['experiment']!r}, not "
                              f"{experiment!r}")
        nested = nested["config"]
    settings = _flatten_sections(config_type, nested)
    try:
        resolve_config(config_type, settings)
    except ConfigError as err:
        raise ConfigError(f"config file {path}: {err}") from None
    return settings


def _toml_value(value) -> str:
    if value is None:
        return '"none"'
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, float, np.number)):
        return repr(jsonable(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def _toml_table(config, header: str | None) -> list[str]:
    docs = field_docs(type(config))
    lines = [f"[{header}]"] if header else []
    for row in describe_config(type(config), config):
        if "." not in row.key:
            lines += [f"# {row.meaning or '(no description)'} ({row.type})", f"{row.key} = {_toml_value(row.default)}"]
    for name, section_type in _section_types(type(config)).items():
        meaning = docs.get(name) or (section_type.__doc__ or "").strip().splitlines()[0]
        lines += ["", f"# {meaning}", *_toml_table(getattr(config, name), f"{header}.{name}" if header else name)]
    return lines


def config_toml(config) -> str:
    """`config` as a TOML file that `read_config_file` reads back to the same config: every key, each with its
    meaning and type as a comment; sections as tables (``[train]``); None written as ``"none"``."""
    return "\n".join(_toml_table(config, None)) + "\n"
