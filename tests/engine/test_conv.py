"""Convolution in the engine: im2col/col2im and pooling against direct loops, the float rule's
gradient against finite differences of an independent loop implementation, the BSL CNN
conventions (algorithms.md 1b), counting invariants and resume on a CNN."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cimest.api import bind_design
from cimest.engine import conv
from cimest.engine.rules import Meter, train_batch
from cimest.engine.rules.common import sigmoid
from cimest.engine.train import init_state, make_setup
from cimest.graph.shapes import map_layer
from cimest.spec import parse_architecture
from cimest.spec.network import ConvEntry, PoolEntry, resolve


def conv_layer(c, h, k, maps, stride=1, padding=0, pool=None):
    entries = [[c, h, h], ConvEntry(conv={"maps": maps, "kernel": k, "stride": stride,
                                          "padding": padding})]  # fmt: skip
    if pool is not None:
        entries.append(PoolEntry(pool=pool))
    entries.append(10)
    shape = resolve(entries)[0]
    return map_layer("L1", 0, shape.n_in, shape.n_out, False, 128, 128, "reference_column",
                     shape=shape)  # fmt: skip


def direct_conv(x, w, k, stride, padding):
    """Cross-correlation by loops: x (C, H, W), w (C*k*k, K) with row c*k*k + r*k + s."""
    c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    p = (h + 2 * padding - k) // stride + 1
    q = (wd + 2 * padding - k) // stride + 1
    out = np.zeros((w.shape[1], p, q))
    for m in range(w.shape[1]):
        for i in range(p):
            for j in range(q):
                total = 0.0
                for ch in range(c):
                    for r in range(k):
                        for s in range(k):
                            v = xp[ch, i * stride + r, j * stride + s]
                            total += v * w[ch * k * k + r * k + s, m]
                out[m, i, j] = total
    return out


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 1), (1, 2)])
def test_patches_times_weights_is_the_direct_cross_correlation(stride, padding):
    lm = conv_layer(2, 7, 3, 4, stride, padding)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2 * 7 * 7))  # flat rows in (C, H, W) order, as datasets give them
    w = rng.normal(size=(lm.n_in, lm.n_out))
    y = conv.patches(lm, x) @ w  # (batch*P*Q, K)
    k, p, q = lm.out_shape
    for b in range(3):
        want = direct_conv(x[b].reshape(2, 7, 7), w, 3, stride, padding)
        got = y.reshape(3, p, q, k)[b].transpose(2, 0, 1)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 1), (3, 2)])
def test_col2im_is_the_adjoint_of_im2col(stride, padding):
    lm = conv_layer(3, 8, 3, 2, stride, padding)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 8, 8, 3))
    r = rng.normal(size=(2 * lm.uses_per_sample, lm.n_in))
    lhs = float(np.sum(conv.patches(lm, x) * r))
    rhs = float(np.sum(x * conv.col2im(lm, r)))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_max_pool_routes_to_the_first_maximum_in_row_major_order():
    lm = conv_layer(1, 5, 2, 1, pool={"kind": "max", "size": 2})  # 4x4 maps -> 2x2
    z = np.zeros((1, 4, 4, 1))
    z[0, 0:2, 0:2, 0] = [[0.3, 0.7], [0.7, 0.1]]  # a tie: (0, 1) comes first in row-major order
    z[0, 2:4, 2:4, 0] = [[0.5, 0.5], [0.5, 0.5]]  # all tied: (0, 0)
    z[0, 0:2, 2:4, 0] = [[0.1, 0.2], [0.9, 0.3]]
    pooled, arg = conv.pool_forward(lm, z.reshape(16, 1))
    assert pooled[0, :, :, 0].tolist() == [[0.7, 0.9], [0.0, 0.5]]
    e = np.array([[[[1], [-1]], [[1], [1]]]], dtype=np.int8)  # (1, 2, 2, 1)
    back = conv.pool_backward(lm, e, arg, binary=True).reshape(4, 4)
    want = np.zeros((4, 4), dtype=np.int8)
    want[0, 1] = 1
    want[1, 2] = -1
    want[2, 2] = 1
    want[2, 0] = 1  # an all-zero window: its first position
    assert back.tolist() == want.tolist()


def test_average_pool_backward_is_its_adjoint_and_binary_keeps_the_sign():
    lm = conv_layer(1, 7, 2, 2, pool={"kind": "average", "size": 3, "stride": 2})  # 6 -> 2
    rng = np.random.default_rng(2)
    z = rng.normal(size=(2 * 36, 2))
    pooled, arg = conv.pool_forward(lm, z)
    assert arg is None
    e = rng.normal(size=pooled.shape)
    assert float(np.sum(pooled * e)) == pytest.approx(
        float(np.sum(z * conv.pool_backward(lm, e, None))), rel=1e-12
    )
    ternary = np.sign(e).astype(np.int8)
    routed = conv.pool_backward(lm, ternary, None, binary=True)
    assert routed.dtype == np.int8  # the sign itself, not sign / 9; overlapping windows add
    scaled = conv.pool_backward(lm, ternary.astype(np.float64), None) * 9
    np.testing.assert_array_equal(routed, np.rint(scaled))
    assert np.abs(routed).max() == 4  # the centre position lies in four windows


# --- training -------------------------------------------------------------------------------

CNN = "[[1, 8, 8], {conv: {maps: 3, kernel: 3}}, {pool: {kind: max, size: 2}}, 10]"
CNN2 = (
    "[[1, 8, 8], {conv: {maps: 2, kernel: 3, padding: 1}}, {pool: {kind: average, size: 2}}, "
    "{conv: {maps: 3, kernel: 3}}, 6, 10]"
)


def design(path, network=CNN, **edits):
    text = path.read_text().replace("[64, 128, 10]", network)
    text = text.replace("epochs: 10", "epochs: 2\n  max_train_samples: 256")
    for old, new in edits.items():
        text = text.replace(old, new)
    return bind_design(parse_architecture(text, str(path)))


def reference_loss(ws, bs, x, y, gain):
    """Mean cross-entropy of a float CNN by loops and explicit shapes, no engine code:
    conv (untied bias) -> sigmoid(gain*y) -> pool -> ... -> flatten (C, H, W) -> dense -> softmax."""
    net = ws["net"]
    total = 0.0
    for n in range(x.shape[0]):
        h = x[n].reshape(net[0])
        for i, layer in enumerate(net[1:]):
            if layer[0] == "conv":
                _, k, stride, padding, pool = layer
                a = direct_conv(h, ws[i], k, stride, padding)
                a = a + bs[i].T.reshape(a.shape)  # untied bias: (P*Q, K) -> (K, P, Q)
                z = 1.0 / (1.0 + np.exp(-gain * a))
                if pool is not None:
                    kind, size, step = pool
                    m = (z.shape[1] - size) // step + 1
                    out = np.zeros((z.shape[0], m, m))
                    for i2 in range(m):
                        for j2 in range(m):
                            win = z[:, i2 * step : i2 * step + size, j2 * step : j2 * step + size]
                            red = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
                            out[:, i2, j2] = red
                    z = out
                h = z
            else:
                a = h.reshape(-1) @ ws[i] + bs[i]
                if i == len(net) - 2:
                    e = np.exp(a - a.max())
                    total -= math.log(e[y[n]] / e.sum())
                else:
                    h = 1.0 / (1.0 + np.exp(-gain * a))
    return total / x.shape[0]


@pytest.mark.parametrize(
    ("network", "net"),
    [
        (CNN, [(1, 8, 8), ("conv", 3, 1, 0, ("max", 2, 2)), ("dense",)]),
        (
            CNN2,
            [
                (1, 8, 8),
                ("conv", 3, 1, 1, ("average", 2, 2)),
                ("conv", 3, 1, 0, None),
                ("dense",),
                ("dense",),
            ],
        ),
    ],
)
def test_software_cnn_step_is_sgd_on_the_finite_difference_gradient(fp_toy, network, net):
    d = design(
        fp_toy,
        network,
        **{"rule: backprop": "rule: software", "weight_update: memristor": "weight_update: float"},
    )
    setup = make_setup(d.graph, d.libraries)
    state = init_state(setup, 0)
    rng = np.random.default_rng(5)
    for ls in state.layers:  # non-zero biases, so that the bias path is exercised too
        ls.b = ls.b + rng.normal(0, 0.1, ls.b.shape)
    x = rng.uniform(size=(4, 64)).astype(np.float32)
    y = np.array([1, 7, 3, 0])
    ws = {i: ls.w.copy() for i, ls in enumerate(state.layers)}
    ws["net"] = net
    bs = {i: ls.b.copy() for i, ls in enumerate(state.layers)}
    loss = train_batch(setup, state, x, y, Meter(d.graph, 4))
    assert loss / 4 == pytest.approx(reference_loss(ws, bs, x, y, setup.gain), rel=1e-10)
    eta = setup.eta
    for i, ls in enumerate(state.layers):
        for which, before, after in (("w", ws[i], ls.w), ("b", bs[i], ls.b)):
            for flat in rng.choice(before.size, size=min(4, before.size), replace=False):
                idx = np.unravel_index(flat, before.shape)
                grads = []
                for sign in (1, -1):
                    pert = {
                        k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in ws.items()
                    }
                    pb = {k: v.copy() for k, v in bs.items()}
                    (pert if which == "w" else pb)[i][idx] += sign * 1e-6
                    grads.append(reference_loss(pert, pb, x, y, setup.gain))
                numeric = (grads[0] - grads[1]) / 2e-6
                step = (before[idx] - after[idx]) / eta
                assert step == pytest.approx(numeric, rel=1e-4, abs=1e-7), (i, which, idx)


def test_bsl_cnn_error_is_the_sign_at_the_pooled_output_routed_to_the_first_arg_max(
    bsl_toy, monkeypatch
):
    """algorithms.md 1b: below the dense layer, sign(delta W^T) at the conv layer's pooled output
    (flattened in (C, H, W) order), routed to the window's first arg-max of the analog sigmoid
    outputs, times the sampled derivative."""
    from cimest.engine.rules import binary_stochastic as bsl

    d = design(bsl_toy, **{"weight_update: memristor": "weight_update: float"})
    setup = make_setup(d.graph, d.libraries)
    state = init_state(setup, 0)
    seen = {}
    forward, update = bsl.forward, bsl.update

    def spy_forward(*args):
        seen["forward"] = out = forward(*args)
        # float weights are updated in place later in the step: keep the ones the pass used
        seen["W"] = [w.copy() for w in out[4]]
        seen["b"] = state.layers[0].b.copy()
        return out

    def spy_update(setup, layer, lm, x, delta, rng, meter):
        seen[lm.name] = delta.copy()
        return update(setup, layer, lm, x, delta, rng, meter)

    monkeypatch.setattr(bsl, "forward", spy_forward)
    monkeypatch.setattr(bsl, "update", spy_update)
    rng = np.random.default_rng(3)
    xb = rng.uniform(size=(8, 64)).astype(np.float32)
    bsl.train_batch(setup, state, xb, np.arange(8) % 10, Meter(d.graph, 8))
    xs, ds, delta, _, _, _ = seen["forward"]
    W = seen["W"]
    k, p, q = d.graph.layers[0].out_shape  # 3 maps of 6x6, pooled to 3x3
    y = (xs[0].astype(np.float64) @ W[0]).reshape(8, p * q, k) + seen["b"]
    # the engine's sigmoid: saturated outputs tie exactly, and ties are what the convention settles
    z = sigmoid(4.0 * y).reshape(8, p, q, k)
    e = np.sign(delta.astype(np.float64) @ W[1].T).reshape(8, k, 3, 3)  # (C, H, W) order
    want = np.zeros((8, p, q, k))
    for n in range(8):
        for m in range(k):
            for i in range(3):
                for j in range(3):
                    win = z[n, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2, m]
                    r, s = divmod(int(np.argmax(win.reshape(-1))), 2)  # first in row-major order
                    want[n, 2 * i + r, 2 * j + s, m] = e[n, m, i, j]
    want = want.reshape(-1, k) * ds[0]
    assert seen["L1"].dtype == np.int8
    np.testing.assert_array_equal(seen["L1"], want)
    assert np.count_nonzero(want) > 0


def test_the_shipped_mnist_cnn_has_the_authors_macs_and_its_conv_layers_in_the_breakdown():
    """Acceptance of issue 16: Li et al.'s MNIST CNN does 346,680 forward MACs per sample
    (conv1 81 x 8 x 400 positions + conv2 200 x 12 x 36 + dense 108 x 10)."""
    import json
    from pathlib import Path

    from cimest.api import estimate_design, load_design
    from cimest.output import to_json

    root = Path(__file__).resolve().parents[2]
    d = load_design(root / "architectures" / "bsl_cnn_mnist.yaml")
    assert [lm.kind for lm in d.graph.layers] == ["conv", "conv", "dense"]
    assert (
        d.graph.macs_per_sample()["forward"] == 81 * 8 * 400 + 200 * 12 * 36 + 108 * 10 == 346_680
    )
    data = json.loads(to_json(estimate_design(d).to_dict()))  # what estimate --json writes
    assert data["macs_per_sample"]["forward"] == 346_680
    layers = {r["layer"] for r in data["breakdown"]}
    assert {"L1", "L2"} <= layers
