"""A model's derivatives at all collocation points in one batched pass: second-order forward mode on its program.

The model is traced once at a single point (a jaxpr) and that program is run on *jets*: every intermediate carries
its value at the n points and the derivative streams a residual asks for (first order along the coordinates it
uses, the requested second-order pairs), each an array over the points, one array shared by all points where it
does not depend on the point (the tangent of a first layer is a column of its weight), or absent where it is zero.
Linear operations act on each stream; a matrix product with a weight acts on all per-point streams stacked into one
matrix product; an elementwise function follows the chain rule with its first and second derivatives
(``a_i = f'(z) z_i``, ``a_ij = f'(z) z_ij + f''(z) z_i z_j``); a product of two point-dependent factors (a hard
constraint's ``d(x) N(x)``, ``u * u``) follows the product rule. An MLP with an input scaling and an output
transform (a PINN) is such a program, so XLA sees a few large matrix products instead of per-point nested jvps and
a reverse pass. Inside `reverse_mode_only` (the blocked loss of `sciml.pde._blocked` traces its blocks there), a
dense layer's product carries a custom VJP whose weight gradient XLA's CPU backend runs in its fast matrix kernels,
and an activation on per-point streams one that keeps its inputs only and recomputes its derivatives backwards.
A program with an operation outside these rules (or an order above two) makes
`taylor_derivatives` return None, and the caller takes nested forward mode at each point instead.

Hand-written, not `jax.experimental.jet`: jet carries one Taylor series along one direction, so a residual's
mixed and several pure second derivatives would need one jet per direction (and polarisation for ``u_tx``), with
the per-direction matrix products left separate; here every stream shares one stacked product per layer.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterable, Iterator

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.extend import core as jcore
from jaxtyping import Array, Float

Key = tuple[int, ...]

# Primitives that act linearly on their floating-point operands (integer/boolean operands, e.g. indices and
# predicates, are kept as they are).
_LINEAR = frozenset({
    "add", "add_any", "sub", "neg", "broadcast_in_dim", "reshape", "squeeze", "expand_dims", "slice",
    "dynamic_slice", "dynamic_update_slice", "gather", "concatenate", "transpose", "reduce_sum", "copy", "copy_p",
    "rev", "pad", "select_n", "cumsum", "convert_element_type", "stack", "split",
})
# Elementwise functions of one point-dependent operand (others constant): the chain rule with f' and f''.
_ELEMENTWISE = frozenset({
    "tanh", "sin", "cos", "tan", "exp", "exp2", "log", "log1p", "expm1", "logistic", "integer_pow", "pow", "sqrt",
    "rsqrt", "cbrt", "erf", "erfc", "erf_inv", "atan", "asin", "acos", "sinh", "cosh", "asinh", "acosh", "atanh",
    "abs", "max", "min", "atan2", "square", "div",
})
# Piecewise-constant functions: derivative zero wherever it exists.
_PIECEWISE_CONSTANT = frozenset({"floor", "ceil", "round", "sign", "stop_gradient"})
# Products: bilinear in their two operands.
_BILINEAR = frozenset({"mul", "dot_general"})
# Calls of an inner program, run on the jets as they come: primitive name -> parameter holding the program.
_CALLS = {"jit": "jaxpr", "pjit": "jaxpr", "closed_call": "call_jaxpr", "core_call": "call_jaxpr",
          "custom_jvp_call": "call_jaxpr", "custom_vjp_call": "call_jaxpr", "remat2": "jaxpr", "checkpoint": "jaxpr"}


class Unsupported(Exception):
    """The traced program has an operation outside the jet rules; the caller falls back to nested forward mode."""


class _Jet:
    """A point-dependent intermediate: `value` ``(n, *shape)`` and derivative `streams` ``{key: (n, *shape) or
    shape}`` (a stream without the leading n is shared by all points; a missing key is zero)."""

    __slots__ = ("value", "streams", "shape", "dtype")

    def __init__(self, value, streams: dict, aval):
        self.value, self.streams, self.shape, self.dtype = value, streams, tuple(aval.shape), aval.dtype


def _inexact(dtype) -> bool:
    return jnp.issubdtype(dtype, jnp.inexact)


def _apply(fn: Callable, args: list, shapes: list[tuple[int, ...]]):
    """``fn`` of per-point arguments, on arguments that either carry a leading axis of points or are shared."""
    batched = [jnp.ndim(a) > len(s) for a, s in zip(args, shapes, strict=True)]
    if not any(batched):
        return fn(*args)
    return jax.vmap(fn, in_axes=tuple(0 if b else None for b in batched))(*args)


def _aligned(*arrays):
    """The arrays with a leading axis of length one on those shared by all points (no implicit rank promotion)."""
    ndim = max(jnp.ndim(a) for a in arrays)
    return [a if jnp.ndim(a) == ndim else jnp.expand_dims(a, 0) for a in arrays]


def _add(a, b):
    if a is None or b is None:
        return b if a is None else a
    a, b = _aligned(a, b)
    return a + b


def _times(*arrays):
    out, *rest = _aligned(*arrays)
    for a in rest:
        out = out * a
    return out


class _Interpreter:
    """Runs a jaxpr on jets; `pairs` are the second-order keys to carry (first-order ones come with the input)."""

    def __init__(self, pairs: Iterable[Key]):
        self.pairs = tuple(pairs)

    def run(self, jaxpr: jcore.Jaxpr, consts: list, args: list) -> list:
        env = {}

        def read(var):
            return var.val if isinstance(var, jcore.Literal) else env[var]

        env.update(zip(jaxpr.constvars, consts, strict=True))
        env.update(zip(jaxpr.invars, args, strict=True))
        for eqn in jaxpr.eqns:
            ins = [read(v) for v in eqn.invars]
            if any(isinstance(x, _Jet) for x in ins):
                outs = self.rule(eqn, ins)
            else:
                outs = eqn.primitive.bind(*ins, **eqn.primitive.get_bind_params(eqn.params))
                outs = outs if eqn.primitive.multiple_results else [outs]
            env.update(zip(eqn.outvars, outs, strict=True))
        return [read(v) for v in jaxpr.outvars]

    def rule(self, eqn, ins: list) -> list:
        name = eqn.primitive.name
        if name in _CALLS:
            inner = eqn.params[_CALLS[name]]
            if isinstance(inner, jcore.ClosedJaxpr):
                return self.run(inner.jaxpr, inner.consts, ins)
            return self.run(inner, [], ins)
        if name in _LINEAR:
            return self.linear(eqn, ins)
        if eqn.primitive.multiple_results:
            raise Unsupported(name)
        out_aval = eqn.outvars[0].aval
        if not _inexact(out_aval.dtype) or name in _PIECEWISE_CONSTANT:
            return [_Jet(self.bind(eqn, [_value(x) for x in ins]), {}, out_aval)]
        if name in _BILINEAR or (name == "div" and not isinstance(ins[1], _Jet)):
            return [self.bilinear(eqn, ins, out_aval)]
        if name == "div" and isinstance(ins[0], _Jet):
            reciprocal = self.elementwise(lambda y: 1 / y, ins[1], out_aval)
            return [self.product(jax.lax.mul, ins[0], reciprocal, out_aval)]
        if name in _ELEMENTWISE:
            jets = [k for k, x in enumerate(ins) if isinstance(x, _Jet)]
            if len(jets) != 1 or ins[jets[0]].shape != tuple(out_aval.shape):
                raise Unsupported(name)
            k = jets[0]

            def f(x, k=k):
                return eqn.primitive.bind(*ins[:k], x, *ins[k + 1:], **eqn.params)

            traced = any(isinstance(x, jax.core.Tracer) for x in ins[:k] + ins[k + 1:])
            return [self.elementwise(f, ins[k], out_aval, closed=not traced)]
        raise Unsupported(name)

    def bind(self, eqn, args: list):
        """The equation's primitive on per-point-or-shared arguments."""
        shapes = [tuple(v.aval.shape) for v in eqn.invars]
        return _apply(lambda *a: eqn.primitive.bind(*a, **eqn.params), args, shapes)

    def linear(self, eqn, ins: list) -> list[_Jet]:
        """Each stream through the operation, constant floating operands replaced by zero (they have no derivative)."""
        keys = {key for x in ins if isinstance(x, _Jet) and _inexact(x.dtype) for key in x.streams}
        single = not eqn.primitive.multiple_results
        streams = {}
        for key in sorted(keys, key=len):
            args = []
            for x, var in zip(ins, eqn.invars, strict=True):
                dtype = var.aval.dtype
                if not _inexact(dtype):
                    args.append(_value(x))
                elif isinstance(x, _Jet) and key in x.streams:
                    args.append(x.streams[key])
                else:
                    args.append(jnp.zeros(var.aval.shape, dtype))
            streams[key] = [self.bind(eqn, args)] if single else self.bind(eqn, args)
        values = [self.bind(eqn, [_value(x) for x in ins])] if single else self.bind(eqn, [_value(x) for x in ins])
        return [_Jet(value, {key: s[k] for key, s in streams.items()} if _inexact(var.aval.dtype) else {}, var.aval)
                for k, (value, var) in enumerate(zip(values, eqn.outvars, strict=True))]

    def bilinear(self, eqn, ins: list, out_aval) -> _Jet:
        """A product with one constant factor acts on every stream (a matrix product on all stacked); two
        point-dependent factors follow the product rule."""
        jets = [k for k, x in enumerate(ins) if isinstance(x, _Jet)]
        if len(jets) == 2:
            return self.product(lambda a, b: eqn.primitive.bind(a, b, **eqn.params), ins[0], ins[1], out_aval)
        k = jets[0]
        jet = ins[k]

        def apply(x):
            return _apply(lambda y: eqn.primitive.bind(*ins[:k], y, *ins[k + 1:], **eqn.params), [x], [jet.shape])

        streams = dict(jet.streams)
        per_point = [key for key, s in streams.items() if jnp.ndim(s) > len(jet.shape)]
        if eqn.primitive.name == "dot_general" and per_point:
            rows = jnp.concatenate([jet.value, *(streams[key] for key in per_point)])
            if _REVERSE_ONLY.get() and _is_weight_product(eqn, ins, k):
                stacked = _weight_product(ins[0], rows, eqn.params["precision"], eqn.params["preferred_element_type"])
            else:
                stacked = apply(rows)
            pieces = jnp.split(stacked, len(per_point) + 1)
            value = pieces[0]
            streams.update(zip(per_point, pieces[1:], strict=True))
            streams.update({key: apply(s) for key, s in streams.items() if key not in per_point})
        else:
            value = apply(jet.value)
            streams = {key: apply(s) for key, s in streams.items()}
        return _Jet(value, streams, out_aval)

    def product(self, op: Callable, a: _Jet, b: _Jet, out_aval) -> _Jet:
        """``op(a, b)`` of a bilinear `op`: ``(ab)_i = a_i b + a b_i``, ``(ab)_ij = a_ij b + a_i b_j + a_j b_i +
        a b_ij``."""
        shapes = [a.shape, b.shape]

        def term(x, y):
            return None if x is None or y is None else _apply(op, [x, y], shapes)

        streams = {}
        for key in {*a.streams, *b.streams}:
            if len(key) == 1:
                streams[key] = _add(term(a.streams.get(key), b.value), term(a.value, b.streams.get(key)))
        for i, j in self.pairs:
            ai, aj, bi, bj = (s.streams.get((c,)) for s in (a, b) for c in (i, j))
            total = _add(term(a.streams.get((i, j)), b.value), term(a.value, b.streams.get((i, j))))
            total = _add(total, _add(term(ai, bj), term(aj, bi)))
            if total is not None:
                streams[(i, j)] = total
        return _Jet(term(a.value, b.value), streams, out_aval)

    def elementwise(self, f: Callable, z: _Jet, out_aval, closed: bool = True) -> _Jet:
        """``f(z)`` of an elementwise `f` of one point: ``a_i = f'(z) z_i``, ``a_ij = f'(z) z_ij + f''(z) z_i z_j``.
        `closed`: f closes over no traced value, so its derivatives may be recomputed in a custom VJP."""
        pairs = tuple((i, j) for i, j in self.pairs
                      if (i, j) in z.streams or ((i,) in z.streams and (j,) in z.streams))
        if closed and _REVERSE_ONLY.get() and all(jnp.ndim(s) == jnp.ndim(z.value) for s in z.streams.values()):
            fx, streams = _elementwise_jet(functools.partial(_apply_pointwise, f, z.shape), pairs, z.value,
                                           dict(z.streams))
            return _Jet(fx, streams, out_aval)

        fx, d1, *d2 = _apply(lambda x: tuple(_slopes(f, x, 2 if pairs else 1)), [z.value], [z.shape])
        return _Jet(fx, _chain_rule(d1, d2[0] if d2 else None, z.streams, pairs), out_aval)


