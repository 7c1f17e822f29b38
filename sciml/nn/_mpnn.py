"""Message-passing neural PDE solver (Brandstetter, Worrall and Welling, ICLR 2022) on a periodic 1D grid.

Written here because no maintained JAX library provides it (jraph is archived and has no PDE solver); the graph of
a periodic grid is regular, so messages are rolled copies of the node arrays rather than a gather over an edge list.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from sciml.nn._fno import check_spatial_shape
from sciml.nn._init import build_layer


class _TwoLayer(eqx.Module):
    """``W2 swish(W1 x + b1) + b2`` on one vector."""

    first: eqx.nn.Linear
    second: eqx.nn.Linear

    def __init__(self, in_size: int, hidden: int, out_size: int, *, key: jax.Array):
        k1, k2 = jax.random.split(key)
        self.first = build_layer(eqx.nn.Linear, in_size, hidden, key=k1)
        self.second = build_layer(eqx.nn.Linear, hidden, out_size, key=k2)

    def __call__(self, x):
        return self.second(jax.nn.swish(self.first(x)))


class MPNN(eqx.Module):
    """Message-passing PDE solver on a periodic 1D grid, channel-first, one example per call.

    Every grid point is a node whose input is its `in_channels` values (e.g. the last frames); it is connected to the
    `neighbours` nodes on each side. An encoder maps the node input to `hidden` features; each of `layers` rounds
    sends the message ``phi(h_i, h_j, u_i - u_j, (x_i - x_j) / dx)`` from every neighbour j to node i, averages them
    and updates ``h_i + psi(h_i, mean_j m_ij)``, followed by a normalisation of each feature over the nodes (the
    paper's instance norm); a decoder maps the features to `out_channels`. phi, psi, encoder and decoder are
    two-layer MLPs with swish. The node positions enter only through the differences, so the solver commutes with
    periodic shifts of the grid (the paper also feeds the absolute position and time to the encoder, and bundles
    several future steps into one output; here one step per call, for `rollout`).

    The first layer of phi is linear in the concatenated input, so it is split into a per-node part for h_i, one for
    h_j (computed once per node and rolled), and the edge terms: the per-edge cost is the second layer only.

    Call: ``mpnn(u)`` with u of shape (in_channels, n), n > 2 * neighbours.
    """

    encoder: _TwoLayer
    message_receiver: tuple[eqx.nn.Linear, ...]
    message_sender: tuple[eqx.nn.Linear, ...]
    message_edge: tuple[eqx.nn.Linear, ...]
    message_out: tuple[eqx.nn.Linear, ...]
    updates: tuple[_TwoLayer, ...]
    decoder: _TwoLayer
    in_channels: int = eqx.field(static=True)
    neighbours: int = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, *, hidden: int = 64, layers: int = 6,
                 neighbours: int = 2, key: jax.Array):
        keys = iter(jax.random.split(key, 2 + 5 * layers))
        self.encoder = _TwoLayer(in_channels, hidden, hidden, key=next(keys))
        receiver, sender, edge, out, updates = [], [], [], [], []
        for _ in range(layers):
            receiver.append(build_layer(eqx.nn.Linear, hidden, hidden, key=next(keys)))
            sender.append(build_layer(eqx.nn.Linear, hidden, hidden, use_bias=False, key=next(keys)))
            edge.append(build_layer(eqx.nn.Linear, in_channels + 1, hidden, use_bias=False, key=next(keys)))
            out.append(build_layer(eqx.nn.Linear, hidden, hidden, key=next(keys)))
            updates.append(_TwoLayer(2 * hidden, hidden, hidden, key=next(keys)))
        self.message_receiver, self.message_sender = tuple(receiver), tuple(sender)
        self.message_edge, self.message_out, self.updates = tuple(edge), tuple(out), tuple(updates)
        self.decoder = _TwoLayer(hidden, hidden, out_channels, key=next(keys))
        self.in_channels, self.neighbours = in_channels, neighbours

    def __call__(self, u: Float[Array, " cin n"]) -> Float[Array, " cout n"]:
        check_spatial_shape(u, self.in_channels, 1, minimum=2 * self.neighbours + 1, who="MPNN")
        nodes = u.T  # (n, cin)
        offsets = [o for o in range(-self.neighbours, self.neighbours + 1) if o]
        # the edge inputs (u_i - u_j, (x_i - x_j) / dx) of each offset, node j = i + offset (periodic): the same in
        # every round
        edge_inputs = [jnp.concatenate([nodes - jnp.roll(nodes, -offset, axis=0),
                                        jnp.full((nodes.shape[0], 1), -offset, u.dtype)], axis=1) for offset in offsets]
        h = jax.vmap(self.encoder)(nodes)
        for receiver, sender, edge, out, update in zip(self.message_receiver, self.message_sender,
                                                       self.message_edge, self.message_out, self.updates,
                                                       strict=True):
            to_i, from_j = jax.vmap(receiver)(h), jax.vmap(sender)(h)
            total = jnp.zeros_like(h)
            for offset, features in zip(offsets, edge_inputs, strict=True):
                hidden = jax.nn.swish(to_i + jnp.roll(from_j, -offset, axis=0) + jax.vmap(edge)(features))
                total = total + jax.vmap(out)(hidden)
            h = h + jax.vmap(update)(jnp.concatenate([h, total / len(offsets)], axis=1))
            h = (h - h.mean(axis=0, keepdims=True)) / jnp.sqrt(h.var(axis=0, keepdims=True) + 1e-5)
        return jax.vmap(self.decoder)(h).T
