"""Fourier transforms of 1-D arrays: in memory when they fit the budget, out of core above.

The out-of-core transform is the four-step algorithm: with N = N1 * N2,
``X[N2*k1 + k2] = sum_n1 W_N1^(n1 k1) W_N^(n1 k2) sum_n2 x[n1 + N1 n2] W_N2^(n2 k2)``.
Three passes, each holding one block of columns in memory: (1) length-N2 FFTs of
columns of x seen as an N2 x N1 matrix, times the twiddles, written transposed;
(2) length-N1 FFTs of columns of that, written transposed; (3) a transposition into
the output. Every write is a run of whole rows, every strided access is a read of a
mapped array, and scratch matrices are memory-mapped files, so anonymous memory stays
within the budget whatever N is.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.fft

from ..bigdata.budget import get_memory_budget
from ..bigdata.errors import OutOfCoreError
from .blocks import work_bytes

COMPLEX = np.dtype("complex128")
#: Copies of a block an FFT step holds at once (input, output, twiddles).
BLOCK_COPIES = 4


def fits_in_memory(n: int) -> bool:
    """Whether an in-memory transform of ``n`` samples stays within the budget."""
    return n * COMPLEX.itemsize * 3 <= get_memory_budget()


def _max_columns_length() -> int:
    """Longest column one block of work can hold (one column at a time at least)."""
    return work_bytes(2) // (COMPLEX.itemsize * BLOCK_COPIES)


def factor(n: int) -> tuple[int, int]:
    """``(N1, N2)`` with N1 * N2 = n, both as close to sqrt(n) as divisors allow."""
    limit = _max_columns_length()
    for n1 in range(math.isqrt(n), 0, -1):
        if n % n1 == 0:
            n2 = n // n1
            if max(n1, n2) <= limit:
                return n1, n2
            break
    smooth = scipy.fft.next_fast_len(n)
    raise OutOfCoreError(
        f"an out-of-core FFT of {n} samples needs a length with two factors of at most "
        f"{limit} (memory budget {get_memory_budget()} bytes); {n} has none. Trim or "
        f"zero-pad the signal to a smoother length such as {smooth}, or raise "
        "WENDELIN_MEMORY_BUDGET"
    )


def _columns(total: int, rows: int) -> int:
    """Columns per block for matrices with ``rows`` rows."""
    return max(1, min(total, work_bytes(2) // (rows * COMPLEX.itemsize * BLOCK_COPIES)))


def _twiddles(k2: np.ndarray, n1: np.ndarray, n: int) -> np.ndarray:
    """``exp(-2 pi i k2 n1 / n)`` with the product reduced modulo n (exact in integers)."""
    phase = np.multiply.outer(k2, n1) % n
    return np.exp(phase * (-2j * np.pi / n))


def fft_out_of_core(
    x: np.ndarray,
    write: Callable[[int, np.ndarray], None],
    out_length: int | None = None,
    scratch_dir: str | None = None,
) -> None:
    """Complex FFT of the 1-D (mapped) array ``x``; ``write(start, values)`` the first bins."""
    n = len(x)
    out_length = n if out_length is None else out_length
    n1, n2 = factor(n)
    matrix = x.reshape(n2, n1)  # matrix[n2, n1] = x[n1 + N1 * n2]
    with tempfile.TemporaryDirectory(prefix="wendelin-fft-", dir=scratch_dir) as scratch:
        t = np.memmap(os.path.join(scratch, "t"), COMPLEX, "w+", shape=(n1, n2))
        z = np.memmap(os.path.join(scratch, "z"), COMPLEX, "w+", shape=(n2, n1))
        k2_all = np.arange(n2)
        step = _columns(n1, n2)
        for c0 in range(0, n1, step):  # pass 1: columns n1 in [c0, c1)
            c1 = min(c0 + step, n1)
            block = scipy.fft.fft(np.asarray(matrix[:, c0:c1], dtype=COMPLEX), axis=0)
            block *= _twiddles(k2_all, np.arange(c0, c1), n)
            t[c0:c1] = block.T
            del block
        t.flush()
        step = _columns(n2, n1)
        for k0 in range(0, n2, step):  # pass 2: columns k2 in [k0, k1)
            k1 = min(k0 + step, n2)
            block = scipy.fft.fft(np.asarray(t[:, k0:k1]), axis=0, overwrite_x=True)
            z[k0:k1] = block.T
            del block
        z.flush()
        del t
        rows_needed = min(n1, -(-out_length // n2))
        step = _columns(rows_needed, n2)
        for r0 in range(0, rows_needed, step):  # pass 3: X[N2 r : N2 (r+1)] = z[:, r]
            r1 = min(r0 + step, rows_needed)
            values = np.ascontiguousarray(z[:, r0:r1].T).reshape(-1)
            start = r0 * n2
            write(start, values[: max(0, min(len(values), out_length - start))])
        del z


def rfft_into(source: Any, target: Any, force_out_of_core: bool = False) -> str:
    """Real FFT of the 1-D array ``source`` into ``target`` (``len(source)//2 + 1`` bins).

    Returns ``"memory"`` or ``"out-of-core"``: which algorithm ran.
    """
    n = len(source)
    bins = n // 2 + 1
    if len(target) != bins:
        raise ValueError(f"the spectrum of {n} samples has {bins} bins, target has {len(target)}")
    if not force_out_of_core and fits_in_memory(n):
        target[:] = scipy.fft.rfft(np.asarray(source[:], dtype=np.float64))
        return "memory"

    def write(start: int, values: np.ndarray) -> None:
        if len(values):
            target[start : start + len(values)] = values

    fft_out_of_core(source[:], write, out_length=bins)
    return "out-of-core"


def frequency_list(signal_length: int, sample_rate: float) -> np.ndarray:
    """Frequencies in Hz of the bins of a real FFT of ``signal_length`` samples."""
    return np.fft.rfftfreq(signal_length, d=1.0 / sample_rate)
