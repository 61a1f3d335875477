"""Starting parameters of a regression mixture, one branch per ``init_params``.

Cost of each method in passes over (X, y), beyond reading the first
``daskmix.regression.head-rows`` rows (see :mod:`daskmix.cluster.seeding` for the
seedings themselves):

==================  =====================================================
method              cost
==================  =====================================================
``kmeans``          the mixtures' k-means start on the joint (x, y)
                    (:func:`~daskmix.cluster.starts.kmeans_start`, one
                    k-means run; small data as a bootstrap resample, so
                    that restarts differ), then one labelling pass.
``k-means++``,      the seeding, then one labelling pass.
``random_from_data``
``random``          one pass with random responsibilities.
``gmm``             a joint Gaussian mixture fitted on a sample
                    (:func:`~daskmix.gaussian.model.fit_on_sample`),
                    then one pass.
``kmeans-chain``,   the k-means start with ``K + 1`` or ``2K`` centres;
``kmeans-pairs``    'kmeans-pairs' also reads ``pair-score-rows``
                    rows to choose the pairing; then one pass.
``short-em``        reads a uniform sample of at most
                    ``short-em.sample-rows`` rows (no pass for numpy,
                    one read of those rows for dask). Everything else runs
                    in memory on the sample: ``short-em.steps`` EM
                    iterations from each of the candidate starts of
                    :data:`SHORT_EM_CANDIDATES` and
                    ``short-em.random-lines`` lines through random
                    rows, then up to ``short-em.long-steps`` more for
                    the best ``short-em.finalists``; the best
                    non-degenerate fit of the sample is the start. No pass
                    over the data: about ``sample-rows * (C * steps +
                    finalists * long-steps)`` row-iterations (the
                    ``daskmix.regression.short-em`` config keys), independent of
                    n_samples (C ~ 16 candidates).
==================  =====================================================
"""

from __future__ import annotations

import numpy as np

from .. import config as settings
from .._em.run import check_pass
from .._engine.batches import read_rows
from .._engine.rows import RowBlocks
from .._engine.stats import Stats
from .._engine.tiles import Tile
from ..cluster.seeding import (
    kmeans_plusplus_centers,
    random_data_centers,
    sample_indices,
)
from ..cluster.starts import kmeans_start, split_weight, weighted_sample
from ..gaussian.kernels import make_plan as make_gate_plan
from ..gaussian.model import fit_on_sample
from ..gaussian.params import GaussianParams
from .degenerate import degenerate_components
from .design import select
from .families import family
from .gates import gate
from .kernels import em_kernel, init_kernel, make_plan
from .pairing import chain_segments, line_through, matched_pairs
from .params import (
    RegressionConfig,
    RegressionParams,
    conditional_lines,
    m_step,
    n_coefficients,
    noise_floor_from_sample,
    replace,
)

#: 'short-em': candidate starts on the sample (method, how many)
SHORT_EM_CANDIDATES = (
    ("kmeans", 1),
    ("kmeans-pairs", 1),
    ("random_from_data", 2),
    ("k-means++", 2),
    ("random", 2),
)
#: median of the chi-square distribution with one degree of freedom
CHI2_1_MEDIAN = 0.454936


