"""Docstring fix-ups for the Sphinx build, importable without Sphinx.

``tests/test_docs_markup.py`` runs every public docstring through
:func:`quote_fitted_attribute_names` as the build does, then checks the reST.
"""

from __future__ import annotations

import re

_BARE_ATTRIBUTE = re.compile(r"(?<![`\w.*])([A-Za-z]\w*_)(?![`\w])")
# text already quoted: ``inline literals`` (across lines too), then `roles`
_QUOTED = re.compile(r"(``.+?``|`[^`]+`)", re.DOTALL)


def _quote_line(line: str) -> str:
    if line.lstrip().startswith((">>>", "...")):
        return line  # doctest lines are code
    return _BARE_ATTRIBUTE.sub(r"``\1``", line)


def _quote_text(text: str) -> str:
    """Quote the bare names of ``text``, outside its ``.. math::`` blocks."""
    out, math_indent = [], None
    for line in text.split("\n"):
        indent = len(line) - len(line.lstrip())
        if math_indent is not None and (not line.strip() or indent > math_indent):
            out.append(line)  # LaTeX: \sum_{k} is no link
            continue
        math_indent = indent if line.lstrip().startswith(".. math::") else None
        out.append(_quote_line(line))
    return "\n".join(out)


def quote_fitted_attribute_names(app, what, name, obj, options, lines) -> None:
    """Quote bare fitted-attribute names: ``(n_samples, n_components_)``.

    In reST a bare word ending in ``_`` is a link to a target of that name, so
    a shape written as ``(n_features_in_,)`` in a numpydoc type fails the build
    ("Unknown target name"). Docstrings never mean such links. Text already
    between backticks (an inline literal such as
    ``ceil(n_steps_ * batch_size / n_samples)``, a role's target) is left as
    it is: quoting inside it nested one literal in another. Doctest lines and
    ``.. math::`` blocks are left as they are. Connected to
    ``autodoc-process-docstring``; changes ``lines`` in place.
    """
    parts = _QUOTED.split("\n".join(lines))
    text = "".join(part if i % 2 else _quote_text(part) for i, part in enumerate(parts))
    lines[:] = text.split("\n")
