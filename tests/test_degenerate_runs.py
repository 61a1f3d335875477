"""n_init never prefers a degenerate optimum, and the kept one is named."""

import numpy as np
import pytest

from daskmix import RegressionMixture
from daskmix._em.run import EMResult, better_run, warn_degenerate
from daskmix._engine.stats import Stats


def test_a_proper_run_beats_a_degenerate_one_with_a_higher_bound():
    proper = EMResult(params=None, lower_bound=-2.0)
    collapsed = EMResult(params=None, lower_bound=5.0, degenerate=[1])
    assert better_run(proper, collapsed)
    assert not better_run(collapsed, proper)
    # among runs of the same kind, the larger bound wins as before
    assert better_run(EMResult(None, -1.0), proper)
    assert better_run(EMResult(None, 6.0, degenerate=[0]), collapsed)


def test_regression_model_flags_and_names_collapsed_components():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (300, 1))
    y = 2 * X[:, 0] + 0.1 * rng.standard_normal(300)
    model = RegressionMixture(3, gating="none", random_state=0).fit(X, y)
    mixture_model = model._model(1)
    params = model._params()
    # component 2: a noise variance 1e6 times below the others' and 2 rows
    params = params.__class__(
        **{
            **params.__dict__,
            "noise_variance": np.array([0.01, 0.01, 1e-8]),
        }
    )
    stats = Stats(nk=np.array([150.0, 148.0, 2.0]))
    assert mixture_model.degenerate(params, stats) == [2]
    with pytest.warns(UserWarning, match="Component.s. 2 of the fitted regression"):
        warn_degenerate(mixture_model, [2])
