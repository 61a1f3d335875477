"""Docstring paragraphs that several estimators share, filled in by name.

A method's docstring holds a line ``{name}`` where a shared paragraph goes;
:func:`fill_doc` replaces it with the paragraph, indented like the line. The
text then lives once, and numpydoc validation sees the filled docstring.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable

SAMPLE_WEIGHT_FIT = """
Weight of each row (frequency weights): every EM iteration multiplies the
row's contribution to the statistics and to the log-likelihood by its
weight, so an integer weight ``w`` fits as ``w`` copies of the row and
weight 0 leaves the row out. ``lower_bound_`` is then the weighted mean
log-likelihood (over the sum of the weights) and ``tol`` applies to it. The
start uses the weights too (see the user guide, "Sample weights").
Non-negative, finite, with at least ``n_components`` non-zero values;
numpy, or for dask ``X`` also a dask array (rechunked to X's row blocks).
With ``algorithm='minibatch'`` the weights travel with the rows of every
mini-batch (see the user guide). None: unweighted.
"""

SAMPLE_WEIGHT_PARTIAL_FIT = """
Weight of each row of the batch (frequency weights): the batch's statistics
are weighted sums divided by the batch's summed weight, and the rows seen so
far grow by that sum, so a call with integer weights ``w`` makes the update
of its rows repeated ``w`` times (weight 0 leaves a row out). The batch's
lower bound is its weighted mean log-likelihood. Rules as for :meth:`fit`;
the first call needs at least ``n_components`` non-zero weights. None:
unweighted.
"""


def fill_doc(**paragraphs: str) -> Callable:
    """Decorator: put ``paragraphs`` in place of their ``{name}`` lines.

    Parameters
    ----------
    **paragraphs : str
        Text for each placeholder name, without indentation.

    Returns
    -------
    callable
        A decorator that fills the function's docstring and returns it.
    """

    def decorate(function):
        doc = function.__doc__
        for name, text in paragraphs.items():
            token = "{" + name + "}"
            line = next(line for line in doc.splitlines() if line.strip() == token)
            indent = line[: len(line) - len(line.lstrip())]
            doc = doc.replace(line, textwrap.indent(text.strip("\n"), indent))
        function.__doc__ = doc
        return function

    return decorate
