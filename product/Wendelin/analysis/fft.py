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


def _twiddles(n1: np.ndarray, n2: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Factors of ``exp(-2 pi i n1 k2 / n)`` for k2 = a * B + b: ``(W^(n1 a B), W^(n1 b))``.

    Two small tables whose product gives every twiddle with two roundings only, instead
    of evaluating ``exp`` n1 x n2 times; products are reduced modulo n in integers.
    """
    width = math.isqrt(n2 - 1) + 1 if n2 > 1 else 1
    a = np.arange(-(-n2 // width)) * width
    b = np.arange(width)
    scale = -2j * np.pi / n
    high = np.exp((np.multiply.outer(n1, a) % n) * scale)  # (w, A)
    low = np.exp((np.multiply.outer(n1, b) % n) * scale)  # (w, B)
    return high, low


def _apply_twiddles(block: np.ndarray, n1: np.ndarray, n: int) -> None:
    """``block[i, k2] *= exp(-2 pi i n1[i] k2 / n)`` in place, for a (w, n2) block."""
    rows, n2 = block.shape
    high, low = _twiddles(n1, n2, n)
    width = low.shape[1]
    whole = (n2 // width) * width
    head = block[:, :whole].reshape(rows, -1, width)
    head *= high[:, : head.shape[1], None]
    head *= low[:, None, :]
    if whole < n2:
        block[:, whole:] *= high[:, -1:] * low[:, : n2 - whole]


def _rows_of_columns(matrix: np.ndarray, c0: int, c1: int) -> np.ndarray:
    """Columns ``[c0, c1)`` of a (mapped) matrix as contiguous complex rows (transposed)."""
    return np.array(matrix[:, c0:c1].T, dtype=COMPLEX, order="C")


class _ScratchSpectrum:
    """The complex FFT of a mapped 1-D array, computed into scratch files by passes 1-2.

    ``read(a, b)`` gives bins ``[a, b)`` (pass 3): a strided read of the last scratch
    matrix, whose column k1 holds bins ``[N2 k1, N2 (k1 + 1))``.
    """

    def __init__(self, x: np.ndarray, scratch: str, packed_real: bool = False) -> None:
        """``packed_real``: transform the real ``x`` read as ``x[2m] + i x[2m+1]`` (len/2)."""
        n = self.n = len(x) // 2 if packed_real else len(x)
        n1, n2 = self.n1, self.n2 = factor(n)
        # Input columns are converted to complex one block at a time, whatever x's dtype:
        # x itself stays a (mapped) view, never converted in one piece.
        if packed_real:
            pairs = x.reshape(n2, n1, 2)  # pairs[n2, n1] = (x[2 k], x[2 k + 1]), k = n1 + N1 n2

            def columns(c0: int, c1: int) -> np.ndarray:
                block = np.empty((c1 - c0, n2), COMPLEX)
                block.real = pairs[:, c0:c1, 0].T
                block.imag = pairs[:, c0:c1, 1].T
                return block
        else:
            matrix = x.reshape(n2, n1)  # matrix[n2, n1] = x[n1 + N1 * n2]

            def columns(c0: int, c1: int) -> np.ndarray:
                return _rows_of_columns(matrix, c0, c1)

        # Scratch matrices are written sequentially with write() and read back through
        # read-only maps for the strided reads: no dirty pages of a shared mapping.
        t_path, z_path = os.path.join(scratch, "t"), os.path.join(scratch, "z")
        step = _columns(n1, n2)
        with open(t_path, "wb") as t_file:
            for c0 in range(0, n1, step):  # pass 1: t[n1, k2] = twiddled FFT over n2
                c1 = min(c0 + step, n1)
                block = scipy.fft.fft(columns(c0, c1), axis=1, overwrite_x=True)
                _apply_twiddles(block, np.arange(c0, c1), n)
                t_file.write(memoryview(block))
                del block
        t = np.memmap(t_path, COMPLEX, "r", shape=(n1, n2))
        step = _columns(n2, n1)
        with open(z_path, "wb") as z_file:
            for k0 in range(0, n2, step):  # pass 2: z[k2, k1] = FFT over n1
                k1 = min(k0 + step, n2)
                block = scipy.fft.fft(_rows_of_columns(t, k0, k1), axis=1, overwrite_x=True)
                z_file.write(memoryview(block))
                del block
        del t
        self.z = np.memmap(z_path, COMPLEX, "r", shape=(n2, n1))

    def block_length(self) -> int:
        """Bins per read that keep a block of work within its share of the budget."""
        return max(1, _columns(self.n1, self.n2) // 2) * self.n2

    def read(self, a: int, b: int) -> np.ndarray:
        """Bins ``[a, b)`` in memory."""
        if b <= a:
            return np.zeros(0, COMPLEX)
        r0, r1 = a // self.n2, (b - 1) // self.n2 + 1
        values = _rows_of_columns(self.z, r0, r1).reshape(-1)
        return values[a - r0 * self.n2 : b - r0 * self.n2]


def fft_out_of_core(
    x: np.ndarray,
    write: Callable[[int, np.ndarray], None],
    out_length: int | None = None,
    scratch_dir: str | None = None,
) -> None:
    """Complex FFT of the 1-D (mapped) array ``x``; ``write(start, values)`` the first bins."""
    out_length = len(x) if out_length is None else out_length
    with tempfile.TemporaryDirectory(prefix="wendelin-fft-", dir=scratch_dir) as scratch:
        spectrum = _ScratchSpectrum(x, scratch)
        step = spectrum.block_length()
        for start in range(0, out_length, step):
            write(start, spectrum.read(start, min(start + step, out_length)))
        del spectrum


def rfft_out_of_core(
    x: np.ndarray, write: Callable[[int, np.ndarray], None], scratch_dir: str | None = None
) -> None:
    """Real FFT (``n // 2 + 1`` bins) of a real 1-D (mapped) array of any dtype, out of core.

    For even n the samples are read as n/2 complex numbers ``x[2m] + i x[2m+1]`` (converted
    one block of columns at a time, within the budget), transformed, and each bin k is
    rebuilt from Z[k] and Z[n/2 - k]: half the work and scratch of a complex transform.
    Odd n falls back to the complex transform (converted block by block as well).
    """
    n = len(x)
    if n % 2 or n < 4:
        fft_out_of_core(x, write, n // 2 + 1, scratch_dir)
        return
    m = n // 2
    with tempfile.TemporaryDirectory(prefix="wendelin-rfft-", dir=scratch_dir) as scratch:
        spectrum = _ScratchSpectrum(x, scratch, packed_real=True)
        step = spectrum.block_length()
        # W^k = W^a * W^(k-a): one table for every block, one exp per block.
        steps = np.exp(np.arange(step) * (-2j * np.pi / n))
        for a in range(0, m + 1, step):
            b = min(a + step, m + 1)
            direct = spectrum.read(a, min(b, m))
            if b == m + 1:  # Z[m] is Z[0]
                direct = np.concatenate([direct, spectrum.read(0, 1)])
            if a == 0:  # bin 0 mirrors Z[m] = Z[0]; bins 1.. mirror Z[m-1], Z[m-2]...
                mirror = np.concatenate([spectrum.read(0, 1), spectrum.read(m - b + 1, m)[::-1]])
            else:
                mirror = spectrum.read(m - b + 1, m - a + 1)[::-1]
            np.conjugate(mirror, out=mirror)
            odd = direct - mirror
            odd *= steps[: b - a]
            odd *= np.exp(a * (-2j * np.pi / n)) * -0.5j
            direct += mirror
            direct *= 0.5
            direct += odd
            write(a, direct)
            del direct, mirror, odd
        del spectrum


def check_real_length(n: int) -> None:
    """OutOfCoreError now, before any output exists, if a real FFT of ``n`` cannot run."""
    if n < 1:
        raise ValueError("the signal is empty: nothing to transform")
    if not fits_in_memory(n):
        factor(n if n % 2 or n < 4 else n // 2)


def rfft_into(source: Any, target: Any, force_out_of_core: bool = False) -> str:
    """Real FFT of the 1-D array ``source`` into ``target`` (``len(source)//2 + 1`` bins).

    Returns ``"memory"`` or ``"out-of-core"``: which algorithm ran.
    """
    n = len(source)
    bins = n // 2 + 1
    if len(target) != bins:
        raise ValueError(f"the spectrum of {n} samples has {bins} bins, target has {len(target)}")
    signal = source[:]
    if np.iscomplexobj(signal):
        raise ValueError("rfft_into needs a real signal; use fft_out_of_core for complex ones")
    if not force_out_of_core and fits_in_memory(n):
        target[:] = scipy.fft.rfft(np.asarray(signal, dtype=np.float64))
        return "memory"

    def write(start: int, values: np.ndarray) -> None:
        if len(values):
            target[start : start + len(values)] = values

    rfft_out_of_core(signal, write)
    return "out-of-core"


def frequency_list(signal_length: int, sample_rate: float) -> np.ndarray:
    """Frequencies in Hz of the bins of a real FFT of ``signal_length`` samples."""
    return np.fft.rfftfreq(signal_length, d=1.0 / sample_rate)