def _apply_pointwise(f: Callable, shape: tuple[int, ...], x):
    """`f` of one point (its other operands per point) at every point of x ``(n, *shape)``."""
    return _apply(f, [x], [shape])


def _chain_rule(d1, d2, streams: dict, pairs: tuple[Key, ...]) -> dict:
    """The streams of ``f(z)`` from f' and f'' at z and z's streams (per point or shared)."""
    out = {key: _times(d1, s) for key, s in streams.items() if len(key) == 1}
    for i, j in pairs:
        curvature = None
        if (i,) in streams and (j,) in streams:
            curvature = _times(d2, streams[(i,)], streams[(j,)])
        slope = streams.get((i, j))
        out[(i, j)] = _add(None if slope is None else _times(d1, slope), curvature)
    return out


_REVERSE_ONLY = contextvars.ContextVar("sciml_taylor_reverse_only", default=False)


@contextlib.contextmanager
def reverse_mode_only() -> Iterator[None]:
    """Derivative passes traced inside are differentiated in reverse mode only: their dense layers take
    `_weight_product`, whose custom VJP gives a faster weight gradient on a CPU but admits no forward mode
    (`jax.jvp`, `jax.hessian`). The blocked residual loss (`sciml.pde._blocked`, reverse-only already) traces its
    blocks inside."""
    token = _REVERSE_ONLY.set(True)
    try:
        yield
    finally:
        _REVERSE_ONLY.reset(token)


