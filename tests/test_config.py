"""The daskmix dask config namespace: checked reads and the documented table."""

from pathlib import Path

import dask
import pytest

from daskmix import GaussianMixture, config

TABLE = Path(__file__).parent.parent / "docs" / "configuration.rst"


def test_every_key_has_its_default():
    # the registered defaults (the test suite's conftest sets some keys)
    defaults = dask.config.defaults
    for key, setting in config.SETTINGS.items():
        node = next(d["daskmix"] for d in defaults if "daskmix" in d)
        for part in key.split("."):
            node = node[part]
        assert node == setting.default
        with dask.config.set({"daskmix": {}}):
            value = config.get(key)
        if setting.kind == "bytes" and isinstance(setting.default, str):
            assert value == dask.utils.parse_bytes(setting.default)
        else:
            assert value == setting.default


def test_the_documented_table_is_the_settings():
    """docs/configuration.rst ends with the table of every key, as generated."""
    text = TABLE.read_text()
    rows = text[text.index("   * - ``daskmix.") :]
    assert rows == config.settings_table(), (
        "docs/configuration.rst is out of date: regenerate its rows with "
        "python -m daskmix.config"
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("small-data-bytes", -1),
        ("small-data-bytes", "lots"),
        ("split-every", 1),
        ("split-every", 2.5),
        ("minibatch.min-smoothing", 2.0),
        ("mallopt", "maybe"),
        ("tile-budget-bytes", True),
    ],
)
def test_a_bad_value_names_the_key(key, value):
    with dask.config.set({f"daskmix.{key}": value}):
        with pytest.raises(ValueError, match=f"'daskmix.{key}'"):
            config.get(key)


def test_a_fit_reads_its_settings_when_it_runs():
    """A negative byte size is refused when the fit reads it, not accepted."""
    import dask.array as da
    import numpy as np

    X = da.from_array(np.random.default_rng(0).standard_normal((200, 2)), chunks=50)
    with dask.config.set({"daskmix.small-data-bytes": -5}):
        with pytest.raises(ValueError, match="small-data-bytes"):
            GaussianMixture(2, random_state=0).fit(X)


def test_settings_accept_strings_from_the_environment():
    with dask.config.set({"daskmix.mallopt": "False", "daskmix.split-every": "8"}):
        assert config.get("mallopt") is False
        assert config.get("split-every") == 8