def initial_params(
    data: RowBlocks,
    random_state: np.random.RandomState,
    *,
    n_components: int,
    method: str,
    config: RegressionConfig,
    reg_covar: float,
    tile_rows: int,
    x_range: np.ndarray | None = None,
    warn: bool = False,
) -> RegressionParams:
    """Starting parameters: one initialisation pass over (X, y), then an M-step.

    Every method yields responsibilities for all rows and, for some,
    lines; the pass accumulates the usual statistics under them. Methods
    that choose lines keep them and only estimate noise, weights and gate.

    When ``data`` carries row weights (its ``weight`` array, from
    ``sample_weight``), k-means (and the k-means of 'kmeans-chain' and
    'kmeans-pairs') is weighted, 'k-means++' and 'random_from_data' draw
    rows in proportion to the weights (never a row of weight zero), 'gmm'
    and 'short-em' fit a weighted sample, and the statistics of the
    initialisation pass are weighted. The frame centre and the noise floor
    come from the first rows whatever their weights (they only fix
    coordinates and a floor).

    The line-picking methods ('gmm', 'kmeans-chain', 'kmeans-pairs') draw
    lines in the joint (x, y) space: for the Poisson and binomial families,
    and when the experts see only some columns, they keep only their
    responsibilities and every component starts with one Newton step from
    the flat line at the mean of y. ``x_range`` (the data's column range,
    :func:`column_range`) is what the Newton steps' safeguard needs.

    With ``warn``, the k-means of 'kmeans', 'kmeans-chain' and 'kmeans-pairs'
    warns as scikit-learn's KMeans when it finds fewer distinct clusters than
    it was asked for (:func:`~daskmix.cluster.starts.kmeans_start`).
    """
    K = n_components
    if method == "short-em":
        return short_em_params(
            data,
            random_state,
            n_components=K,
            config=config,
            reg_covar=reg_covar,
            tile_rows=tile_rows,
            x_range=x_range,
        )
    rows_only, weight = split_weight(data)
    n_head = min(data.n_samples, settings.get("regression.head-rows"))
    head = read_rows(data, np.arange(n_head))
    head_x, head_y = head["X"], head["y"]
    x_center = np.asarray(head_x, dtype=np.float64).mean(axis=0)
    x_center = x_center.astype(data.dtype).astype(np.float64)
    y_center = float(np.mean(head_y))
    fam = family(config.family)
    n_coef_x = len(_columns(config.expert_columns, data.n_features))
    coef = np.zeros((K, n_coef_x))
    # the residuals of the first pass are y - mean(y): shifted statistics
    level = y_center if fam.linear_mean else fam.link(_mean_response(head))
    intercept = np.full(K, level if config.fit_intercept else 0.0)
    init_fields: dict = {"y_center": y_center}
    refit = True
    # lines drawn in (x, y) only start components with linear means in all x
    draws_lines = (
        fam.linear_mean
        and config.expert_columns is None
        and config.offset_column is None
    )

    # the k-means start and the random rows are read from X and y and joined
    # in memory (a store is read where the rows lie); k-means++ passes over
    # the joint rows
    if method == "kmeans":
        centers = kmeans_start(data, K, random_state, 1, resample=True, warn=warn)[0]
        init_fields.update(mode="nearest", centers=_shift(centers, x_center, y_center))
    elif method in ("k-means++", "random_from_data"):
        if method == "k-means++":
            centers = kmeans_plusplus_centers(
                rows_only.joined(), K, random_state, sample_weight=weight
            )
        else:
            centers = random_data_centers(
                rows_only, K, random_state, sample_weight=weight
            )
        init_fields.update(mode="nearest", centers=_shift(centers, x_center, y_center))
    elif method == "random":
        init_fields.update(
            mode="random", seed=int(random_state.randint(np.iinfo(np.int32).max))
        )
    elif method == "gmm":
        gmm = joint_gmm(data, n_components, random_state, reg_covar)
        if draws_lines:
            coef, intercept = conditional_lines(gmm, config.fit_intercept)
            refit = False
        init_fields.update(
            mode="joint_posterior", joint_gate=make_gate_plan(gmm, np.float64)
        )
    else:  # kmeans-chain, kmeans-pairs
        n_centers = K + 1 if method == "kmeans-chain" else 2 * K
        if data.n_samples < n_centers:
            raise ValueError(
                f"init_params={method!r} needs {n_centers} k-means centres but "
                f"there are only {data.n_samples} samples."
            )
        centers, rows = kmeans_start(
            data,
            n_centers,
            random_state,
            1,
            resample=True,
            warn=warn,
        )
        if method == "kmeans-chain":
            segments = chain_segments(centers)
        else:
            picked = sample_indices(
                rows.n_samples, settings.get("regression.pair-score-rows"), random_state
            )
            scored = rows.take_rows(picked)["X"]
            segments = matched_pairs(
                centers, np.asarray(scored, np.float64), config.fit_intercept
            )
        if draws_lines:
            for k, (a, b) in enumerate(segments):
                coef[k], intercept[k] = line_through(
                    centers[a], centers[b], config.fit_intercept
                )
            refit = False
        midpoints = np.array([0.5 * (centers[a] + centers[b]) for a, b in segments])
        init_fields.update(
            mode="nearest", centers=_shift(midpoints, x_center, y_center)
        )
    frame = RegressionParams(
        weights=np.full(K, 1.0 / K),
        coef=coef,
        intercept=intercept,
        noise_variance=np.ones(K),
        gate=gate(config.gating).identity(
            config, K, select(x_center[None, :], config.gate_columns)[0]
        ),
        x_center=x_center,
        noise_floor=noise_floor_from_sample(head_y),
        expert_columns=config.expert_columns,
        gate_columns=config.gate_columns,
        x_range=x_range,
    )
    plan = make_plan(frame, config, data.dtype, **init_fields)
    stats = data.map_reduce(init_kernel, plan, tile_rows, name="regression-start")
    check_pass(stats, data)
    return m_step(stats, frame, config, refit_lines=refit)


