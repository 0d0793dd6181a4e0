"""User input validation: bounded JSON, numbers, choices, the free-disk quota."""

from __future__ import annotations

import json

import pytest
from Products.Wendelin.errors import InvalidInputError, QuotaExceededError
from Products.Wendelin.inputs import (
    as_choice,
    as_float,
    as_int,
    check_free_disk,
    json_depth_ok,
    load_json,
    min_free_fraction,
)


def test_depth_counts_brackets_outside_strings_only():
    assert json_depth_ok("[" * 64 + "]" * 64)
    assert not json_depth_ok("[" * 65 + "]" * 65)
    assert not json_depth_ok("[" * 100_000)
    assert json_depth_ok('["' + "[" * 1000 + '"]')            # brackets inside a string
    assert json_depth_ok('["\\"' + "[" * 1000 + '"]')         # ... after an escaped quote
    assert not json_depth_ok('"\\\\"' + "[" * 65)             # an escaped backslash ends it


def test_load_json_refuses_deep_invalid_and_surrogates_and_bounds_size():
    with pytest.raises(InvalidInputError, match="deeper"):
        load_json("[" * 100_000)
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        load_json("{oops")
    with pytest.raises(InvalidInputError, match="surrogate"):
        load_json('{"cell": "\\ud800"}')
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        load_json(b"\xff\xfe")
    with pytest.raises(InvalidInputError, match="NaN"):
        load_json("[NaN]")
    with pytest.raises(QuotaExceededError):
        load_json("[1, 2, 3]", max_bytes=4)
    assert load_json(b'{"a": [1, {"b": "\\u00e9"}]}') == {"a": [1, {"b": "\u00e9"}]}


def test_a_large_notebook_like_body_is_accepted():
    body = json.dumps({"cells": [{"outputs": [{"data": {"image/png": "A" * 100_000}}]}] * 50})
    assert load_json(body)["cells"][0]["outputs"][0]["data"]["image/png"] == "A" * 100_000


@pytest.mark.parametrize("value", ["abc", "", None, "1.5", True, float("nan"), [], "9" * 5000])
def test_as_int_names_the_bad_value(value):
    with pytest.raises(InvalidInputError, match="n must be"):
        as_int("n", value, 0, 10**6)


def test_as_int_bounds_and_converts():
    assert as_int("n", "42", 0, 100) == 42 and as_int("n", 3.0) == 3
    with pytest.raises(InvalidInputError, match="at least 1"):
        as_int("n", 0, 1)
    with pytest.raises(InvalidInputError, match="at most 8"):
        as_int("n", 9, 0, 8)


def test_as_float_and_choice():
    assert as_float("x", "0.5", 0, 1) == 0.5
    for bad in ("nan", "inf", "abc", None):
        with pytest.raises(InvalidInputError):
            as_float("x", bad)
    assert as_choice("kind", "line", ("line", "spectrum")) == "line"
    with pytest.raises(InvalidInputError, match="line, spectrum"):
        as_choice("kind", "nope", ("line", "spectrum"))


def test_free_disk_quota(tmp_path, monkeypatch):
    check_free_disk(tmp_path, 1024)
    with pytest.raises(QuotaExceededError, match="WENDELIN_MIN_FREE_DISK"):
        check_free_disk(tmp_path, 1 << 62)
    monkeypatch.setenv("WENDELIN_MIN_FREE_DISK", "100%")
    assert min_free_fraction() == 0.9
    with pytest.raises(QuotaExceededError):
        check_free_disk(tmp_path, 1)      # 90% of the disk cannot be free here
    monkeypatch.setenv("WENDELIN_MIN_FREE_DISK", "0.25")
    assert min_free_fraction() == 0.25
