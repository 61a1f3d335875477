"""GaussianMixture per EM iteration on a GPU (cupy or torch) against the CPU.

Prepared for a machine with an NVIDIA GPU; runs on the CPU too (torch's CPU
arrays, or array-api-strict) as a smoke test of the array-API path. For each
case (covariance type, rows, features, K) it times, side by side in one run,
from the same starting parameters (``*_init``) and for the same number of
iterations (``tol=0``):

* daskmix on the device (the input's namespace, ``array_api_dispatch`` on);
* scikit-learn's GaussianMixture on the same device (its array API path);
* daskmix on the CPU (numpy, all cores).

and prints seconds per iteration and the ratios. Targets (issue 19): faster than
scikit-learn on the same GPU, and at least 20x daskmix on the CPU.

    SCIPY_ARRAY_API=1 python benchmarks/bench_gpu.py --namespace cupy
    SCIPY_ARRAY_API=1 python benchmarks/bench_gpu.py --namespace torch --device cuda
    SCIPY_ARRAY_API=1 python benchmarks/bench_gpu.py --namespace torch --device cpu \\
        --cases small        # a CPU smoke test
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.mixture import GaussianMixture as SkGaussianMixture  # noqa: E402

from daskmix import GaussianMixture  # noqa: E402

CASES = {
    "issue": [
        ("full", 1_000_000, 32, 16),
        ("diag", 1_000_000, 32, 16),
        ("full", 10_000_000, 64, 64),
        ("diag", 10_000_000, 64, 64),
    ],
    "small": [("full", 100_000, 8, 4), ("diag", 100_000, 8, 4)],
}


def namespace_arrays(name: str, device: str):
    """``(to_device, synchronize)`` for the chosen library."""
    if name == "cupy":
        import cupy

        return cupy.asarray, cupy.cuda.Device().synchronize
    if name == "torch":
        import torch

        def to_device(a):
            return torch.asarray(a, device=device)

        def synchronize():
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        return to_device, synchronize
    import array_api_strict

    return array_api_strict.asarray, lambda: None


def data(n_rows: int, n_features: int, n_components: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 4.0, (n_components, n_features))
    labels = rng.integers(0, n_components, n_rows)
    X = (centers[labels] + rng.standard_normal((n_rows, n_features))).astype(np.float32)
    return X


def start(X: np.ndarray, cov_type: str, n_components: int) -> dict:
    """The starting parameters every fit shares (one short numpy fit)."""
    sample = X[:: max(1, X.shape[0] // 20_000)]
    first = GaussianMixture(
        n_components, covariance_type=cov_type, max_iter=2, random_state=0
    ).fit(sample.astype(np.float64))
    return {
        "weights_init": first.weights_.astype(np.float64),
        "means_init": first.means_.astype(np.float64),
        "precisions_init": first.precisions_.astype(np.float64),
    }


def per_iteration(fit, n_iter: int, synchronize) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit(1)  # warm-up: compilation, transfers, allocator
        synchronize()
        begin = time.perf_counter()
        fit(n_iter)
        synchronize()
    return (time.perf_counter() - begin) / n_iter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", choices=["cupy", "torch", "strict"])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--cases", choices=list(CASES), default="issue")
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args()
    to_device, synchronize = namespace_arrays(args.namespace, args.device)
    print(
        f"namespace={args.namespace} device={args.device} float32; seconds per "
        "iteration; ratios = other / daskmix on the device"
    )
    print(
        f"{'type':>5} {'rows':>10} {'D':>3} {'K':>3} {'device':>9} "
        f"{'sklearn':>9} {'cpu':>9} {'sk/dev':>7} {'cpu/dev':>8}"
    )
    for cov_type, n_rows, n_features, n_components in CASES[args.cases]:
        X = data(n_rows, n_features, n_components)
        init = start(X, cov_type, n_components)
        X_device = to_device(X)
        synchronize()
        common = dict(covariance_type=cov_type, tol=0.0, **init)

        def on_device(n, X_device=X_device, common=common, k=n_components):
            with sklearn.config_context(array_api_dispatch=True):
                GaussianMixture(k, max_iter=n, **common).fit(X_device)

        def sklearn_device(n, X_device=X_device, common=common, k=n_components):
            sk_init = {
                key: to_device(value) if key.endswith("_init") else value
                for key, value in common.items()
            }
            with sklearn.config_context(array_api_dispatch=True):
                SkGaussianMixture(k, max_iter=n, **sk_init).fit(X_device)

        def on_cpu(n, X=X, common=common, k=n_components):
            GaussianMixture(k, max_iter=n, **common).fit(X)

        device_s = per_iteration(on_device, args.iterations, synchronize)
        try:
            sklearn_s = per_iteration(sklearn_device, args.iterations, synchronize)
        except (TypeError, ValueError, NotImplementedError) as exc:
            print(f"  scikit-learn on the device failed: {exc}")
            sklearn_s = float("nan")
        cpu_s = per_iteration(on_cpu, args.iterations, lambda: None)
        print(
            f"{cov_type:>5} {n_rows:>10} {n_features:>3} {n_components:>3} "
            f"{device_s:>9.4f} {sklearn_s:>9.4f} {cpu_s:>9.4f} "
            f"{sklearn_s / device_s:>7.2f} {cpu_s / device_s:>8.2f}"
        )


if __name__ == "__main__":
    main()