def _columns(columns, n_features: int) -> list[int]:
    """The column indices ``columns`` stands for (None: all)."""
    return list(range(n_features)) if columns is None else list(columns)


def _mean_response(head: dict) -> float:
    """Mean of the first rows' response (successes over trials, binomial)."""
    y = np.asarray(head["y"], dtype=np.float64)
    if "trials" in head:
        trials = np.asarray(head["trials"], dtype=np.float64)
        return float(y.sum() / max(trials.sum(), 1.0))
    return float(np.mean(y)) if y.size else 0.0


class RangeStats(Stats):
    """The smallest (``low``) and largest (``high``) value of every column."""

    def __add__(self, other):
        return RangeStats(
            low=np.minimum(self["low"], other["low"]),
            high=np.maximum(self["high"], other["high"]),
        )


def range_kernel(tile: Tile, plan) -> RangeStats:
    """Column-wise minimum and maximum of ``tile.X``, float64."""
    x = tile.X
    if x.shape[0] == 0:
        return RangeStats(
            low=np.full(x.shape[1], np.inf), high=np.full(x.shape[1], -np.inf)
        )
    return RangeStats(
        low=x.min(axis=0).astype(np.float64), high=x.max(axis=0).astype(np.float64)
    )


def column_range(data: RowBlocks) -> np.ndarray:
    """``[min, max]`` of every column of X over the rows, (2, D): one pass.

    Rows of weight zero count too (a wider range only makes the Newton
    steps' safeguard more cautious). Inside the model-selection sweep
    (:meth:`RowBlocks.sharing_reads`) every candidate reuses the first
    candidate's pass.
    """

    def compute() -> np.ndarray:
        stats = data.map_reduce(range_kernel, None, 1 << 16, name="regression-range")
        return np.stack([stats["low"], stats["high"]])

    return data.shared_draw(("regression-range",), np.random.RandomState(0), compute)


def joint_gmm(
    data: RowBlocks,
    n_components: int,
    random_state: np.random.RandomState,
    reg_covar: float,
) -> GaussianParams:
    """A full-covariance Gaussian mixture on a sample of joint (x, y) rows.

    Row weights of ``data`` (its ``weight`` array) weigh the sample's fit.
    """
    return fit_on_sample(
        data,
        n_components,
        random_state,
        covariance_type="full",
        reg_covar=max(reg_covar, 1e-6),
        joint=True,
    )


def _shift(centers: np.ndarray, x_center: np.ndarray, y_center: float) -> np.ndarray:
    """Joint centres in the kernels' frame: x less ``x_center``, y less ``y_center``."""
    return centers - np.append(x_center, y_center)


