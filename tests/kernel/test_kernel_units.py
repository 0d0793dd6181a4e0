"""The kernel's pure parts: magics, URLs, settings, reply mapping, kernelspec, Jupyter settings."""

from __future__ import annotations

import json
import stat

import pytest
from Products.Wendelin.errors import ConfigurationError
from Products.Wendelin.settings import Settings

from erp5_kernel.client import ConfigurationMissing, normalize_url, parse_verify
from erp5_kernel.install import main as install_main
from erp5_kernel.launcher import resolve_token
from erp5_kernel.magics import KernelSettings, MagicError, reference_from_session, split_magics
from erp5_kernel.protocol import outputs_from_reply


def test_split_magics_takes_known_magics_from_the_top_only():
    code = "\n%erp5_user  alice \n\n%notebook_set_title My title\nx = 1\n%erp5_user bob\n"
    magics, rest = split_magics(code)
    assert magics == [("erp5_user", "alice"), ("notebook_set_title", "My title")]
    assert rest == "x = 1\n%erp5_user bob\n"
    assert split_magics("%matplotlib inline\nplot()") == ([], "%matplotlib inline\nplot()")
    assert split_magics("%%time\n1") == ([], "%%time\n1")
    assert split_magics("%my_notebooks\n   \n") == ([("my_notebooks", "")], "")


@pytest.mark.parametrize(
    "given",
    [
        "http://127.0.0.1:8080/erp5",
        "http://127.0.0.1:8080/erp5/",
        " http://127.0.0.1:8080/erp5/Base_executeJupyter ",
        "http://127.0.0.1:8080/erp5/Base_executeJupyter/",
    ],
)
def test_url_is_the_site_url(given):
    assert normalize_url(given) == "http://127.0.0.1:8080/erp5"


@pytest.mark.parametrize(
    "given", ["localhost:8080/erp5", "ftp://h/erp5", "http://", "http://h/erp5?x=1"]
)
def test_bad_urls_are_named(given):
    with pytest.raises(ConfigurationMissing, match=repr(given).replace("?", r"\?")):
        normalize_url(given)


def test_tls_setting():
    assert [parse_verify(v) for v in ("", "on", "TRUE", "off", "0", "/ca.pem")] == [
        True,
        True,
        True,
        False,
        False,
        "/ca.pem",
    ]
    with pytest.raises(ConfigurationMissing, match="'maybe'"):
        parse_verify("maybe")


def test_reference_comes_from_the_opened_notebook():
    assert reference_from_session("/var/jupyter/notebooks/sales 2024.ipynb") == "sales 2024"
    assert reference_from_session("analysis.ipynb") == "analysis"
    assert reference_from_session("console-1-abc") is None
    assert reference_from_session(None) is None


def test_settings_from_environment_never_crash_the_kernel():
    settings = KernelSettings.from_environ(
        {"ERP5_URL": "nonsense", "ERP5_USER": "u", "ERP5_VERIFY_TLS": "perhaps"}
    )
    assert settings.url is None and settings.user == "u" and settings.verify is True
    assert any("'nonsense'" in problem for problem in settings.problems)
    assert any("'perhaps'" in problem for problem in settings.problems)
    assert settings.missing() == ["%erp5_url", "%erp5_password", "%notebook_set_reference"]


def test_setter_magics_validate_and_reset_the_handshake():
    settings = KernelSettings(url="http://h/erp5", user="u", password="s3cr3t", reference="r")
    settings.connected = True
    assert settings.apply("notebook_set_title", "T") == "Notebook title set to 'T'."
    assert settings.connected
    settings.apply("erp5_user", "v")
    assert not settings.connected
    with pytest.raises(MagicError, match="needs an argument"):
        settings.apply("erp5_password", "  ")
    with pytest.raises(MagicError, match="'a/b'"):
        settings.apply("notebook_set_reference", "a/b")
    assert "s3cr3t" not in settings.describe() and "password:   (set)" in settings.describe()


def test_reply_becomes_ordered_jupyter_messages():
    reply = {
        "status": "error",
        "ename": "KeyError",
        "evalue": "'k'",
        "traceback": ["Traceback", "KeyError: 'k'"],
        "code_result": "ignored when bundles exist",
        "print_result": {"data": {"text/plain": "printed\n"}, "metadata": {}},
        "displayhook_result": {
            "data": {"text/plain": "7", "text/html": "<b>7</b>"},
            "metadata": {},
        },
        "extra_data_list": [
            {"data": {"text/plain": "warned\n"}, "metadata": {"name": "stderr"}},
            {"data": {"text/plain": "a displayed text"}, "metadata": {}},
            {"data": {"image/png": "iVBOR"}, "metadata": {}},
            {},
        ],
    }
    outputs = outputs_from_reply(reply, 5)
    assert [o.msg_type for o in outputs] == [
        "stream",
        "stream",
        "display_data",
        "display_data",
        "execute_result",
        "error",
    ]
    assert outputs[0].content == {"name": "stdout", "text": "printed\n"}
    assert outputs[1].content == {"name": "stderr", "text": "warned\n"}
    assert outputs[4].content["execution_count"] == 5
    assert outputs[4].content["data"]["text/html"] == "<b>7</b>"
    assert outputs[5].content["traceback"] == ["Traceback", "KeyError: 'k'"]


def test_reply_with_only_code_result_is_still_shown():
    reply = {"status": "ok", "code_result": "<p>hi</p>", "mime_type": "text/html"}
    (output,) = outputs_from_reply(reply, 1)
    assert output.msg_type == "execute_result" and output.content["data"] == {
        "text/html": "<p>hi</p>"
    }
    assert outputs_from_reply({"status": "ok", "code_result": ""}, 1) == []


def test_install_writes_the_erp5_kernelspec(tmp_path, capsys):
    assert install_main(["--prefix", str(tmp_path)]) == 0
    spec = json.loads((tmp_path / "share/jupyter/kernels/erp5/kernel.json").read_text())
    assert (spec["display_name"], spec["language"]) == ("ERP5", "python")
    assert spec["argv"][1:] == ["-m", "erp5_kernel", "-f", "{connection_file}"]
    assert "Installed kernelspec 'erp5'" in capsys.readouterr().out


def test_jupyter_token_is_generated_once_and_private(tmp_path):
    token = resolve_token(tmp_path)
    assert len(token) >= 32 and resolve_token(tmp_path) == token
    assert (tmp_path / "jupyter-token").read_text() == token  # Jupyter reads it as it is
    assert stat.S_IMODE((tmp_path / "jupyter-token").stat().st_mode) == 0o600


def test_jupyter_settings(tmp_path):
    home = {"WENDELIN_INSTANCE": str(tmp_path)}
    default = Settings.from_environ(home)
    assert (default.jupyter, default.jupyter_port) == (True, 8888)
    random_site = Settings.from_environ({**home, "WENDELIN_PORT": "0"})
    assert random_site.jupyter_port == 0  # a random site port gives a random Jupyter port
    chosen = Settings.from_environ(
        {**home, "WENDELIN_JUPYTER_PORT": "9999", "WENDELIN_JUPYTER": "0"}
    )
    assert (chosen.jupyter, chosen.jupyter_port) == (False, 9999)
    with pytest.raises(ConfigurationError, match="'lots'"):
        Settings.from_environ({**home, "WENDELIN_JUPYTER_PORT": "lots"})
    with pytest.raises(ConfigurationError, match="'maybe'"):
        Settings.from_environ({**home, "WENDELIN_JUPYTER": "maybe"})
