"""The preview cache on disk stays within WENDELIN_UI_CACHE, dropping the least recently used."""

from __future__ import annotations

import os

import pytest
from Products.Wendelin.ui import cache


@pytest.fixture
def instance(tmp_path, monkeypatch):
    monkeypatch.setenv("WENDELIN_INSTANCE", str(tmp_path))
    monkeypatch.delenv("WENDELIN_VAR", raising=False)
    monkeypatch.setenv("WENDELIN_UI_CACHE", "10KiB")
    return tmp_path / "var" / "cache" / "ui"


def _sizes(folder):
    return sum(entry.stat().st_size for entry in os.scandir(folder) if entry.name.endswith(".bin"))


def test_forty_previews_of_one_kib_keep_at_most_ten_kib(instance):
    for n in range(40):
        data, hit = cache.cached(("plot", n), lambda n=n: bytes([n]) * 1024)
        assert (data, hit) == (bytes([n]) * 1024, False)
    assert _sizes(instance) <= 10 * 1024
    assert cache.cached(("plot", 39), lambda: b"recomputed") == (bytes([39]) * 1024, True)
    assert cache.cached(("plot", 0), lambda: b"recomputed") == (b"recomputed", False)


def test_a_hit_keeps_a_preview_longer_than_older_unused_ones(instance):
    """File times are set explicitly: the kernel's clock for them ticks in milliseconds."""
    cache.cached(("kept",), lambda: b"k" * 1024)
    for n in range(5):
        cache.cached(("other", n), lambda: b"o" * 1024)
    old = os.stat(next(instance.glob("*.bin"))).st_mtime - 100
    for entry in instance.glob("*.bin"):
        os.utime(entry, (old, old))  # all six written long ago
    assert cache.cached(("kept",), lambda: b"lost") == (b"k" * 1024, True)  # used now
    for n in range(5, 14):
        cache.cached(("other", n), lambda: b"o" * 1024)
    assert cache.cached(("kept",), lambda: b"lost") == (b"k" * 1024, True)
    assert cache.cached(("other", 0), lambda: b"gone") == (b"gone", False)


def test_a_preview_larger_than_the_bound_is_served_but_not_kept(instance):
    data, hit = cache.cached(("huge",), lambda: b"x" * 20000)
    assert (len(data), hit) == (20000, False)
    assert _sizes(instance) == 0


def test_the_bound_is_a_validated_setting(monkeypatch, tmp_path):
    from Products.Wendelin.errors import ConfigurationError
    from Products.Wendelin.settings import Settings

    monkeypatch.setenv("WENDELIN_INSTANCE", str(tmp_path))
    monkeypatch.setenv("WENDELIN_UI_CACHE", "lots")
    with pytest.raises(ConfigurationError):
        Settings.from_environ()
