import os
import stat

import pytest
from Products.Wendelin.errors import ConfigurationError
from Products.Wendelin.settings import Settings, parse_size


@pytest.mark.parametrize(
    "text,expected",
    [("512MiB", 512 * 2**20), ("2G", 2 * 2**30), ("1048576", 2**20), ("64 KiB", 65536)],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


def test_parse_size_rejects_garbage_with_the_value():
    with pytest.raises(ConfigurationError, match="'lots'"):
        parse_size("lots")


def test_defaults_and_overrides(tmp_path):
    settings = Settings.from_environ({"WENDELIN_INSTANCE": str(tmp_path)})
    assert (settings.host, settings.port, settings.admin_user) == ("127.0.0.1", 8080, "zope")
    assert settings.var == tmp_path / "var"
    assert settings.etc == tmp_path / "etc"
    other = Settings.from_environ(
        {
            "WENDELIN_INSTANCE": str(tmp_path),
            "WENDELIN_VAR": str(tmp_path / "data"),
            "WENDELIN_PORT": "9000",
            "WENDELIN_HOST": "0.0.0.0",
            "WENDELIN_ADMIN_USER": "admin",
        }
    )
    assert (other.var, other.port, other.host, other.admin_user) == (
        tmp_path / "data", 9000, "0.0.0.0", "admin"
    )


@pytest.mark.parametrize(
    "key,value", [("WENDELIN_PORT", "http"), ("WENDELIN_PORT", "70000"),
                  ("WENDELIN_ADMIN_USER", "a:b"), ("WENDELIN_THREADS", "0"),
                  ("WENDELIN_CELL_WAIT", "soon"), ("WENDELIN_CELL_WAIT", "0"),
                  ("WENDELIN_CELL_USER_SHARE", "99"), ("WENDELIN_CELL_USER_SHARE", "none"),
                  ("WENDELIN_CELL_USER_SHARE", "\u00b2"), ("WENDELIN_THREADS", "\u0663")]
)
def test_bad_settings_name_the_value(tmp_path, key, value):
    with pytest.raises(ConfigurationError, match=repr(value)[1:-1].split(":")[0]):
        Settings.from_environ({"WENDELIN_INSTANCE": str(tmp_path), key: value})


def test_generated_password_is_stored_once_owner_only(tmp_path):
    settings = Settings.from_environ({"WENDELIN_INSTANCE": str(tmp_path)})
    first = settings.resolve_admin_password()
    assert len(first) >= 12
    mode = stat.S_IMODE(os.stat(settings.password_file).st_mode)
    assert mode == 0o600
    assert settings.resolve_admin_password() == first


def test_password_from_environment_wins(tmp_path):
    settings = Settings.from_environ(
        {"WENDELIN_INSTANCE": str(tmp_path), "WENDELIN_ADMIN_PASSWORD": "given"}
    )
    assert settings.resolve_admin_password() == "given"
    assert not settings.password_file.exists()
