"""numpydoc validation of the public API, and its listing in the API reference.

The public API is what ``daskmix.__all__`` exports (and the public functions of
public modules such as ``daskmix.metrics``, when there are some): every class
with every public method it defines, and every function. Methods that
scikit-learn defines (``get_params``, ``set_output``, ``set_*_request``, ...) are
scikit-learn's docstrings, validated by scikit-learn under its own rules; the
docs leave them out of the class pages for the same reason.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re
from pathlib import Path

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

import daskmix  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: Checks left out everywhere, each for a reason:
#: GL01, GL02 -- where the summary starts relative to the quotes: PEP 257's
#:   ``"""Summary.`` on the opening line is this project's style (scikit-learn
#:   leaves both out too).
#: RT02 -- "the first line of Returns should contain only the type": naming a
#:   return value (``labels : ndarray of shape (n_samples,)``) lets its
#:   description refer to it; scikit-learn leaves it out for the same reason.
IGNORED = {"GL01", "GL02", "RT02"}
#: Left out for methods only (required of classes and functions), as in
#: scikit-learn: an extended summary, See Also and Examples belong to the class
#: page; a method's parameters and returns are what its entry must document.
IGNORED_FOR_METHODS = {"ES01", "SA01", "EX01"}
#: Public modules besides ``daskmix`` whose ``__all__`` functions are public API
#: (validated when the module exists).
PUBLIC_MODULES = ("daskmix.metrics",)


def _defined_in_daskmix(obj) -> bool:
    func = getattr(obj, "fget", None) or getattr(obj, "__func__", obj)
    module = getattr(inspect.unwrap(func), "__module__", None) or ""
    return module.split(".")[0] == "daskmix"


def public_methods(cls) -> list[str]:
    """Public methods and properties of ``cls`` that daskmix defines."""
    names = []
    for name in sorted(dir(cls)):
        if name.startswith("_"):
            continue
        obj = getattr(cls, name)
        if (callable(obj) or isinstance(obj, property)) and _defined_in_daskmix(obj):
            names.append(name)
    return names


def _module_objects(module) -> list[tuple[str, object]]:
    """Public classes and functions of a public module: its ``__all__``, or else
    every name not starting with ``_`` that the module itself defines."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            name
            for name, obj in vars(module).items()
            if not name.startswith("_")
            and (inspect.isfunction(obj) or inspect.isclass(obj))
            and obj.__module__ == module.__name__
        ]
    return [
        (f"{module.__name__}.{name}", getattr(module, name))
        for name in names
        if inspect.isfunction(getattr(module, name))
        or inspect.isclass(getattr(module, name))
    ]


def public_objects() -> list[tuple[str, object]]:
    """(import path, object) of every exported class and public function.

    A module in ``daskmix.__all__`` (``daskmix.metrics``) stands for its public
    classes and functions, not for itself.
    """
    found, modules = [], []
    for name in daskmix.__all__:
        obj = getattr(daskmix, name)
        if inspect.ismodule(obj):
            modules.append(obj)
        else:
            found.append((f"daskmix.{name}", obj))
    package_dir = Path(daskmix.__file__).parent
    for module_name in PUBLIC_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        # only this source tree's modules (an editable install of another
        # checkout can lend a submodule this tree does not have)
        if package_dir not in Path(module.__file__).resolve().parents:
            continue
        if module not in modules:
            modules.append(module)
    for module in modules:
        found += _module_objects(module)
    return found


def validation_errors(path: str, obj, is_method: bool) -> list[str]:
    result = numpydoc_validate.validate(path)
    errors = []
    for code, message in result["errors"]:
        if code in IGNORED or (is_method and code in IGNORED_FOR_METHODS):
            continue
        if code in ("PR02", "GL08") and isinstance(obj, property):
            # properties have no signature to check parameters against
            continue
        errors.append(f"{path}: {code} {message}")
    return errors


def _param(path: str, obj):
    return pytest.param(path, obj, id=path.removeprefix("daskmix."))


@pytest.mark.parametrize(
    ("path", "obj"), [_param(path, obj) for path, obj in public_objects()]
)
def test_docstrings_validate(path, obj):
    """A class with all its methods, or a function: no numpydoc errors."""
    errors = validation_errors(path, obj, is_method=False)
    if inspect.isclass(obj):
        for name in public_methods(obj):
            method = inspect.getattr_static(obj, name)
            errors += validation_errors(f"{path}.{name}", method, is_method=True)
    assert not errors, "numpydoc validation errors:\n" + "\n".join(errors)


def test_public_methods_found():
    """The method walk sees daskmix's own methods and skips scikit-learn's."""
    methods = public_methods(daskmix.KMeans)
    assert {"fit", "predict", "transform", "score", "fit_predict"} <= set(methods)
    # KMeans defines its own fit_transform (with sample_weight)
    assert not {"get_params", "set_params", "set_output"} & set(methods)


def test_validation_catches_errors(monkeypatch):
    """The filter keeps real errors: an undocumented parameter is reported."""

    def undocumented(x, y):
        """Do something.

        Returns
        -------
        int
            Something.
        """

    monkeypatch.setattr(
        importlib.import_module(__name__), "_undocumented", undocumented, raising=False
    )
    errors = validation_errors(f"{__name__}._undocumented", undocumented, False)
    assert any("PR01" in error for error in errors)


@pytest.mark.parametrize(
    ("path", "obj"),
    [pytest.param(p, o, id=p.removeprefix("daskmix.")) for p, o in public_objects()],
)
def test_docstring_examples_run(path, obj):
    """The Examples sections run and print what they show (doctest)."""
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    objects = [obj]
    if inspect.isclass(obj):
        objects += [getattr(obj, name) for name in public_methods(obj)]
    for item in objects:
        for test in finder.find(item, path, globs={}):
            runner.run(test)
    assert runner.failures == 0


def api_page_names() -> set[str]:
    """Names listed in the autosummary blocks of docs/api.rst."""
    text = (ROOT / "docs" / "api.rst").read_text()
    names = set()
    for block in re.finditer(r"^\.\. autosummary::\n((?:[ \t]+.*\n|\n)*)", text, re.M):
        for line in block.group(1).splitlines():
            item = line.strip()
            if item and not item.startswith(":") and re.match(r"[~\w]", item):
                names.add(item.lstrip("~"))
    return names


def test_api_reference_lists_every_public_name():
    listed = api_page_names()
    missing = [
        path.removeprefix("daskmix.")
        for path, _ in public_objects()
        if path.removeprefix("daskmix.") not in listed
    ]
    assert not missing, f"add to the autosummary blocks of docs/api.rst: {missing}"