# ------------------------------------------------------------------ short-em
def short_em_params(
    data: RowBlocks,
    random_state: np.random.RandomState,
    *,
    n_components: int,
    config: RegressionConfig,
    reg_covar: float,
    tile_rows: int,
    x_range: np.ndarray | None = None,
) -> RegressionParams:
    """``init_params='short-em'``: the best of many short EM runs on a sample.

    In the spirit of Biernacki, Celeux and Govaert's emEM (2003): many cheap
    starts, a few EM iterations each, and only the most promising continued.
    On a uniform sample of at most ``short-em.sample-rows`` rows held in
    memory, every method of :data:`SHORT_EM_CANDIDATES` (each its own random
    draws) and ``short-em.random-lines`` sets of K lines through random
    rows start ``short-em.steps`` EM iterations; the best
    ``short-em.finalists`` by the sample's log-likelihood run on to
    convergence (``short-em.long-steps``, ``short-em.tol``: the
    ``daskmix.regression.short-em`` config keys), and the
    best of those that is not degenerate
    (:func:`~daskmix.regression.degenerate.degenerate_components`) is the
    start. Every draw comes from ``random_state`` and rows are picked by
    global row number, so the start depends on ``random_state`` only, not on
    the chunking, and every restart is a different draw. The parameters are
    the sample fit's, in the data's frame (its ``x_center`` and noise floor).

    When ``data`` carries row weights (its ``weight`` array) the sample
    keeps its rows' weights
    (:func:`~daskmix.cluster.starts.weighted_sample`, rows of weight zero
    left out) and every start and EM run on it is weighted; effective row
    counts (the degeneracy rule) are sums of weights.
    """
    K = n_components
    short_em = {
        key: settings.get(f"regression.short-em.{key}")
        for key in (
            "sample-rows",
            "steps",
            "finalists",
            "random-lines",
            "long-steps",
            "tol",
        )
    }
    n_head = min(data.n_samples, settings.get("regression.head-rows"))
    head = read_rows(data, np.arange(n_head))
    head_y = head["y"]
    x_center = np.asarray(head["X"], dtype=np.float64).mean(axis=0)
    x_center = x_center.astype(data.dtype).astype(np.float64)
    if data.weight is not None:
        taken = weighted_sample(data, short_em["sample-rows"], random_state, K).named()
    else:
        picked = sample_indices(data.n_samples, short_em["sample-rows"], random_state)
        taken = read_rows(data, picked)
    arrays = {
        "X": np.asarray(taken["X"], np.float64),
        "y": np.asarray(taken["y"], np.float64).reshape(-1),
    }
    for name in ("weight", "trials"):
        if name in taken:
            arrays[name] = np.asarray(taken[name], np.float64).reshape(-1)
    sample = RowBlocks(arrays)
    n_rows = sample.n_samples
    # effective rows for the degeneracy rule: the sample's summed weight
    mass = n_rows if sample.weight is None else float(sample.weight.sum())
    n_coef = n_coefficients(
        len(_columns(config.expert_columns, data.n_features)), config.fit_intercept
    )
    # each start runs as soon as it is drawn (the runs draw nothing), and only
    # the best finalists are kept: wide data's parameters are
    # large (a full gate holds K x D x D values)
    finalists: list = []

    def run_short(position: int, params: RegressionParams) -> None:
        run = _sample_em(sample, params, config, short_em["steps"], 0.0, tile_rows)
        finalists.append(((_rank(run, mass, n_coef), position), run))
        finalists.sort(key=lambda entry: entry[0])
        del finalists[short_em["finalists"] :]

    frame = None
    position = 0
    for method, count in SHORT_EM_CANDIDATES:
        needed = {"kmeans-pairs": 2 * K, "kmeans-chain": K + 1}.get(method, K)
        if n_rows < needed:
            continue
        for _ in range(count):
            params = initial_params(
                sample,
                random_state,
                n_components=K,
                method=method,
                config=config,
                reg_covar=reg_covar,
                tile_rows=tile_rows,
                x_range=x_range,
            )
            frame = params if frame is None else frame
            run_short(position, params)
            position += 1
    for _ in range(short_em["random-lines"]):
        run_short(position, random_lines(sample, frame, K, config, random_state))
        position += 1
    best, best_rank = None, None
    while finalists:
        _, (params, _) = finalists.pop(0)
        run = _sample_em(
            sample,
            params,
            config,
            short_em["long-steps"],
            short_em["tol"],
            tile_rows,
        )
        rank = _rank(run, mass, n_coef)
        if best_rank is None or rank < best_rank:  # the first of equals, as min()
            best, best_rank = run[0], rank
    return replace(best, x_center=x_center, noise_floor=noise_floor_from_sample(head_y))


def _rank(run, n_rows: float, n_coef: int) -> tuple[bool, float]:
    """Sort key: proper fits first, then the higher log-likelihood."""
    params, loglik = run
    degenerate = bool(
        degenerate_components(params.noise_variance, params.weights * n_rows, n_coef)
    )
    return degenerate, -loglik


