"""All or nothing: a fit that does not finish leaves the estimator as it was."""

from __future__ import annotations

import functools
from collections.abc import Callable


def fit_all_or_nothing(fit: Callable) -> Callable:
    """Decorate ``fit``: on any exception, restore the estimator's attributes.

    A ``KeyboardInterrupt`` (or a lost cluster, or bad input found in a late
    pass) during ``fit`` then leaves an unfitted estimator unfitted and a
    fitted one with its previous fitted state, never a mix of the two
    (validation sets ``n_features_in_`` first, for instance). The snapshot is
    a shallow copy of ``vars(estimator)``: fitted attributes are replaced by
    ``fit``, never modified in place.
    """

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        before = dict(vars(self))
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            raise

    return wrapper
