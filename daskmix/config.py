"""Every tunable of daskmix: one ``daskmix`` namespace of dask's configuration.

The keys, their defaults and what they do are in :data:`SETTINGS` (and in the
table of ``docs/configuration.rst``, which a test keeps equal to it). Change
them as any dask setting, for a block or for the process::

    import dask
    with dask.config.set({"daskmix.tile-budget-bytes": "8 MiB"}):
        model.fit(X)

or in a dask YAML file (``~/.config/dask/daskmix.yaml``), or through
environment variables (``DASK_DASKMIX__SMALL_DATA_BYTES=0``). Settings are
read on the client when a fit, pass or start needs them, and what they decide
travels with the work: a worker's own configuration never changes a result.
The one exception is ``mallopt``, a per-process setting that each worker
reads from its own configuration.

:func:`get` checks a value against its key's kind and bounds and raises a
ValueError naming the key when it does not fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import dask
import dask.config
from dask.utils import parse_bytes

NAMESPACE = "daskmix"


@dataclass(frozen=True)
class Setting:
    """One tunable: its default, its kind and its bounds.

    Attributes
    ----------
    default : object
        The value when nothing is configured.
    kind : {'int', 'float', 'bytes', 'bool', 'choice'}
        How a configured value is read: 'bytes' accepts an int or a string
        such as ``"5 MiB"`` (:func:`dask.utils.parse_bytes`); 'choice' one of
        ``choices``.
    minimum : float
        Smallest value accepted (ignored for 'bool').
    doc : str
        What the setting decides, for the documentation table.
    maximum : float
        Largest value accepted.
    choices : tuple of str
        The values a 'choice' accepts.
    """

    default: Any
    kind: str
    minimum: float
    doc: str
    maximum: float = math.inf
    choices: tuple[str, ...] = ()


#: every daskmix setting, by key (without the ``daskmix.`` prefix)
SETTINGS: dict[str, Setting] = {
    # ---------------------------------------------------------- the engine
    "min-block-rows": Setting(
        4096,
        "int",
        1,
        "Fewest rows per block when numpy input is cut into blocks for the "
        "thread pool (about four blocks per thread otherwise).",
    ),
    "split-every": Setting(
        16,
        "int",
        2,
        "Fan-in of the tree that adds block statistics. The tree depends only "
        "on the number of blocks and this, so numpy, threads and clusters add "
        "in the same order.",
    ),
    "small-data-bytes": Setting(
        "1 MiB",
        "bytes",
        0,
        "Dask data of at most this many bytes are read once and fitted on the "
        "client's threads (bit-identical to streaming); 0 streams every dask "
        "array.",
    ),
    "cluster-wait-seconds": Setting(
        120.0,
        "float",
        1.0,
        "Longest a pass on a distributed cluster waits while the cluster cannot "
        "run it (no workers, no connection to the scheduler, no task running); "
        "then the fit raises a ClusterEventError naming the event. Raise it for "
        "clusters whose workers take longer to arrive (a batch queue).",
    ),
    "tile-budget-bytes": Setting(
        "5 MiB",
        "bytes",
        8,
        "Per-thread budget of a kernel's widest temporary: sets the rows per "
        "tile inside a block.",
    ),
    "device-tile-budget-bytes": Setting(
        "256 MiB",
        "bytes",
        8,
        "Budget of a kernel's widest temporary on a device (array-API input such "
        "as cupy or torch arrays): larger tiles keep a GPU busy.",
    ),
    "min-tasks-per-thread": Setting(
        4,
        "int",
        1,
        "A dask pass over materialised blocks groups several blocks per task "
        "but keeps at least this many tasks per scheduler thread.",
    ),
    "coalesce-bytes": Setting(
        "64 KiB",
        "bytes",
        0,
        "A pass runs its kernel once per group of consecutive row blocks "
        "smaller than this, grouped until a group holds at least this many "
        "bytes (tiny blocks cost more in tasks and calls than in arithmetic); "
        "0 keeps every block alone.",
    ),
    "reduce-budget-bytes": Setting(
        "32 MiB",
        "bytes",
        1,
        "Largest size of the block statistics one task returns or one reduce "
        "task holds at once.",
    ),
    "inline-params-bytes": Setting(
        "1 MiB",
        "bytes",
        0,
        "Parameters are copied into every block task of a pass while they "
        "total at most this many bytes; above it they travel once, as one key.",
    ),
    "windows-per-batch": Setting(
        32,
        "int",
        1,
        "Windows of consecutive rows that make up a mini-batch of dask input "
        "(one per stratum of the data).",
    ),
    "mallopt": Setting(
        True,
        "bool",
        0,
        "Worker processes started with ``MALLOC_TRIM_THRESHOLD_`` get glibc's "
        "adaptive mmap threshold back (read by each worker from its own "
        "configuration).",
    ),
    "kernels": Setting(
        "auto",
        "choice",
        0,
        "Block kernel backend: 'numpy' (the reference), 'compiled' (numba; "
        "install daskmix[compiled]) or 'auto' (compiled when numba imports). "
        "Read on the client and shipped with each pass's plan.",
        choices=("auto", "numpy", "compiled"),
    ),
    "float32-compute": Setting(
        False,
        "bool",
        0,
        "float32 input with full covariances: shifted rows and the whitening "
        "inner products in float32 (statistics still float64). Off: float32 "
        "input is computed in float64, as exact as float64 input.",
    ),
    "progress": Setting(
        False,
        "bool",
        0,
        "Show progress bars for fits (daskmix.show_progress sets it).",
    ),
    # ---------------------------------------------------------- stepwise EM
    "minibatch.block-rows": Setting(
        8192,
        "int",
        1,
        "Rows per block of a mini-batch run on the client's threads (fixed, so "
        "that results do not depend on the number of cores).",
    ),
    "minibatch.prefetch-batches": Setting(
        8,
        "int",
        1,
        "Mini-batches drawn, and for dask input read in one compute, at once.",
    ),
    "minibatch.min-smoothing": Setting(
        0.1,
        "float",
        1e-6,
        "Smallest weight of the moving mean that smooths the mini-batch lower "
        "bound (0.1: a mean over the last 10 steps at most).",
        1.0,
    ),
    "minibatch.warmup-batches": Setting(
        3,
        "int",
        1,
        "Batches whose statistics start the running statistics (and whose rows "
        "a stepwise start is fitted on) ...",
    ),
    "minibatch.warmup-min-rows": Setting(
        1000,
        "int",
        1,
        "... and at least this many rows.",
    ),
    "minibatch.weighted-start-rows-per-component": Setting(
        10,
        "int",
        1,
        "Rows of non-zero weight per component that a weighted stepwise "
        "start's sample must hold; with fewer it uses all the data.",
    ),
    # --------------------------------------------------------------- starts
    "kmeans-start.sample-rows": Setting(
        20_000,
        "int",
        1,
        "The 'kmeans' start clusters a uniform sample of max(this, "
        "rows-per-cluster * K) rows ...",
    ),
    "kmeans-start.rows-per-cluster": Setting(
        1000, "int", 1, "... (the per-cluster part of that size)."
    ),
    "kmeans-start.restarts": Setting(
        3, "int", 1, "k-means runs of the 'kmeans' start; the best is kept."
    ),
    "kmeans-start.restart-rows-per-cluster": Setting(
        50,
        "int",
        1,
        "Rows per cluster of the smaller sample that restarts after the first "
        "cluster, so that n_init tries genuinely different starts.",
    ),
    "start-sample.windows": Setting(
        32,
        "int",
        1,
        "Windows of consecutive rows that make up a start's sample of rows "
        "(k-means, gmm, short-em starts) once the data hold at least this "
        "many times the sample's rows ...",
    ),
    "start-sample.min-rows": Setting(
        1_000_000,
        "int",
        1,
        "... and at least this many rows; smaller data draw single random rows "
        "(a store is read where the windows lie; small data are read fast).",
    ),
    "gmm-start.sample-rows": Setting(
        20_000, "int", 1, "Rows of the sample that the 'gmm' start fits."
    ),
    "gmm-start.restarts": Setting(
        3, "int", 1, "Mixtures fitted on that sample; the best is kept."
    ),
    "seeding.parallel-rounds": Setting(
        2, "int", 1, "Oversampling rounds of the k-means|| seeding."
    ),
    "kmeans.restart-rtol": Setting(
        1e-9,
        "float",
        0.0,
        "A k-means run replaces the best of the earlier runs only when its "
        "inertia is lower by more than this fraction: runs that reach the same "
        "clustering differ by rounding alone, which follows the chunking.",
    ),
    # ------------------------------------------- mclust's covariance models
    "covariance.inner-tol": Setting(
        1e-10,
        "float",
        0.0,
        "The fixed-point M-steps of VEI, VEV and VEE stop when no "
        "log-eigenvalue of the covariances moves by more than this.",
    ),
    "covariance.orientation-tol": Setting(
        1e-14,
        "float",
        0.0,
        "The orientation of EVE and VVE: the M-step stops when an iteration "
        "lowers its objective by less than this per row and feature.",
    ),
    "covariance.max-inner-iter": Setting(
        2000, "int", 1, "Iterations of one iterative M-step, at most."
    ),
    "covariance.newton-max-features": Setting(
        40,
        "int",
        0,
        "EVE and VVE take Newton steps on their orientation up to this many "
        "features (a Hessian of (D (D - 1) / 2)^2 entries), Jacobi sweeps "
        "alone beyond.",
    ),
    # ------------------------------------------------------- missing values
    "missing.pattern-budget-bytes": Setting(
        "5 MiB",
        "bytes",
        1,
        "Largest size of the missingness patterns' factors and their per-row "
        "copies (about K (d + 1)^2 float64 values per row with d missing "
        "entries) that the masked kernel holds at once; a tile's rows with gaps "
        "are worked through in pieces of that size, whatever the number of "
        "distinct patterns.",
    ),
    "missing.start-complete-rows-per-component": Setting(
        50,
        "int",
        1,
        "A start on data with gaps runs on the complete rows of its sample when "
        "at least this many per component are complete; otherwise on the "
        "sample's rows with their gaps filled by the column means.",
    ),
    # ----------------------------------------------------------- regression
    "regression.head-rows": Setting(
        1000, "int", 1, "Rows a regression start reads to centre its frame."
    ),
    "regression.pair-score-rows": Setting(
        2000,
        "int",
        1,
        "Rows that score the candidate pairings of the 'kmeans-pairs' start.",
    ),
    "regression.max-pairings": Setting(
        1000, "int", 1, "Pairings of k-means centres tried at most."
    ),
    "regression.short-em.sample-rows": Setting(
        4000, "int", 1, "Rows of the sample the 'short-em' start runs on."
    ),
    "regression.short-em.random-lines": Setting(
        8, "int", 0, "Random-lines candidates of the 'short-em' start."
    ),
    "regression.short-em.steps": Setting(
        10, "int", 1, "Short EM iterations of every 'short-em' candidate."
    ),
    "regression.short-em.finalists": Setting(
        3, "int", 1, "Candidates that go on to the long EM run."
    ),
    "regression.short-em.long-steps": Setting(
        200, "int", 1, "EM iterations of the finalists, at most."
    ),
    "regression.short-em.tol": Setting(
        1e-7, "float", 0.0, "Convergence threshold of the finalists' EM."
    ),
    "regression.pairwise-max-width": Setting(
        5 * 2**20 // (8 * 256),
        "int",
        1,
        "Past this many pairwise products per row, the regression kernel "
        "builds its normal matrices with one GEMM per component.",
    ),
    "regression.noise-floor-relative": Setting(
        1e-10,
        "float",
        0.0,
        "Smallest noise variance, relative to the variance of y.",
    ),
    "regression.pinv-rcond": Setting(
        1e-12,
        "float",
        0.0,
        "Relative cut-off of the minimum-norm solve of the normal equations.",
    ),
    "regression.information-rcond": Setting(
        1e-10,
        "float",
        0.0,
        "RegressionMixture.summary gives no standard errors (NaN, with a "
        "warning) when the observed information's smallest eigenvalue is below "
        "this fraction of its largest.",
    ),
    "regression.degenerate.min-rows-over-coefficients": Setting(
        1,
        "float",
        0.0,
        "A component explaining at most this many rows per coefficient is "
        "degenerate ...",
    ),
    "regression.degenerate.variance-ratio": Setting(
        1e-3,
        "float",
        0.0,
        "... as is one whose noise variance is below this fraction of the largest.",
    ),
}


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


dask.config.update_defaults(
    {NAMESPACE: _nested({key: s.default for key, s in SETTINGS.items()})}
)


def _invalid(key: str, setting: Setting, value: Any) -> ValueError:
    kinds = {
        "int": "an integer",
        "float": "a number",
        "bytes": "a byte size (an integer or a string such as '5 MiB')",
        "bool": "a boolean",
        "choice": "one of " + ", ".join(repr(c) for c in setting.choices),
    }
    bounds = f" >= {setting.minimum:g}"
    if setting.maximum < math.inf:
        bounds += f" and <= {setting.maximum:g}"
    plain = setting.kind in ("bool", "choice")
    expected = kinds[setting.kind] + ("" if plain else bounds)
    return ValueError(
        f"The dask config key '{NAMESPACE}.{key}' must be {expected}; got {value!r}."
    )


def _read(key: str, setting: Setting, value: Any):
    if setting.kind == "choice":
        if isinstance(value, str) and value.lower() in setting.choices:
            return value.lower()
        raise _invalid(key, setting, value)
    if setting.kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        if isinstance(value, (bool, int)) and value in (0, 1):
            return bool(value)
        raise _invalid(key, setting, value)
    try:
        if setting.kind == "bytes":
            number = parse_bytes(value) if isinstance(value, str) else value
        else:
            number = float(value) if isinstance(value, str) else value
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise TypeError
        if setting.kind in ("int", "bytes"):
            if float(number) != int(number):
                raise TypeError
            number = int(number)
        else:
            number = float(number)
    except (TypeError, ValueError):
        raise _invalid(key, setting, value) from None
    if not setting.minimum <= number <= setting.maximum:
        raise _invalid(key, setting, value)
    return number


def get(key: str) -> Any:
    """The configured value of ``daskmix.<key>``, checked.

    Parameters
    ----------
    key : str
        A key of :data:`SETTINGS`, without the ``daskmix.`` prefix.

    Returns
    -------
    int, float, bool or str
        Byte sizes come back as integers, choices as lower-case strings.

    Raises
    ------
    ValueError
        If the configured value is not of the key's kind or is out of bounds.
    """
    setting = SETTINGS[key]
    value = dask.config.get(f"{NAMESPACE}.{key}", setting.default)
    return _read(key, setting, value)


def settings_table() -> str:
    """The rows of the documentation's settings table (``docs/configuration.rst``).

    ``python -m daskmix.config`` prints them; a test keeps the page equal to them.

    Returns
    -------
    str
        reStructuredText list-table rows, one per key.
    """
    rows = []
    for key, setting in SETTINGS.items():
        default = setting.default
        shown = f"``'{default}'``" if isinstance(default, str) else f"``{default!r}``"
        rows.append(
            f"   * - ``{NAMESPACE}.{key}``\n     - {shown}\n     - {setting.kind}\n"
            f"     - {' '.join(setting.doc.split())}\n"
        )
    return "".join(rows)


if __name__ == "__main__":
    print(settings_table(), end="")
