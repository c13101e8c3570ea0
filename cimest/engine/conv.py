"""Convolution on a crossbar: im2col and col2im, pooling forward and backward, and the layouts
a layer's signals take. Room: engine (numpy only; imports nothing from cimest but the LayerMap
type it reads).

Mapping convention (README, "Convolutional networks"): a convolution's kernel is unrolled along
the crossbar's rows, row index ``c*R*S + r*S + s``, its maps along the columns; the array is applied
at each of the P*Q output positions to that position's patch (cross-correlation, zero padding).
Inside the engine an image travels as (batch, height, width, channels) so that a patch is a
contiguous unrolled row and the outputs of one position are one crossbar read-out (K columns);
a dense layer after a convolution receives the pooled maps flattened in (channels, height, width)
order, which is also the order of a DFA feedback array's columns.

Pooling follows the convolution's activation. Max pooling takes a window's largest value and
remembers where it was (the first in row-major order of the window on ties); its backward pass
routes the error to that position. Average pooling takes the mean; its backward pass gives every
position of the window the error divided by the window's size (``binary``: the error itself, so
that a ternary error stays ternary). Windows that overlap add their routed errors.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cimest.graph.shapes import LayerMap


def image(lm: LayerMap, x: np.ndarray) -> np.ndarray:
    """The layer's input as (batch, H, W, C): from flat (C, H, W)-ordered rows, or as given."""
    if x.ndim == 4:
        return x
    c, h, w = lm.in_shape
    return x.reshape(x.shape[0], c, h, w).transpose(0, 2, 3, 1)


def flat(x: np.ndarray) -> np.ndarray:
    """Signals as a dense layer takes them: (batch, C*H*W) in (C, H, W) order for an image."""
    if x.ndim == 2:
        return x
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)).reshape(x.shape[0], -1)


def patches(lm: LayerMap, x: np.ndarray) -> np.ndarray:
    """im2col: every output position's patch as one crossbar input row, (batch*P*Q, C*R*S),
    row-major over (batch, p, q), the patch in (c, r, s) order."""
    x = image(lm, x)
    k, s, pad = lm.kernel, lm.stride, lm.padding
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    _, p, q = lm.out_shape
    win = sliding_window_view(x, (k, k), axis=(1, 2))  # (B, H', W', C, R, S)
    win = win[:, : (p - 1) * s + 1 : s, : (q - 1) * s + 1 : s]
    return np.ascontiguousarray(win).reshape(x.shape[0] * p * q, lm.n_in)


def col2im(lm: LayerMap, rows: np.ndarray) -> np.ndarray:
    """The adjoint of ``patches``: per-position values of the unrolled rows (batch*P*Q, C*R*S)
    summed back onto the input image, (batch, H, W, C); padding dropped."""
    c, h, w = lm.in_shape
    k, s, pad = lm.kernel, lm.stride, lm.padding
    _, p, q = lm.out_shape
    b = rows.shape[0] // (p * q)
    cols = rows.reshape(b, p, q, c, k, k)
    out = np.zeros((b, h + 2 * pad, w + 2 * pad, c), dtype=rows.dtype)
    for r in range(k):
        for t in range(k):
            out[:, r : r + (p - 1) * s + 1 : s, t : t + (q - 1) * s + 1 : s, :] += cols[
                :, :, :, :, r, t
            ]
    return out[:, pad : pad + h, pad : pad + w, :]


def pool_forward(lm: LayerMap, z: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Pool the layer's activations z (batch*P*Q, K) into (batch, P', Q', K); returns the pooled
    maps and, for max pooling, each window's arg-max (index r*size + t in the window)."""
    pool = lm.pool
    k, p, q = lm.out_shape
    zi = z.reshape(-1, p, q, k)
    if pool is None:
        return zi, None
    size, step = pool.size, pool.step
    _, pp, qq = lm.next_shape
    win = sliding_window_view(zi, (size, size), axis=(1, 2))[
        :, : (pp - 1) * step + 1 : step, : (qq - 1) * step + 1 : step
    ]  # (B, P', Q', K, size, size)
    win = win.reshape(*win.shape[:4], size * size)
    if pool.kind == "max":
        arg = np.argmax(win, axis=-1)  # the first maximum in row-major order of the window
        return np.take_along_axis(win, arg[..., None], axis=-1)[..., 0], arg.astype(np.int16)
    return win.mean(axis=-1), None


def pool_backward(
    lm: LayerMap, e: np.ndarray, arg: np.ndarray | None, binary: bool = False
) -> np.ndarray:
    """Route an error at the pooled maps (batch, P', Q', K) back to the layer's output positions,
    (batch*P*Q, K): max pooling to each window's arg-max, average pooling to every position (over
    the window's size unless ``binary``)."""
    pool = lm.pool
    k, p, q = lm.out_shape
    if pool is None:
        return e.reshape(-1, k)
    size, step = pool.size, pool.step
    _, pp, qq = lm.next_shape
    b = e.shape[0]
    out = np.zeros((b, p, q, k), dtype=e.dtype)
    if pool.kind == "average" and not binary:
        e = e / (size * size)
    for r in range(size):
        for t in range(size):
            part = e if arg is None else np.where(arg == r * size + t, e, 0).astype(e.dtype)
            out[:, r : r + (pp - 1) * step + 1 : step, t : t + (qq - 1) * step + 1 : step] += part
    return out.reshape(b * p * q, k)


def pooled(lm: LayerMap, e: np.ndarray) -> np.ndarray:
    """An error arriving at the layer's pooled output, as (batch, P', Q', K): from the next layer's
    col2im image as it is, or from flat (C, H, W)-ordered rows (a dense layer or a DFA array)."""
    if e.ndim == 4:
        return e
    k, pp, qq = lm.next_shape
    return e.reshape(e.shape[0], k, pp, qq).transpose(0, 2, 3, 1)


def batch_of(lm: LayerMap, rows: np.ndarray) -> int:
    """Samples in a batch of the layer's crossbar rows (batch x uses_per_sample rows)."""
    return rows.shape[0] // lm.uses_per_sample


def n_next(lm: LayerMap) -> int:
    """Values the next layer receives per sample."""
    return math.prod(lm.next_shape)
