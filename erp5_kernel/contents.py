"""A Jupyter contents manager whose files are the portal's Data Notebooks.

Jupyter's file browser shows one ``<reference>.ipynb`` per Data Notebook, at the root
(no folders, no other files). Opening, saving, renaming and deleting go through the
portal's notebook JSON API with the ``ERP5_URL``/``ERP5_USER``/``ERP5_PASSWORD``
credentials; portal failures become ``HTTPError``s carrying the portal's message.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import os
from datetime import UTC, datetime
from typing import Any, cast

import nbformat
from jupyter_server.services.contents.checkpoints import (
    AsyncCheckpoints,
    AsyncGenericCheckpointsMixin,
)
from jupyter_server.services.contents.manager import AsyncContentsManager
from tornado.web import HTTPError
from traitlets import Unicode, default

from .client import (
    ConfigurationMissing,
    Connection,
    Erp5Error,
    Forbidden,
    RequestRejected,
    normalize_url,
    parse_verify,
)
from .install import DISPLAY_NAME, KERNEL_NAME

MODULE = "data_notebook_module"
SUFFIX = ".ipynb"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
KERNELSPEC = {"name": KERNEL_NAME, "display_name": DISPLAY_NAME, "language": "python"}


def _date(text: Any) -> datetime:
    """An ISO 8601 date from the portal as an aware datetime (the epoch when absent)."""
    if not text:
        return EPOCH
    try:
        value = datetime.fromisoformat(str(text))
    except ValueError:
        return EPOCH
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _http_error(exc: Erp5Error) -> HTTPError:
    """The Jupyter API answer for a portal failure (never 401: that means Jupyter's token)."""
    if isinstance(exc, RequestRejected | Forbidden) and exc.status:
        status = exc.status
    elif isinstance(exc, ConfigurationMissing):
        status = 500
    elif exc.status:  # the portal answered 401 or 5xx: a bad gateway from Jupyter's side
        status = 502
    else:  # no answer at all
        status = 503
    return fail(status, str(exc))


def fail(status: int, message: str) -> HTTPError:
    """An HTTPError whose message Jupyter's API answers as JSON ``{"message": ...}``."""
    return HTTPError(status, message)


def reference_of(path: str) -> str:
    """The notebook reference of the API path ``<reference>.ipynb``; 404 for anything else."""
    path = path.strip("/")
    if "/" in path:
        raise fail(404, f"No such notebook: {path!r}; Data Notebooks are all at the root")
    if not path.endswith(SUFFIX) or path == SUFFIX:
        raise fail(404, f"No such notebook: {path!r}; only .ipynb Data Notebooks are here")
    return path[: -len(SUFFIX)]


def notebook_hash(nb: dict) -> dict[str, str]:
    """The ``hash``/``hash_algorithm`` model keys of a notebook's JSON text."""
    text = nbformat.writes(nbformat.from_dict(nb), version=nbformat.NO_CONVERT)
    return {"hash": hashlib.sha256(text.encode()).hexdigest(), "hash_algorithm": "sha256"}


class MemoryCheckpoints(AsyncGenericCheckpointsMixin, AsyncCheckpoints):
    """One checkpoint per notebook kept in the Jupyter server's memory (lost on restart).

    Enough for Jupyter's "revert to checkpoint"; the portal keeps the saved notebooks.
    """

    CHECKPOINT_ID = "checkpoint"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._store: dict[str, tuple[datetime, dict]] = {}

    def _model(self, path: str) -> dict[str, Any]:
        return {"id": self.CHECKPOINT_ID, "last_modified": self._store[path][0]}

    async def create_notebook_checkpoint(self, nb: dict, path: str) -> dict[str, Any]:
        self._store[path.strip("/")] = (datetime.now(UTC), copy.deepcopy(dict(nb)))
        return self._model(path.strip("/"))

    async def create_file_checkpoint(self, content: Any, format: str, path: str) -> dict:
        raise fail(400, f"Only notebooks have checkpoints here: {path!r}")

    async def get_notebook_checkpoint(self, checkpoint_id: str, path: str) -> dict[str, Any]:
        entry = self._store.get(path.strip("/"))
        if entry is None or checkpoint_id != self.CHECKPOINT_ID:
            raise fail(404, f"No checkpoint {checkpoint_id!r} for {path!r}")
        return {"type": "notebook", "content": nbformat.from_dict(copy.deepcopy(entry[1]))}

    async def get_file_checkpoint(self, checkpoint_id: str, path: str) -> dict:
        raise fail(404, f"No checkpoint {checkpoint_id!r} for {path!r}")

    async def list_checkpoints(self, path: str) -> list[dict[str, Any]]:
        return [self._model(path.strip("/"))] if path.strip("/") in self._store else []

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        if self._store.pop(path.strip("/"), None) is None:
            raise fail(404, f"No checkpoint {checkpoint_id!r} for {path!r}")

    async def rename_checkpoint(self, checkpoint_id: str, old_path: str, new_path: str) -> None:
        entry = self._store.pop(old_path.strip("/"), None)
        if entry is not None:
            self._store[new_path.strip("/")] = entry


class Erp5ContentsManager(AsyncContentsManager):
    """Jupyter contents backed by the portal's ``data_notebook_module`` JSON API."""

    erp5_url = Unicode(config=True, help="Site URL, e.g. http://127.0.0.1:8080/erp5 (ERP5_URL)")
    erp5_user = Unicode(config=True, help="Portal user (ERP5_USER)")
    erp5_password = Unicode(config=True, help="Portal password (ERP5_PASSWORD)")
    erp5_verify_tls = Unicode(config=True, help="on, off or a CA bundle path (ERP5_VERIFY_TLS)")

    @default("erp5_url")
    def _default_url(self) -> str:
        return self._env("ERP5_URL")

    @default("erp5_user")
    def _default_user(self) -> str:
        return self._env("ERP5_USER")

    @default("erp5_password")
    def _default_password(self) -> str:
        return self._env("ERP5_PASSWORD")

    @default("erp5_verify_tls")
    def _default_verify(self) -> str:
        return self._env("ERP5_VERIFY_TLS")

    @default("root_dir")
    def _default_root_dir(self) -> str:
        # Jupyter's root directory (the kernels' working directory), so that the front
        # end's preferred path is this manager's root and not a path on the disk.
        return getattr(self.parent, "root_dir", "/")

    @default("checkpoints_class")
    def _default_checkpoints_class(self) -> type:
        return MemoryCheckpoints

    @staticmethod
    def _env(name: str) -> str:
        return os.environ.get(name, "")

    # -- the portal --------------------------------------------------------------

    def _connection(self) -> Connection:
        """The portal connection from the settings; ConfigurationMissing names what lacks."""
        missing = [
            name
            for name, value in (
                ("ERP5_URL", self.erp5_url),
                ("ERP5_USER", self.erp5_user),
                ("ERP5_PASSWORD", self.erp5_password),
            )
            if not value
        ]
        if missing:
            raise ConfigurationMissing(
                "The Data Notebook contents manager needs " + ", ".join(missing)
            )
        return Connection(
            normalize_url(self.erp5_url),
            self.erp5_user,
            self.erp5_password,
            parse_verify(self.erp5_verify_tls),
        )

    async def _portal(self, method: str, script: str, **kwargs: Any) -> Any:
        """Call ``data_notebook_module/<script>`` off the event loop; JSON answer or None."""

        def call() -> Any:
            response = self._connection().request(method, f"{MODULE}/{script}", **kwargs)
            if response.status_code == 204 or not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise RequestRejected(
                    f"The portal answered {script} with something that is not JSON: "
                    f"{response.text[:200]!r}",
                    502,
                ) from None

        try:
            return await asyncio.to_thread(call)
        except Erp5Error as exc:
            raise _http_error(exc) from None

    async def _entries(self) -> dict[str, dict[str, Any]]:
        """The portal's notebooks by reference (references with a slash cannot be files)."""
        listing = await self._portal("GET", "DataNotebookModule_getNotebookList")
        entries = {}
        for entry in listing or []:
            reference = str(entry.get("reference") or "")
            if reference and "/" not in reference:
                entries[reference] = entry
            else:
                self.log.warning("Data Notebook %r cannot be shown as a file", entry.get("id"))
        return entries

    # -- models ------------------------------------------------------------------

    def _model(self, entry: dict[str, Any]) -> dict[str, Any]:
        """The content-less notebook model of a portal list entry."""
        reference = entry["reference"]
        return {
            "name": reference + SUFFIX,
            "path": reference + SUFFIX,
            "type": "notebook",
            "created": _date(entry.get("creation_date")),
            "last_modified": _date(
                entry.get("ipynb_modification_date") or entry.get("modification_date")
            ),
            "content": None,
            "format": None,
            "mimetype": None,
            "size": None,
            "writable": True,
            "hash": None,
            "hash_algorithm": None,
        }

    async def _directory(self, content: bool) -> dict[str, Any]:
        """The root directory model, listing every notebook when ``content``."""
        entries = await self._entries() if content else {}
        models = [self._model(entry) for entry in entries.values()]
        return {
            "name": "",
            "path": "",
            "type": "directory",
            "created": EPOCH,
            "last_modified": max((m["last_modified"] for m in models), default=EPOCH),
            "content": models if content else None,
            "format": "json" if content else None,
            "mimetype": None,
            "size": None,
            "writable": True,
            "hash": None,
            "hash_algorithm": None,
        }

    async def get(
        self,
        path: str,
        content: bool = True,
        type: str | None = None,
        format: str | None = None,
        require_hash: bool = False,
    ) -> dict[str, Any]:
        """The model of the root directory or of one notebook (``type="file"``: its JSON)."""
        if not path.strip("/"):
            if type not in (None, "directory"):
                raise fail(400, f"The root is a directory, not a {type}")
            return await self._directory(content)
        reference = reference_of(path)
        if type == "directory":
            raise fail(400, f"{path!r} is a notebook, not a directory")
        if not (content or require_hash):
            entry = (await self._entries()).get(reference)
            if entry is None:
                raise fail(404, f"No Data Notebook with reference {reference!r}")
            return self._model(entry)
        entry = await self._portal(
            "GET", "DataNotebookModule_getNotebook", params={"reference": reference}
        )
        nb = nbformat.from_dict(entry.get("ipynb") or nbformat.v4.new_notebook())
        if nb.get("nbformat", 4) < 4:
            nb = nbformat.convert(nb, 4)
        if content and type != "file" and entry.get("ipynb_saved") is False:
            entry = await self._materialize(reference, nb, entry)
        model = self._model(entry)
        if require_hash:
            model.update(notebook_hash(nb))
        if not content:
            return model
        if type == "file":
            text = nbformat.writes(nb, version=nbformat.NO_CONVERT)
            model.update(type="file", format="text", content=text, mimetype="application/json")
            return model
        self.mark_trusted_cells(nb, path)
        model.update(content=nb, format="json")
        return self.validate_notebook_model(model)

    async def _materialize(self, reference: str, nb: dict, entry: dict) -> dict[str, Any]:
        """Store a notebook the portal made up from its executed cells, as Jupyter opens it.

        Such a notebook changes each time a cell runs, so Jupyter would find it "changed
        on disk" at every save; once stored, it changes only when Jupyter saves it.
        """
        try:
            saved = await self._portal(
                "POST",
                "DataNotebookModule_saveNotebook",
                data=json.dumps({"reference": reference, "ipynb": nb}),
                headers={"Content-Type": "application/json"},
            )
        except HTTPError as exc:  # e.g. a user who may read but not modify: open as it is
            self.log.warning("Could not store notebook %r on opening: %s", reference, exc)
            return entry
        return {**entry, **saved}

    async def save(self, model: dict[str, Any], path: str) -> dict[str, Any]:
        """Store a notebook on the portal (created or updated); return its content-less model."""
        path = path.strip("/")
        self.run_pre_save_hooks(model=model, path=path)
        kind = model.get("type")
        if kind == "directory":
            raise fail(400, f"Folders are not supported; Data Notebooks are at the root: {path!r}")
        reference = reference_of(path) if path.endswith(SUFFIX) else None
        if reference is None or kind not in ("notebook", "file"):
            raise fail(400, f"Only .ipynb notebooks can be stored here, not {path!r}")
        if model.get("chunk") is not None:
            raise fail(400, f"Chunked uploads are not supported: {path!r}")
        if "content" not in model or model["content"] is None:
            raise fail(400, f"No notebook content given for {path!r}")
        content = model["content"]
        if kind == "file":
            try:
                content = json.loads(content)
            except (TypeError, ValueError) as exc:
                raise fail(400, f"{path!r} is not notebook JSON: {exc}") from None
        if not isinstance(content, dict) or not isinstance(content.get("metadata", {}), dict):
            raise fail(400, f"{path!r} is not a notebook: its content or metadata is no object")
        if not isinstance(content.get("metadata", {}).get("erp5", {}), dict):
            raise fail(400, f"{path!r}: metadata.erp5 must be an object (the portal's own)")
        nb = nbformat.from_dict(content)
        nb.metadata["kernelspec"] = dict(KERNELSPEC)
        nb.metadata.setdefault("language_info", {"name": "python"})
        # the portal records the reference there: signed as stored, the notebook stays trusted
        nb.metadata["erp5"] = {**nb.metadata.get("erp5", {}), "reference": reference}
        self.check_and_sign(nb, path)
        entry = await self._portal(
            "POST",
            "DataNotebookModule_saveNotebook",
            data=json.dumps({"reference": reference, "ipynb": nb}),
            headers={"Content-Type": "application/json"},
        )
        saved = self._model(entry)
        validated = self.validate_notebook_model({"content": nb})
        if "message" in validated:
            saved["message"] = validated["message"]
        if not await self.checkpoints.list_checkpoints(path):
            checkpoints = cast(MemoryCheckpoints, self.checkpoints)  # our checkpoints_class
            await checkpoints.create_notebook_checkpoint(nb, path)
        self.emit(data={"action": "save", "path": path})
        return saved

    async def delete_file(self, path: str) -> None:
        """Delete the Data Notebook of ``path``."""
        if not path.strip("/"):
            raise fail(400, "Cannot delete the root")
        await self._portal(
            "POST", "DataNotebookModule_deleteNotebook", data={"reference": reference_of(path)}
        )

    async def rename_file(self, old_path: str, new_path: str) -> None:
        """Give a Data Notebook a new reference (its file name without ``.ipynb``)."""
        reference = reference_of(old_path)
        if "/" in new_path.strip("/") or not new_path.strip("/").endswith(SUFFIX):
            raise fail(
                400, f"A Data Notebook's name is <reference>.ipynb at the root, not {new_path!r}"
            )
        await self._portal(
            "POST",
            "DataNotebookModule_renameNotebook",
            data={"reference": reference, "new_reference": reference_of(new_path)},
        )

    async def file_exists(self, path: str) -> bool:
        """Whether a Data Notebook has the reference of ``path``."""
        try:
            reference = reference_of(path)
        except HTTPError:
            return False
        return reference in await self._entries()

    async def dir_exists(self, path: str) -> bool:
        """Only the root is a directory."""
        return not path.strip("/")

    async def is_hidden(self, path: str) -> bool:
        """Nothing is hidden: every Data Notebook the user may see is listed."""
        return False

    def info_string(self) -> str:
        return f"Serving Data Notebooks from {self.erp5_url or '(ERP5_URL not set)'}"
