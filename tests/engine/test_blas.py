"""numpy's BLAS called from compiled kernels (cimest/engine/blas.py): the same bits as np.matmul
for the products the fused steps take, and the guards around it."""

from __future__ import annotations

import numpy as np
import pytest

from cimest.engine import blas

# Why a skip: numpy built against another BLAS (a distribution's or conda's package) has no
# library for blas.py to call, and the fused steps keep np.matmul there (their tests cover both);
# CI installs numpy's PyPI wheel, where every test here runs
bundled = pytest.mark.skipif(
    not blas.bundled(), reason="numpy is not a PyPI wheel with its bundled scipy-openblas"
)


@bundled
def test_the_library_numpy_bundles_is_bound():
    assert blas.AVAILABLE


@bundled
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("m", "k", "n"), [(64, 64, 128), (64, 128, 10), (13, 10, 128), (2, 3, 2)])
@pytest.mark.parametrize(("trans_a", "trans_b"), [(False, False), (True, False), (False, True)])
def test_products_equal_numpys_matmul(dtype, m, k, n, trans_a, trans_b):
    rng = np.random.default_rng(m * k + n)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    got = np.empty((m, n), dtype=dtype)
    blas.matmul(a, trans_a, b, trans_b, got)
    want = np.matmul(a.T if trans_a else a, b.T if trans_b else b)
    assert got.tobytes() == want.tobytes()
    assert blas.matches(dtype, m, k, n, trans_a, trans_b)


@bundled
def test_a_float32_operand_cast_as_numpy_casts_it():
    assert blas.matches(np.float64, 64, 10, 128, False, True, b_float32=True)


def test_a_single_row_or_column_is_not_claimed():
    """numpy takes gemv or dot there, whose sums may run in another order than gemm's."""
    assert not blas.matches(np.float64, 1, 64, 128, False, False)
    assert not blas.matches(np.float32, 64, 64, 1, False, False)


@bundled
def test_mismatched_shapes_raise():
    a, b, c = np.ones((3, 4)), np.ones((5, 2)), np.empty((3, 2))
    with pytest.raises(ValueError, match="shapes"):
        blas.matmul(a, False, b, False, c)


@bundled
def test_the_check_fails_where_the_bits_differ(monkeypatch):
    """matches compares bits: a product off by one ulp is refused."""
    real = blas.matmul
    assert blas.matches(np.float64, 8, 8, 8, False, False)

    def off(a, ta, b, tb, c):
        real(a, ta, b, tb, c)
        c[0, 0] = np.nextafter(c[0, 0], np.inf)

    monkeypatch.setattr(blas, "matmul", off)
    assert blas.matches(np.float64, 8, 8, 8, False, False)  # the answer kept from before
    assert not blas.matches.__wrapped__(np.float64, 8, 8, 8, False, False)  # checked again
