"""FFT, spectrogram, plots and incremental learning against numpy/scipy references."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
from Products.Wendelin.analysis.fft import factor, fft_out_of_core, rfft_into
from Products.Wendelin.analysis.learn import cluster_rows, fit_incremental, iterate_batches
from Products.Wendelin.analysis.plot import minmax_decimate, plot_array
from Products.Wendelin.analysis.spectrogram import frame_count, spectrogram_into
from Products.Wendelin.bigdata.budget import memory_budget
from Products.Wendelin.bigdata.errors import OutOfCoreError
from Products.Wendelin.errors import InvalidInputError

SMALL_BUDGET = 2 * 1024**2


@pytest.mark.parametrize("n", [2, 12, 1000, 4096, 60060, 2**17 + 2**5])
def test_out_of_core_rfft_matches_numpy(n):
    x = np.random.default_rng(n).standard_normal(n)
    out = np.zeros(n // 2 + 1, np.complex128)
    with memory_budget(SMALL_BUDGET):
        assert rfft_into(x, out, force_out_of_core=True) == "out-of-core"
    reference = np.fft.rfft(x)
    assert np.max(np.abs(out - reference)) <= 1e-9 * np.max(np.abs(reference))


def test_out_of_core_complex_fft_matches_numpy():
    y = np.random.default_rng(7).standard_normal((3 * 1024, 2)) @ np.array([1, 1j])
    full = np.zeros(len(y), np.complex128)

    def write(start, values):
        full[start : start + len(values)] = values

    with memory_budget(SMALL_BUDGET):
        fft_out_of_core(y, write)
    reference = np.fft.fft(y)
    assert np.max(np.abs(full - reference)) <= 1e-9 * np.max(np.abs(reference))


def test_in_memory_path_when_it_fits():
    x = np.random.default_rng(1).standard_normal(1000)
    out = np.zeros(501, np.complex128)
    assert rfft_into(x, out) == "memory"
    np.testing.assert_allclose(out, np.fft.rfft(x))


def test_lengths_without_usable_factors_give_a_clear_error():
    prime = 1_000_003
    with memory_budget(SMALL_BUDGET), pytest.raises(OutOfCoreError, match="1000003"):
        factor(prime)


def test_out_of_core_fft_of_four_times_the_budget_stays_under_it(tmp_path):
    probe = Path(__file__).with_name("fft_memory_probe.py")
    output = subprocess.run(
        [sys.executable, str(probe), str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    assert result["how"] == "out-of-core"
    assert result["nbytes"] == 4 * result["budget"]
    assert result["peak_over_baseline"] < result["budget"], result
    assert abs(result["peak_hz"] - 1000.0) < 0.01
    assert result["peak_value"] == pytest.approx(result["n"] / 2, rel=1e-6)


@pytest.mark.parametrize("dtype", ["int16", "float32", "complex64", "complex128"])
def test_out_of_core_fft_of_other_dtypes_converts_block_by_block(tmp_path, dtype):
    """A 16 MiB signal under a 16 MiB budget: never converted to complex/float64 in one piece."""
    probe = Path(__file__).with_name("fft_memory_probe.py")
    output = subprocess.run(
        [sys.executable, str(probe), str(tmp_path), dtype, str(16 * 1024**2)],
        capture_output=True, text=True, check=True,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    assert result["how"] == "out-of-core" and result["dtype"] == dtype
    assert result["nbytes"] == result["budget"]
    assert result["peak_over_baseline"] < result["budget"] // 2, result
    assert abs(result["peak_hz"] - 1000.0) < 0.01
    assert result["peak_value"] == pytest.approx(result["expected_value"], rel=1e-4)


@pytest.mark.parametrize("dtype", ["int16", "float32", "uint8"])
@pytest.mark.parametrize("n", [4096, 60060, 3 * 1001])
def test_out_of_core_rfft_of_integer_and_float32_input_matches_numpy(dtype, n):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 100).astype(dtype)
    out = np.zeros(n // 2 + 1, np.complex128)
    with memory_budget(SMALL_BUDGET):
        assert rfft_into(x, out, force_out_of_core=True) == "out-of-core"
    reference = np.fft.rfft(x.astype(np.float64))
    assert np.max(np.abs(out - reference)) <= 1e-9 * np.max(np.abs(reference))


def test_out_of_core_fft_of_complex64_matches_numpy():
    rng = np.random.default_rng(11)
    y = (rng.standard_normal(4096) + 1j * rng.standard_normal(4096)).astype(np.complex64)
    full = np.zeros(len(y), np.complex128)

    def write(start, values):
        full[start : start + len(values)] = values

    with memory_budget(SMALL_BUDGET):
        fft_out_of_core(y, write)
    reference = np.fft.fft(y.astype(np.complex128))
    assert np.max(np.abs(full - reference)) <= 1e-9 * np.max(np.abs(reference))


@pytest.mark.parametrize(
    ("nperseg", "noverlap", "window"), [(256, 32, "hann"), (255, 100, "hamming")]
)
def test_spectrogram_matches_scipy(nperseg, noverlap, window):
    x = np.random.default_rng(3).standard_normal(50_001)
    frames = frame_count(len(x), nperseg, noverlap)
    out = np.zeros((frames, nperseg // 2 + 1))
    with memory_budget(256 * 1024):
        spectrogram_into(x, out, 8000.0, nperseg, noverlap, window)
    _, _, expected = scipy.signal.spectrogram(
        x, 8000.0, window=window, nperseg=nperseg, noverlap=noverlap, detrend=False
    )
    np.testing.assert_allclose(out, expected.T, rtol=1e-10, atol=1e-18)


def test_minmax_decimation_keeps_extremes_block_by_block():
    x = np.random.default_rng(5).standard_normal(123_457)
    x[77_777] = 50.0
    with memory_budget(64 * 1024):
        positions, minima, maxima = minmax_decimate(x, 1000)
    assert len(positions) == 1000
    assert maxima.max() == 50.0 and minima.min() == x.min()
    columns = (np.arange(len(x)) * 1000) // len(x)  # the rule pages and waveforms use too
    for column in (0, 10, 629, 999):
        assert maxima[column] == x[columns == column].max()
        assert minima[column] == x[columns == column].min()
        middle = np.flatnonzero(columns == column)
        assert positions[column] == (middle[0] + middle[-1]) / 2


def test_plots_of_every_kind():
    from matplotlib.figure import Figure

    signal = np.sin(np.arange(10_000) / 10)
    assert isinstance(plot_array(signal, "line", sample_rate=100.0), Figure)
    assert isinstance(plot_array(np.fft.rfft(signal), "spectrum", sample_rate=100.0), Figure)
    assert isinstance(plot_array(np.abs(np.random.rand(300, 65)), "spectrogram"), Figure)
    with pytest.raises(ValueError, match="unknown plot kind"):
        plot_array(signal, "pie")


def test_incremental_learning_in_batches():
    from sklearn.decomposition import IncrementalPCA

    data = np.random.default_rng(0).standard_normal((1000, 5))
    assert [len(b) for b in iterate_batches(data, 300)] == [300, 300, 300, 100]
    model = fit_incremental(IncrementalPCA(n_components=2), data, rows=250)
    assert model.n_samples_seen_ == 1000
    with pytest.raises(InvalidInputError, match="partial_fit"):
        from sklearn.decomposition import PCA

        fit_incremental(PCA(), data, rows=100)


def test_kmeans_separates_two_kinds_of_frames():
    quiet = np.full((200, 8), 1e-6)
    loud = np.full((200, 8), 1.0)
    frames = np.concatenate([quiet, loud, quiet])
    labels = np.concatenate(list(cluster_rows(frames, 2, rows=64)))
    assert len(labels) == 600
    assert len(set(labels[:200])) == 1 and len(set(labels[200:400])) == 1
    assert labels[0] != labels[300] and labels[0] == labels[599]
