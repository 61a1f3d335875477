"""Sphinx configuration: numpydoc API pages, a sphinx-gallery from examples/.

Build with warnings as errors, as CI does::

    sphinx-build -W -b html docs docs/_build/html

Environment switches (both optional):

``DASKMIX_DOCS_EXAMPLES``
    ``fast`` (default): run the gallery examples except those in
    :data:`SLOW_EXAMPLES` (none at present: every example runs in seconds),
    whose code is shown without running it; ``all``: run every example;
    ``none``: run none.
``DASKMIX_DOCS_OFFLINE``
    ``1``: do not try to download the intersphinx inventories (links to
    numpy, scikit-learn, ... are then plain text). Without it the build tries
    them and, where a site cannot be reached, falls back silently to an empty
    local inventory, so an offline build neither fails nor warns.
"""

from __future__ import annotations

import os
import re
import sys
import zlib
from pathlib import Path

DOCS = Path(__file__).resolve().parent
# document the package of this source tree, installed or not
sys.path.insert(0, str(DOCS.parent))
sys.path.insert(0, str(DOCS / "_ext"))

from markup import quote_fitted_attribute_names  # noqa: E402

import daskmix  # noqa: E402

project = "daskmix"
author = "the daskmix developers"
copyright = "the daskmix developers"
version = release = daskmix.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "**/*.ipynb", "auto_examples/*.py"]
# the theme of scikit-learn, dask and xarray; wide code blocks scroll instead
# of being cut off
html_theme = "pydata_sphinx_theme"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_title = f"daskmix {release}"
default_role = "literal"

# performance.rst is written on another branch; until it is merged the index's
# toctree entry for it is the one missing document this build tolerates
if not (DOCS / "performance.rst").is_file():
    suppress_warnings = ["toc.not_readable"]

# ---------------------------------------------------------------- API pages
autosummary_generate = True
# members defined in daskmix (also those a daskmix base class defines) get full
# entries; those defined by scikit-learn (get_params, set_params, set_output,
# set_*_request, ...) are listed in each class's methods table and documented
# by scikit-learn: their docstrings link into scikit-learn's own user guide.
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"  # numpydoc's Parameters sections say it all
numpydoc_show_class_members = False  # the class template lists the methods
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = True
numpydoc_xref_ignore = "all"  # link only the names below
# numpydoc's defaults for these use :term:, :ref: and "python:" targets, which
# warn or show "python:int" when the inventories cannot be read (offline
# builds); plain object names link when they can and read well when they cannot
numpydoc_xref_aliases = {
    **{name: name for name in ("None", "True", "False", "list", "tuple", "dict")},
    **{name: name for name in ("str", "float", "int", "bool", "callable")},
    "boolean": "bool",
    "string": "str",
    "iterable": "collections.abc.Iterable",
    "sequence": "collections.abc.Sequence",
    "generator": "collections.abc.Generator",
    "array-like": "numpy.typing.ArrayLike",
    "array_like": "numpy.typing.ArrayLike",
    "scalar": "numbers.Number",
    "ndarray": "numpy.ndarray",
    "RandomState": "numpy.random.RandomState",
    "dask array": "dask.array.Array",
    "DataFrame": "pandas.DataFrame",
    "Series": "pandas.Series",
    "DataArray": "xarray.DataArray",
    "GaussianMixture": "daskmix.GaussianMixture",
    "RegressionMixture": "daskmix.RegressionMixture",
    "KMeans": "daskmix.KMeans",
}


# ------------------------------------------------------------- intersphinx
_OFFLINE = os.environ.get("DASKMIX_DOCS_OFFLINE", "") not in ("", "0")
_EMPTY_INVENTORY = DOCS / "_build" / "empty-objects.inv"


def _empty_inventory() -> str:
    """A valid, empty inventory: the fallback for sites that cannot be reached."""
    if not _EMPTY_INVENTORY.is_file():
        _EMPTY_INVENTORY.parent.mkdir(parents=True, exist_ok=True)
        header = (
            b"# Sphinx inventory version 2\n# Project: none\n# Version: \n"
            b"# The remainder of this file is compressed using zlib.\n"
        )
        _EMPTY_INVENTORY.write_bytes(header + zlib.compress(b""))
    return str(_EMPTY_INVENTORY)


_SITES = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "dask": "https://docs.dask.org/en/stable/",
    "distributed": "https://distributed.dask.org/en/stable/",
    "sklearn": "https://scikit-learn.org/stable/",
    "xarray": "https://docs.xarray.dev/en/stable/",
    "pandas": "https://pandas.pydata.org/docs/",
}
# each site's own inventory first; an empty local one when it cannot be read
# (Sphinx only logs, without a warning, failures that have a working fallback)
intersphinx_mapping = {
    name: (url, (_empty_inventory(),) if _OFFLINE else (None, _empty_inventory()))
    for name, url in _SITES.items()
}
intersphinx_timeout = 10

# ------------------------------------------------------------------ gallery
#: examples that take more than a few seconds: shown, but run only with
#: DASKMIX_DOCS_EXAMPLES=all. Empty: every example runs in the default build,
#: so that every one has its figure; make a slow example small rather than
#: adding it here.
SLOW_EXAMPLES: set[str] = set()
_EXAMPLES = os.environ.get("DASKMIX_DOCS_EXAMPLES", "fast")
if _EXAMPLES not in ("fast", "all", "none"):
    raise ValueError(
        f"DASKMIX_DOCS_EXAMPLES must be 'fast', 'all' or 'none', got {_EXAMPLES!r}"
    )
if _EXAMPLES == "all" or not SLOW_EXAMPLES:
    _pattern = r"[\\/]plot_[^\\/]*\.py$"
else:
    _slow = "|".join(re.escape(name) for name in sorted(SLOW_EXAMPLES))
    _pattern = rf"[\\/](?!(?:{_slow})$)plot_[^\\/]*\.py$"

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": _pattern,
    "plot_gallery": _EXAMPLES != "none",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("daskmix",),
    "backreferences_dir": "generated/backreferences",
    "matplotlib_animations": False,
}


def _skip_scikit_learn_members(app, what, name, obj, skip, options):
    """Leave out of the class pages the methods that scikit-learn defines."""
    module = getattr(getattr(obj, "__func__", obj), "__module__", None) or ""
    if what == "class" and module.split(".")[0] == "sklearn":
        return True
    return None


def setup(app):
    app.connect("autodoc-process-docstring", quote_fitted_attribute_names)
    app.connect("autodoc-skip-member", _skip_scikit_learn_members)