def _sample_em(
    sample: RowBlocks,
    params: RegressionParams,
    config: RegressionConfig,
    n_steps: int,
    tol: float,
    tile_rows: int,
) -> tuple[RegressionParams, float]:
    """EM on the in-memory sample; the parameters and their mean log-likelihood."""
    loglik = -np.inf
    whole = Tile(sample.named())
    for _ in range(n_steps):
        plan = make_plan(params, config, sample.dtype)
        if sample.n_samples <= tile_rows:
            # one tile: no thread pool round trip for a millisecond of work
            stats = em_kernel(whole, plan)
        else:
            stats = sample.map_reduce(em_kernel, plan, tile_rows)
        previous, loglik = loglik, float(stats["loglik"] / stats["n_rows"])
        if not all(np.all(np.isfinite(value)) for value in stats.values()):
            return params, -np.inf
        params = m_step(stats, params, config)
        if abs(loglik - previous) < tol:
            break
    return params, loglik


def random_lines(
    sample: RowBlocks,
    frame: RegressionParams,
    n_components: int,
    config: RegressionConfig,
    random_state: np.random.RandomState,
) -> RegressionParams:
    """K lines, each through ``n_coef`` distinct random rows of the sample.

    The lines are exact (minimum-norm) fits of their rows; every line gets
    the share of the sample rows nearest to it and a robust variance of their
    residuals (median squared residual / 0.4549, the pooled one when fewer
    than ``n_coef + 1`` rows are nearest), so that a line through rows of a
    true line starts tight even among outliers, and (``gating='gaussian'``)
    the same gate, the Gaussian of all sample rows, so that the first E-step
    from them assigns rows by their residuals alone (a logistic gate: flat,
    at the lines' weights). ``frame`` supplies ``x_center``, the noise floor
    and the column range. A weighted sample (a ``weight`` array) weighs the
    rows in the lines' weights and the gate. For the Poisson and binomial
    families the lines pass through the rows' linearised targets (the log
    of the counts, the logit of the proportions, both kept finite) and the
    variances are not used.
    """
    fam = family(config.family)
    x_all, row_weight = sample.X, sample.weight
    x = select(x_all, config.expert_columns)
    y = fam.linearized(sample.y, sample.get("trials"))
    if config.offset_column is not None:
        offset = x_all[:, config.offset_column]
        y = y - (np.log(offset) if config.offset_log else offset)
    n_rows, n_features = x.shape
    n_coef = n_coefficients(n_features, config.fit_intercept)
    design = np.column_stack([x, np.ones(n_rows)]) if config.fit_intercept else x
    coef = np.empty((n_components, n_features))
    intercept = np.zeros(n_components)
    for k in range(n_components):
        rows = random_state.choice(n_rows, size=min(n_coef, n_rows), replace=False)
        solution = np.linalg.lstsq(design[rows], y[rows], rcond=None)[0]
        coef[k] = solution[:n_features]
        if config.fit_intercept:
            intercept[k] = solution[-1]
    residuals = y[:, None] - (x @ coef.T + intercept)
    # each line's variance and weight from the rows nearest to it: a line
    # through rows of no true line gets a wide component, as in the best fit
    # of lines with outliers
    nearest = np.argmin(residuals**2, axis=1)
    squares = residuals[np.arange(n_rows), nearest] ** 2
    counts = np.bincount(nearest, minlength=n_components).astype(np.float64)
    # robust: the median squared residual over that of a standard normal, so
    # that a line through rows of a true line is tight despite outliers
    pooled = float(np.median(squares)) / CHI2_1_MEDIAN
    variance = np.array(
        [
            np.median(squares[nearest == k]) / CHI2_1_MEDIAN
            if counts[k] > n_coef
            else pooled
            for k in range(n_components)
        ]
    )
    variance = np.maximum(variance + config.reg_covar, frame.noise_floor)
    if not fam.has_noise:
        variance = np.ones(n_components)
    mass = counts
    if row_weight is not None:
        # weighted shares, scaled to the rows: the same +1 prior per line
        mass = np.bincount(nearest, weights=row_weight, minlength=n_components)
        mass = mass * (n_rows / row_weight.sum())
    weights = (mass + 1.0) / (mass + 1.0).sum()
    x_gate = select(x_all, config.gate_columns)
    return replace(
        frame,
        weights=weights,
        coef=coef,
        intercept=intercept,
        noise_variance=variance,
        gate=gate(config.gating).start(x_gate, weights, config, row_weight),
    )
