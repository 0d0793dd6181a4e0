"""The kernel's magics and the connection settings they change.

Known magics (``%erp5_url``, ``%erp5_user``, ...) are taken from the top of a cell; the
rest of the cell is code for the server, so ``%matplotlib inline`` and other lines the
kernel does not know go to the server unchanged. Defaults come from ``ERP5_URL``,
``ERP5_USER``, ``ERP5_PASSWORD``, ``ERP5_VERIFY_TLS`` and, for the notebook reference,
from the notebook Jupyter opened (``JPY_SESSION_NAME``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .client import ConfigurationMissing, Connection, normalize_url, parse_verify

#: Magics that change a setting, with what their argument is.
SETTERS = {
    "erp5_url": "the site URL, e.g. http://127.0.0.1:8080/erp5",
    "erp5_user": "a user name",
    "erp5_password": "a password",
    "erp5_verify_tls": "on, off or the path of a CA bundle",
    "notebook_set_reference": "a notebook reference",
    "notebook_set_title": "a title",
}
#: Magics that do something with the server.
ACTIONS = {
    "my_notebooks": "list your notebooks on the server",
    "erp5_info": "show the connection settings (never the password)",
}
MAGICS = {**SETTERS, **ACTIONS}


class MagicError(ConfigurationMissing):
    """A magic with a missing or malformed argument."""

    ename = "ERP5MagicError"


def reference_from_session(session_name: str | None) -> str | None:
    """The notebook reference for the file Jupyter opened: ``/x/NAME.ipynb`` gives NAME."""
    if not session_name:
        return None
    name = session_name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    if not name.endswith(".ipynb") or name == ".ipynb":
        return None
    return name[: -len(".ipynb")]


@dataclass
class KernelSettings:
    """What the kernel needs to run a cell on the server, as magics or the environment set it."""

    url: str | None = None
    user: str | None = None
    password: str | None = None
    verify: bool | str = True
    reference: str | None = None
    title: str | None = None
    #: The reference follows the notebook's name in Jupyter (until a magic sets one).
    follows_notebook: bool = True
    #: True once the check/empty-request handshake succeeded for these settings.
    connected: bool = False
    #: Problems with the environment's defaults, shown with the first cell's output.
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> KernelSettings:
        """Defaults from ERP5_* variables and the notebook Jupyter opened this kernel for.

        A malformed variable is left unset and noted in ``problems`` (never a kernel crash).
        """
        env = os.environ if environ is None else environ
        settings = cls(
            user=env.get("ERP5_USER") or None,
            password=env.get("ERP5_PASSWORD") or None,
            reference=reference_from_session(env.get("JPY_SESSION_NAME")),
        )
        url = env.get("ERP5_URL", "").strip()
        try:
            settings.url = normalize_url(url) if url else None
        except ConfigurationMissing as exc:
            settings.problems.append(f"ERP5_URL ignored: {exc}")
        try:
            settings.verify = parse_verify(env.get("ERP5_VERIFY_TLS", ""))
        except ConfigurationMissing as exc:
            settings.problems.append(f"ERP5_VERIFY_TLS ignored, verification stays on: {exc}")
        return settings

    def missing(self, need_reference: bool = True) -> list[str]:
        """The names of the magics still needed before code can run."""
        needed = [("erp5_url", self.url), ("erp5_user", self.user)]
        needed += [("erp5_password", self.password)]
        if need_reference:
            needed.append(("notebook_set_reference", self.reference))
        return [f"%{name}" for name, value in needed if not value]

    def connection(self, need_reference: bool = True) -> Connection:
        """The connection to use; ConfigurationMissing names what is not set yet."""
        missing = self.missing(need_reference)
        if missing:
            raise ConfigurationMissing(
                "Not ready to run code on ERP5; still missing: " + ", ".join(missing) + ". "
                "Set them with magics (e.g. %erp5_url http://127.0.0.1:8080/erp5) or the "
                "environment variables ERP5_URL, ERP5_USER and ERP5_PASSWORD; the reference "
                "comes from the notebook's name when Jupyter opens it."
            )
        assert self.url and self.user and self.password
        return Connection(self.url, self.user, self.password, self.verify)

    def apply(self, name: str, argument: str) -> str:
        """Apply the setter magic ``%name argument``; return what to tell the user."""
        value = argument.strip()
        if not value:
            raise MagicError(f"%{name} needs an argument: {SETTERS[name]}")
        if name == "notebook_set_title":
            self.title = value
            return f"Notebook title set to {value!r}."
        self.connected = False
        if name == "erp5_url":
            self.url = normalize_url(value)
            return f"ERP5 URL set to {self.url}."
        if name == "erp5_user":
            self.user = value
            return f"ERP5 user set to {value!r}."
        if name == "erp5_password":
            self.password = value
            return "ERP5 password set."
        if name == "erp5_verify_tls":
            self.verify = parse_verify(value)
            state = "off (unsafe)" if self.verify is False else "on"
            return f"TLS certificate verification {state}."
        if "/" in value or "\\" in value:
            raise MagicError(f"A notebook reference cannot contain a slash: {value!r}")
        self.reference = value
        self.follows_notebook = False
        return f"Notebook reference set to {value!r}."

    def describe(self) -> str:
        """The settings in a few lines, without the password."""
        verify = {True: "on", False: "off"}.get(self.verify, self.verify)  # type: ignore[arg-type]
        lines = [
            f"url:        {self.url or '(not set)'}",
            f"user:       {self.user or '(not set)'}",
            f"password:   {'(set)' if self.password else '(not set)'}",
            f"reference:  {self.reference or '(not set)'}",
            f"title:      {self.title or '(not set)'}",
            f"verify TLS: {verify}",
        ]
        return "\n".join(lines) + "\n"


def split_magics(code: str) -> tuple[list[tuple[str, str]], str]:
    """Take the known magics off the top of a cell: ``([(name, argument)], rest_of_code)``."""
    lines = code.splitlines(keepends=True)
    magics: list[tuple[str, str]] = []
    index = 0
    for index, line in enumerate(lines):  # noqa: B007 - index is used after the loop
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("%") or stripped.startswith("%%"):
            break
        name, *argument = stripped[1:].split(maxsplit=1)
        if name not in MAGICS:
            break
        magics.append((name, argument[0] if argument else ""))
    else:
        index = len(lines)
    rest = "".join(lines[index:])
    return magics, rest if rest.strip() else ""