def _is_weight_product(eqn, ins: list, k: int) -> bool:
    """Whether the product is a dense layer's ``W @ x``: a shared matrix W (out, in) times the point's vector."""
    weight = ins[0]
    return (k == 1 and not isinstance(weight, _Jet) and jnp.ndim(weight) == 2 and len(ins[1].shape) == 1
            and eqn.params["dimension_numbers"] == (((1,), (0,)), ((), ())))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _weight_product(weight: Float[Array, "out in"], rows: Float[Array, "m in"], precision, preferred_element_type
                    ) -> Float[Array, "m out"]:
    """``rows @ weight.T``, the stacked streams through a dense layer, with a weight gradient XLA's CPU backend
    runs as a packed matrix product (see `_weight_product_bwd`)."""
    return jax.lax.dot_general(rows, weight, (((1,), (1,)), ((), ())), precision=precision,
                               preferred_element_type=preferred_element_type)


def _weight_product_fwd(weight, rows, precision, preferred_element_type):
    return _weight_product(weight, rows, precision, preferred_element_type), (weight, rows)


def _weight_product_bwd(precision, preferred_element_type, residuals, cotangent):
    """``d rows = cotangent @ W`` and ``d W = cotangent.T @ rows``. The latter contracts the long axis of rows
    (thousands of stacked points) with both operands in row-major (m, .) layout; XLA's CPU backend sends that dot
    to a generic kernel well below the rate of the forward product. Transposing the cotangent into an explicit
    (out, m) array first (the barrier keeps XLA from folding the transpose back into the dot) makes it a plain
    (out, m) x (m, in) product, which its fast matrix kernels take. Other backends take the transposed operand as
    it is."""
    weight, rows = residuals
    d_rows = jax.lax.dot_general(cotangent, weight, (((1,), (0,)), ((), ())), precision=precision,
                                 preferred_element_type=rows.dtype)
    transposed = cotangent.T
    if jax.default_backend() == "cpu":
        transposed = jax.lax.optimization_barrier(transposed)
    d_weight = jax.lax.dot_general(transposed, rows, (((1,), (0,)), ((), ())), precision=precision,
                                   preferred_element_type=weight.dtype)
    return d_weight, d_rows


