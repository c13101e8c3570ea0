"""numpy's own BLAS products, callable from compiled kernels: so that a fused step runs its
matrix products and the kernels between them in one call, with the bits np.matmul gives.

Room: engine (numpy, numba, llvmlite). Why: a fused step staged around np.matmul makes a numpy
call and a kernel call per product, each with its arguments; with the products inside, a batch-64
backprop step became three kernel calls instead of about 25 (with the counting moved into the
kernels too, its time went 165-171 -> 153-155 us; the rest is the products and kernels
themselves), and two once exp and log went inside too (cimest/engine/libm.py). Why numpy's
library and not numba's np.dot: the bits of a product depend on the BLAS and its kernel's order
of summation, and the general rules' products are np.matmul's, so only the same library's same
function gives the same bits.

numpy's wheels bundle scipy-openblas64 (``numpy.libs/libscipy_openblas64_*.so``, 64-bit integers,
``scipy_cblas_sgemm64_``/``scipy_cblas_dgemm64_``), and np.matmul of two C-contiguous or
transposed matrices of two or more rows and columns each calls its cblas ?gemm with alpha 1 and
beta 0 (a single row or column takes gemv or dot instead: not here). :data:`AVAILABLE` says
whether that library was found in this numpy; :func:`matches` checks, per product shape, that the
compiled call gives np.matmul's bits (a BLAS picks its kernels by shape and machine, so the check
runs on the shapes a step will use, on the machine it runs on). Without either, the fused steps
keep their numpy products.

The functions are reached by symbol (llvmlite's add_symbol, as numba reaches its own helpers), so
the kernels that call them can be cached: a cached kernel names the symbol, and each process binds
it to its numpy's library here, before any kernel is loaded.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os

import llvmlite.binding as ll
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_SYMBOLS = {"cimest_sgemm": "scipy_cblas_sgemm64_", "cimest_dgemm": "scipy_cblas_dgemm64_"}


def bundled() -> bool:
    """Whether numpy says it was built with the scipy-openblas64 its PyPI wheels bundle."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # an older numpy without the dict form: its BLAS is unknown here
        return False
    return blas.get("name") == "scipy-openblas" and "USE64BITINT" in str(
        blas.get("openblas configuration", "")
    )


def _bind() -> bool:
    """Bind the cimest_?gemm symbols to numpy's bundled scipy-openblas64; whether it was found."""
    if not bundled():
        return False
    found = sorted(
        glob.glob(
            os.path.join(
                os.path.dirname(np.__file__), os.pardir, "numpy.libs", "libscipy_openblas64_*"
            )
        )
    )
    if len(found) != 1:
        return False
    try:
        lib = ctypes.CDLL(found[0])  # numpy has loaded it: the same handle, the same library
        for ours, theirs in _SYMBOLS.items():
            ll.add_symbol(ours, ctypes.cast(getattr(lib, theirs), ctypes.c_void_p).value)
    except (OSError, AttributeError):
        return False
    return True


AVAILABLE = _bind()

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


_SCALARS = {
    types.float32: ("cimest_sgemm", ir.FloatType()),
    types.float64: ("cimest_dgemm", ir.DoubleType()),
}


@intrinsic
def _gemm(typingctx, a, trans_a, b, trans_b, c):
    """c = op(a) @ op(b) (alpha 1, beta 0) through cimest_sgemm or cimest_dgemm, for C-contiguous
    2-D float32 or float64 arrays of one type; op(x) is x.T where its flag is true. The caller
    checks the shapes."""
    if not all(isinstance(t, types.Array) and t.ndim == 2 and t.layout == "C" for t in (a, b, c)):
        return None
    if a.dtype not in _SCALARS or b.dtype != a.dtype or c.dtype != a.dtype:
        return None
    symbol, scalar = _SCALARS[a.dtype]
    sig = types.void(a, types.boolean, b, types.boolean, c)

    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        ptr = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(
            ir.VoidType(),
            [i32, i32, i32, i64, i64, i64, scalar, ptr, i64, ptr, i64, scalar, ptr, i64],
        )
        fn = builder.module.globals.get(symbol)
        if fn is None:
            fn = ir.Function(builder.module, fnty, name=symbol)
        arr_a, arr_b, arr_c = (
            context.make_array(signature.args[j])(context, builder, args[j]) for j in (0, 2, 4)
        )
        ta, tb = args[1], args[3]
        a_rows, a_cols = (builder.extract_value(arr_a.shape, j) for j in (0, 1))
        b_rows, b_cols = (builder.extract_value(arr_b.shape, j) for j in (0, 1))
        m = builder.select(ta, a_cols, a_rows)
        k = builder.select(ta, a_rows, a_cols)
        n = builder.select(tb, b_rows, b_cols)
        builder.call(
            fn,
            [
                i32(_ROW_MAJOR),
                builder.select(ta, i32(_TRANS), i32(_NO_TRANS)),
                builder.select(tb, i32(_TRANS), i32(_NO_TRANS)),
                m,
                n,
                k,
                scalar(1.0),
                builder.bitcast(arr_a.data, ptr),
                a_cols,
                builder.bitcast(arr_b.data, ptr),
                b_cols,
                scalar(0.0),
                builder.bitcast(arr_c.data, ptr),
                n,
            ],
        )
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True)
def matmul(a, trans_a, b, trans_b, c):
    """c = op(a) @ op(b) (float32 or float64, C-contiguous, op(x) = x.T where its flag is set)
    by numpy's BLAS, as np.matmul(op(a), op(b), out=c) computes it. Only where :data:`AVAILABLE`
    (else the symbol is unbound and loading the kernel fails). Raises on mismatched shapes."""
    m, k = (a.shape[1], a.shape[0]) if trans_a else (a.shape[0], a.shape[1])
    k2, n = (b.shape[1], b.shape[0]) if trans_b else (b.shape[0], b.shape[1])
    if k != k2 or c.shape[0] != m or c.shape[1] != n:
        raise ValueError("blas.matmul: the shapes do not match")
    _gemm(a, trans_a, b, trans_b, c)


@functools.cache  # Why: a product's bits depend on its shape and library alone (a run asks twice)
def matches(
    dtype, m: int, k: int, n: int, trans_a: bool, trans_b: bool, b_float32: bool = False
) -> bool:
    """Whether :func:`matmul` gives np.matmul's bits for this product (an m x k by a k x n, in
    ``dtype``, the operands stored transposed where asked; with ``b_float32`` the second one is
    float32 in np.matmul, which casts it, and its float64 copy in :func:`matmul`), on random
    operands (a BLAS's order of summation depends on the shapes, never on the values). False
    where the library is missing or a dimension is below 2 (numpy takes gemv or dot there)."""
    if not AVAILABLE or min(m, k, n) < 2:
        return False
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(
        np.float32 if b_float32 else dtype
    )
    ours = np.empty((m, n), dtype=dtype)
    matmul(a, trans_a, b.astype(dtype), trans_b, ours)
    theirs = np.matmul(a.T if trans_a else a, b.T if trans_b else b)
    return theirs.dtype == ours.dtype and ours.tobytes() == theirs.tobytes()
