"""The synthetic data sets of the mclust comparison, written as CSV.

``benchmarks/mclust_reference.R`` fits mclust's 14 models to these files (and
to iris and faithful); ``tests/test_mclust_models.py`` and
``benchmarks/bench_mclust.py --compare`` read the same files. The files are
committed under ``tests/data``; this script regenerates them byte for byte
(values rounded to 6 decimals, so that R and numpy parse the same numbers).

Run: ``python benchmarks/mclust_datasets.py`` (writes ``tests/data/*.csv``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parents[1] / "tests" / "data"


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def _draw(rng, means, covariances, counts) -> np.ndarray:
    parts = [
        rng.multivariate_normal(mean, cov, n)
        for mean, cov, n in zip(means, covariances, counts)
    ]
    return np.vstack(parts)[rng.permutation(sum(counts))]


def blobs3(rng: np.random.Generator) -> np.ndarray:
    """300 x 3: three components of different volumes, shapes and orientations."""
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    covariances = [
        np.diag([1.0, 0.5, 0.2]),
        q @ np.diag([2.0, 0.3, 0.3]) @ q.T,
        0.4 * np.eye(3) + 0.3,
    ]
    means = [[0.0, 0.0, 0.0], [4.0, 1.0, 0.0], [0.0, 4.0, 2.0]]
    return _draw(rng, means, covariances, [100, 120, 80])


def eve2(rng: np.random.Generator) -> np.ndarray:
    """400 x 2: three components of one orientation, equal volumes, other shapes."""
    rot = _rotation(np.pi / 6)
    covariances = [
        rot @ np.diag(s) @ rot.T for s in ([4.0, 0.25], [1.0, 1.0], [0.5, 2.0])
    ]
    means = [[0.0, 0.0], [5.0, 3.0], [-1.0, 6.0]]
    return _draw(rng, means, covariances, [150, 130, 120])


def wide5(rng: np.random.Generator) -> np.ndarray:
    """250 x 5: four axis-aligned components of different spreads."""
    scales = rng.uniform(0.4, 2.0, (4, 5))
    means = rng.normal(0.0, 4.0, (4, 5))
    covariances = [np.diag(s**2) for s in scales]
    return _draw(rng, means, covariances, [80, 70, 60, 40])


SYNTHETIC = {"blobs3": blobs3, "eve2": eve2, "wide5": wide5}


def main() -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for seed, (name, make) in enumerate(SYNTHETIC.items()):
        X = make(np.random.default_rng(1000 + seed))
        header = ",".join(f"x{j + 1}" for j in range(X.shape[1]))
        np.savetxt(
            DATA_DIR / f"{name}.csv",
            X,
            fmt="%.6f",
            delimiter=",",
            header=header,
            comments="",
        )
        print(f"{name}: {X.shape}")


if __name__ == "__main__":
    main()
