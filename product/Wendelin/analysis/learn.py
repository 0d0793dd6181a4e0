"""scikit-learn out of core: feed an array's rows to ``partial_fit`` batch by batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import InvalidInputError


def iterate_batches(array: Any, rows: int) -> Iterator[np.ndarray]:
    """Successive in-memory copies of ``rows`` rows (the last batch may be shorter)."""
    if rows < 1:
        raise InvalidInputError(f"rows must be a positive number of rows per batch, got {rows}")
    view = array[:]
    for start in range(0, len(array), rows):
        yield np.array(view[start : start + rows])


def fit_incremental(estimator: Any, array: Any, rows: int, **fit_params: Any) -> Any:
    """Call ``estimator.partial_fit`` on each batch; return the fitted estimator."""
    if not hasattr(estimator, "partial_fit"):
        raise InvalidInputError(
            f"{type(estimator).__name__} has no partial_fit; use an incremental estimator "
            "such as MiniBatchKMeans, IncrementalPCA or SGDRegressor"
        )
    for batch in iterate_batches(array, rows):
        if batch.ndim == 1:
            batch = batch.reshape(-1, 1)
        estimator.partial_fit(batch, **fit_params)
    return estimator


def cluster_rows(array: Any, n_clusters: int, rows: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Label each row of a 2-D array (e.g. spectrogram frames, log power) with k-means.

    MiniBatchKMeans learns batch by batch, then a second pass yields the labels batch by
    batch, so memory holds one batch whatever the number of rows.
    """
    from sklearn.cluster import MiniBatchKMeans

    def features(batch: np.ndarray) -> np.ndarray:
        return np.log10(np.maximum(batch, 1e-20))

    if len(array) < n_clusters:
        raise InvalidInputError(f"{len(array)} rows cannot make {n_clusters} clusters")
    model = MiniBatchKMeans(n_clusters=n_clusters, random_state=seed, n_init=3)
    for batch in iterate_batches(array, max(rows, n_clusters)):
        if len(batch) >= n_clusters:
            model.partial_fit(features(batch))
    for batch in iterate_batches(array, rows):
        yield model.predict(features(batch))
