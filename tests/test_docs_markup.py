"""The reST of the documentation renders as written: every public docstring
(after numpydoc and the build's own fix-ups, as Sphinx sees it), every page under
docs/ and every gallery example's text parse with docutils without a problem,
and no backtick is left in the rendered text (a broken or nested inline literal
such as ``ceil(``n_steps_`` ...)`` shows its backticks on the page).

Sphinx's roles and directives are stood in for by plain ones: this checks the
markup, the Sphinx build (``-W``) checks the references."""

from __future__ import annotations

import importlib.util
import inspect
import io
import re
from pathlib import Path

import pytest
from docutils import nodes
from docutils.core import publish_doctree
from docutils.parsers.rst import Directive, directives, roles
from numpydoc.docscrape_sphinx import get_doc_object

import daskmix

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load_markup():
    spec = importlib.util.spec_from_file_location("markup", DOCS / "_ext" / "markup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MARKUP = _load_markup()

SPHINX_ROLES = (
    "class func meth attr data doc ref mod obj exc term envvar program option "
    "py:class py:func py:meth py:attr py:data py:mod py:obj py:exc numref"
).split()
SPHINX_DIRECTIVES = (
    "toctree autosummary currentmodule automodule autoclass autofunction "
    "only versionadded versionchanged deprecated seealso minigallery "
    "literalinclude highlight glossary index"
).split()


def _role(name, rawtext, text, lineno, inliner, options=None, content=None):
    return [nodes.literal(rawtext, text)], []


class _Directive(Directive):
    """Any Sphinx directive: its content parsed as reST, its arguments kept."""

    has_content = True
    optional_arguments = 10
    final_argument_whitespace = True
    option_spec = None  # any option

    def run(self):
        node = nodes.container()
        if self.content and self.name not in ("toctree", "autosummary"):
            self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


class _AnyOptions(dict):
    def __missing__(self, key):
        return directives.unchanged


_Directive.option_spec = _AnyOptions()
for _name in SPHINX_ROLES:
    roles.register_local_role(_name, _role)
for _name in SPHINX_DIRECTIVES:
    directives.register_directive(_name, _Directive)

CODE = (nodes.literal_block, nodes.doctest_block, nodes.comment, nodes.raw)


def problems(text: str, source: str) -> list[str]:
    """System messages (warnings and worse) and backticks left in the text."""
    stream = io.StringIO()
    doctree = publish_doctree(
        ".. default-role:: literal\n\n" + text,  # as docs/conf.py sets it
        source_path=source,
        settings_overrides={
            "report_level": 5,
            "halt_level": 5,
            "warning_stream": stream,
            "file_insertion_enabled": False,
            "raw_enabled": False,
        },
    )
    found = [
        f"{source}: {msg.astext()[:200]}"
        for msg in doctree.findall(nodes.system_message)
        if msg["level"] >= 2
    ]
    for node in doctree.findall(nodes.Text):
        parent = node.parent
        if any(isinstance(p, CODE) for p in _ancestors(parent)):
            continue
        value = node.astext()
        if isinstance(parent, nodes.literal):
            bad = "``" in value
        else:
            bad = "`" in value
        if bad:
            found.append(f"{source}: backticks left in {value[:120]!r}")
    return found


def _ancestors(node):
    while node is not None:
        yield node
        node = node.parent


def public_objects():
    """(name, object) of every documented object: classes and their members."""
    for name in daskmix.__all__:
        obj = getattr(daskmix, name)
        if inspect.ismodule(obj):
            for fname in dir(obj):
                func = getattr(obj, fname)
                if (
                    not fname.startswith("_")
                    and callable(func)
                    and getattr(func, "__module__", "").startswith("daskmix")
                ):
                    yield f"{name}.{fname}", func
            continue
        yield name, obj
        if not inspect.isclass(obj):
            continue
        for member, value in inspect.getmembers(obj):
            if member.startswith("_"):
                continue
            raw = inspect.getattr_static(obj, member, None)
            target = getattr(raw, "fget", None) or getattr(raw, "__func__", raw)
            module = getattr(target, "__module__", None) or ""
            if module.startswith("daskmix") and (value.__doc__ or "").strip():
                yield f"{name}.{member}", value


def rendered_docstring(obj) -> str:
    """The docstring as Sphinx gets it: numpydoc's reST, then the fix-ups."""
    lines = str(get_doc_object(obj, config={"show_class_members": False})).split("\n")
    MARKUP.quote_fitted_attribute_names(None, "", "", obj, {}, lines)
    return "\n".join(lines)


def test_every_public_docstring_renders():
    found, n_checked = [], 0
    for name, obj in public_objects():
        found += problems(rendered_docstring(obj), name)
        n_checked += 1
    assert n_checked > 50
    assert not found, "\n".join(found)


def _pages():
    skip = {"_build", "generated", "auto_examples", "_templates"}  # built
    skip.add("sg_execution_times.rst")
    return sorted(
        p for p in DOCS.rglob("*.rst") if not skip & set(p.relative_to(DOCS).parts)
    )


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_every_page_renders(page):
    assert not problems(page.read_text(), str(page.relative_to(ROOT)))


def _example_text(path: Path) -> str:
    """A gallery example's reST: its docstring and its ``# %%`` text blocks."""
    source = path.read_text()
    text = [inspect.cleandoc(re.match(r'\s*"""(.*?)"""', source, re.S).group(1))]
    for block in re.findall(r"^# %%\n((?:#.*\n)+)", source, re.M):
        text.append(re.sub(r"^# ?", "", block, flags=re.M))
    return "\n\n".join(text)


@pytest.mark.parametrize(
    "example", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.name
)
def test_every_example_text_renders(example):
    assert not problems(_example_text(example), example.name)


@pytest.mark.parametrize(
    "example", sorted((ROOT / "examples").glob("plot_*.py")), ids=lambda p: p.name
)
def test_every_example_saves_its_figure_named_after_it(example):
    # examples/README.txt: run as a script, each writes <name>.png
    figure = example.stem.removeprefix("plot_") + ".png"
    assert f'savefig("{figure}"' in example.read_text()


def test_the_check_finds_a_nested_literal():
    broken = "Steps: ``ceil(n_steps_ * batch_size / n_samples)`` passes."
    assert problems(broken, "ok") == []
    lines = [broken]
    MARKUP.quote_fitted_attribute_names(None, "", "", None, {}, lines)
    assert lines == [broken]  # the fix-up leaves literals alone
    nested = "Steps: ``ceil(``n_steps_`` * batch_size / n_samples)`` passes."
    assert any("backticks" in p for p in problems(nested, "nested"))
    assert problems("A bare `link`_ target.", "link")  # unknown target
    fixed = ["shape (n_samples, n_components_)"]
    MARKUP.quote_fitted_attribute_names(None, "", "", None, {}, fixed)
    assert fixed == ["shape (n_samples, ``n_components_``)"]
