"""Residual k-means (RQ-KMeans): semantic IDs without a training loop.

Level 1 clusters the embeddings with k-means; level l clusters what levels 1..l-1 left over (the
residuals), so each level refines the previous one, as residual vector quantisation does in an
RQ-VAE but on the raw embedding space. It is the training-free baseline tokeniser of GRID
(snap-research) and a quick sanity check for the RQ-VAE.

The k-means and codebook-usage helpers here are numpy/faiss only and shared with the RQ-VAE.

>>> x = np.random.default_rng(0).normal(size=(500, 16)).astype(np.float32)
>>> rq = ResidualKMeans(levels=2, codebook_size=8, seed=0).fit(x)
>>> rq.encode(x).shape
(500, 2)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np

from flexcode_bench import console
from flexcode_bench.errors import ConfigError, DataFormatError


@contextlib.contextmanager
def _faiss_single_thread() -> Iterator[None]:
    """Run faiss on one thread, then restore its setting.

    faiss and torch ship separate OpenMP runtimes whose idle threads spin-wait; interleaved with
    torch work, a multi-threaded faiss k-means ran 5-10x slower on a 2-core CPU than a
    single-threaded one. Our k-means problems (<= ~65k points x 256 codes) are small enough for one.
    """
    import faiss

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def kmeans_centroids(x: np.ndarray, k: int, *, seed: int, niter: int = 25) -> np.ndarray:
    """float32 [k, d] centroids of faiss k-means (k-means++ seeding) on ``x`` [n, d]; needs k <= n."""
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    if not 1 <= k <= len(x):
        raise ValueError(f"k-means needs 1 <= k <= n points, got k={k}, n={len(x)}")
    km = faiss.Kmeans(
        x.shape[1],
        k,
        niter=niter,
        seed=seed,
        init_method=faiss.ClusteringInitMethod_KMEANS_PLUS_PLUS,
        # faiss warns below 39 points per centroid; small catalogues are legitimate here.
        min_points_per_centroid=1,
        verbose=False,
    )
    with _faiss_single_thread():
        km.train(x)
    return km.centroids.copy()


def nearest(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """int64 [n] index of the nearest centroid (L2) for each row of ``x``."""
    import faiss

    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    with _faiss_single_thread():
        _, idx = index.search(np.ascontiguousarray(x, dtype=np.float32), 1)
    return idx[:, 0].astype(np.int64)


def codebook_usage(codes: np.ndarray, codebook_size: int) -> list[dict]:
    """Per level of ``codes`` [n, L]: codes used, their fraction, entropy (nats) and perplexity.

    Perplexity = exp(entropy) is the effective number of codes: ``codebook_size`` when items spread
    evenly, 1 when every item gets the same code (collapse).
    """
    codes = np.asarray(codes).reshape(len(codes), -1)
    stats = []
    for level in range(codes.shape[1]):
        counts = np.bincount(codes[:, level], minlength=codebook_size)
        p = counts[counts > 0] / max(len(codes), 1)
        entropy = float(-(p * np.log(p)).sum())
        used = int((counts > 0).sum())
        stats.append(
            {
                "level": level,
                "used": used,
                "used_fraction": used / codebook_size,
                "entropy": entropy,
                "perplexity": math.exp(entropy),
            }
        )
    return stats


class ResidualKMeans:
    """``levels`` rounds of k-means, each on the residuals of the previous ones.

    With fewer distinct points than ``codebook_size`` a level's k is clamped to the number of
    points (with a warning), so codes at that level stay below the clamped size.
    """

    def __init__(self, levels: int = 3, codebook_size: int = 256, seed: int = 0, *, niter: int = 25) -> None:
        if levels < 1 or codebook_size < 1:
            raise ConfigError(f"levels and codebook_size must be >= 1, got {levels} and {codebook_size}")
        self.levels = levels
        self.codebook_size = codebook_size
        self.seed = seed
        self.niter = niter
        self.codebooks: list[np.ndarray] = []  # per level, float32 [k_l, d] with k_l <= codebook_size

    def fit(self, x: np.ndarray) -> ResidualKMeans:
        residual = _as_matrix(x).copy()
        if len(residual) == 0:
            raise DataFormatError("residual k-means needs at least one point")
        k = min(self.codebook_size, len(residual))
        if k < self.codebook_size:
            console.warning(f"residual k-means: {len(residual)} points < codebook size {self.codebook_size}; using k={k}")
        self.codebooks = []
        for level in range(self.levels):
            # A distinct seed per level: the same seed would re-pick the same k-means++ starts.
            centroids = kmeans_centroids(residual, k, seed=self.seed + level, niter=self.niter)
            residual -= centroids[nearest(residual, centroids)]
            self.codebooks.append(centroids)
        return self

    def encode(self, x: np.ndarray) -> np.ndarray:
        """int64 [n, levels]: greedy nearest codeword per level on the running residual."""
        self._check_fitted()
        residual = _as_matrix(x).copy()
        codes = np.empty((len(residual), self.levels), dtype=np.int64)
        for level, centroids in enumerate(self.codebooks):
            codes[:, level] = nearest(residual, centroids)
            residual -= centroids[codes[:, level]]
        return codes

    def reconstruct(self, codes: np.ndarray) -> np.ndarray:
        """float32 [n, d]: the sum of the chosen codewords; ``codes[:, :l]`` reconstructs from l levels."""
        self._check_fitted()
        codes = np.asarray(codes, dtype=np.int64).reshape(len(codes), -1)
        out = np.zeros((len(codes), self.codebooks[0].shape[1]), dtype=np.float32)
        for level in range(codes.shape[1]):
            out += self.codebooks[level][codes[:, level]]
        return out

    def usage(self, codes: np.ndarray) -> list[dict]:
        return codebook_usage(codes, self.codebook_size)

    def _check_fitted(self) -> None:
        if not self.codebooks:
            raise RuntimeError("ResidualKMeans is not fitted; call fit(x) first")


def _as_matrix(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise DataFormatError(f"expected a 2-D [n, d] embedding array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise DataFormatError("embeddings contain NaN or infinite values", hint="re-run the embedding step")
    return x