_weight_product.defvjp(_weight_product_fwd, _weight_product_bwd)


def _slopes(f: Callable, x, order: int) -> list:
    """``[f(x), f'(x), ..., f^(order)(x)]`` of an elementwise `f`, by nested forward mode: each level's jvp carries
    the lower derivatives as its primal, so f and its derivatives share one program (no separate f(x) per level)."""

    def derivatives(k: int) -> Callable:
        if k == 0:
            return lambda y: (f(y),)

        def up_to_k(y):
            lower, slopes = jax.jvp(derivatives(k - 1), (y,), (jnp.ones_like(y),))
            return (*lower, slopes[-1])

        return up_to_k

    return list(derivatives(order)(x))


def _jet_forward(f: Callable, pairs: tuple[Key, ...], z, streams: dict) -> tuple:
    fx, d1, *d2 = _slopes(f, z, 2 if pairs else 1)
    return fx, _chain_rule(d1, d2[0] if d2 else None, streams, pairs)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _elementwise_jet(f: Callable, pairs: tuple[Key, ...], z, streams: dict) -> tuple:
    """An elementwise `f` (of all points, closing over no traced value) on a jet whose streams are all per point
    (`_Interpreter.elementwise`'s rule), with a hand-written VJP: it keeps z and the streams and recomputes f's
    derivatives (to third order) in the reverse pass, one closed-form expression per stream in place of autodiff's
    transpose of the nested jvps, which keeps every intermediate product. Reverse mode only, as the dense layers'
    `_weight_product`."""
    return _jet_forward(f, pairs, z, streams)


def _elementwise_jet_fwd(f, pairs, z, streams):
    return _jet_forward(f, pairs, z, streams), (z, streams)


def _elementwise_jet_bwd(f, pairs, residuals, cotangents):
    """With ``d_k = f^(k)(z)``: ``dz = d1 g + sum_i d2 z_i g_i + sum_ij g_ij (d2 z_ij + d3 z_i z_j)``,
    ``dz_i = d1 g_i + d2 sum_j g_ij z_j`` (both orders of a mixed pair, twice a pure one), ``dz_ij = d1 g_ij``."""
    z, streams = residuals
    g, g_streams = cotangents
    curved = [(i, j) for i, j in pairs if (i,) in streams and (j,) in streams]
    _, d1, *higher = _slopes(f, z, 3 if curved else (2 if streams else 1))
    dz = d1 * g
    d_streams = {key: d1 * g_streams[key] for key in streams}
    for key, s in streams.items():
        if len(key) == 1:
            dz = dz + higher[0] * s * g_streams[key]
    for i, j in pairs:
        g_ij = g_streams[(i, j)]
        if (i, j) in streams:
            dz = dz + higher[0] * streams[(i, j)] * g_ij
        if (i, j) in curved:
            dz = dz + higher[1] * streams[(i,)] * streams[(j,)] * g_ij
            d_streams[(i,)] = d_streams[(i,)] + higher[0] * g_ij * streams[(j,)]
            d_streams[(j,)] = d_streams[(j,)] + higher[0] * g_ij * streams[(i,)]
    return dz, d_streams


_elementwise_jet.defvjp(_elementwise_jet_fwd, _elementwise_jet_bwd)


def _value(x):
    return x.value if isinstance(x, _Jet) else x


def taylor_derivatives(fn: Callable, points: jax.Array, keys: Iterable[Key]) -> dict[Key, jax.Array] | None:
    """The derivatives ``{key: (n, *out)}`` of a pointwise `fn` ``(d,) -> out`` at all `points` ``(n, d)``.

    Args:
        fn: the model of one point (an equinox module or any function; its arrays may be traced parameters).
        points: the n points.
        keys: sorted coordinate-index tuples of order 0 to 2 (``()`` the value, ``(1,)`` d/dx_1, ``(0, 1)``
            d2/dx_0 dx_1).

    Returns None (nothing computed) where `fn` is outside the rules (see the module docstring) or an order exceeds 2.
    """
    keys = {(), *keys}
    if any(len(key) > 2 for key in keys) or points.ndim != 2:
        return None
    axes = sorted({a for key in keys for a in key})
    pairs = sorted(key for key in keys if len(key) == 2)
    params, static = eqx.partition(fn, eqx.is_array)
    leaves, treedef = jax.tree.flatten(params)

    def at_point(leaves, point):
        return eqx.combine(jax.tree.unflatten(treedef, leaves), static)(point)

    closed = jax.make_jaxpr(at_point)([jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)) for x in leaves],
                                      jax.ShapeDtypeStruct(points.shape[1:], points.dtype))
    if len(closed.jaxpr.outvars) != 1 or not _inexact(closed.out_avals[0].dtype):
        return None
    point_var = closed.jaxpr.invars[-1]
    unit = jnp.eye(points.shape[1], dtype=points.dtype)
    point = _Jet(points, {(a,): unit[a] for a in axes}, point_var.aval)
    try:
        (out,) = _Interpreter(pairs).run(closed.jaxpr, closed.consts, [*leaves, point])
    except Unsupported:
        return None
    out_aval = closed.out_avals[0]
    full = (points.shape[0], *out_aval.shape)
    if not isinstance(out, _Jet):
        out = _Jet(out, {}, out_aval)
    found = {(): out.value, **out.streams}
    return {key: jnp.broadcast_to(found[key], full) if key in found else jnp.zeros(full, out_aval.dtype)
            for key in keys}
