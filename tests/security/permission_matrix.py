"""The permission matrix as data: endpoint x HTTP method x actor -> the answers allowed.

Each row names a published endpoint (a path template filled from the suite's target
documents), one HTTP method, what the request carries, and for every actor the status
(or statuses) the live server must answer. Actors: ``anonymous``, ``nobody`` (a user
with no role), ``auditor``, ``author``, ``developer``, ``manager`` (portal Manager) and
``admin`` (the root's Manager). Requests use HTTP Basic and no Origin (a script): the
forged-request suite covers browsers. ``fresh`` names a document made anew before each
actor's request (``{fresh_id}``, ``{fresh_url}``, ``{fresh_ref}`` in templates).
"""

from __future__ import annotations

from typing import Any

VIEWERS = ("auditor", "author", "developer", "manager", "admin")
WRITERS = ("author", "developer", "manager", "admin")
CODERS = ("developer", "manager", "admin")
MANAGERS = ("manager", "admin")
#: An authenticated user without the permission: Zope's Unauthorized (401) or Forbidden.
DENIED = (401, 403)
#: Names that must never be published: not found, not allowed, or wrong method.
UNPUBLISHED = (401, 403, 404, 405)
#: What a Manager may get from WebDAV methods that write (anything but a server error).
DAV_MANAGER = (200, 201, 204, 207, 403, 404, 405, 409, 412, 423)
#: A GET or HEAD on an endpoint that changes data.
WRONG_METHOD = (405,)
ACTOR_NAMES = ("anonymous", "nobody", "auditor", "author", "developer", "manager", "admin")


def expect(allowed: tuple[str, ...], ok: Any, denied: Any = DENIED,
           anonymous: Any = 401) -> dict[str, tuple[int, ...]]:
    """The answers of every actor: ``ok`` for the ``allowed`` ones, ``denied`` for others."""

    def as_tuple(value: Any) -> tuple[int, ...]:
        return tuple(value) if isinstance(value, (tuple, list)) else (value,)

    table = {}
    for actor in ACTOR_NAMES:
        if actor == "anonymous":
            table[actor] = as_tuple(anonymous)
        else:
            table[actor] = as_tuple(ok if actor in allowed else denied)
    return table


def everyone(statuses: Any) -> dict[str, tuple[int, ...]]:
    """The same answers for every authenticated actor (anonymous: 401)."""
    return expect(ACTOR_NAMES, statuses)


def row(name: str, method: str, path: str, expected: dict[str, tuple[int, ...]],
        writes: bool, **request: Any) -> dict[str, Any]:
    """One row: ``writes`` says whether an accepted request may change data."""
    return {"name": name, "method": method, "path": path, "expected": expected,
            "writes": writes, **request}


IPYNB = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}
MSGPACK_ONE_ENTRY = bytes.fromhex("92ce6553f100c40378797a")  # [1700000000, b"xyz"]

MATRIX: list[dict[str, Any]] = [
    # -- portal pages and listings ---------------------------------------------------------
    row("portal view", "GET", "view", expect(VIEWERS, 200), False),
    row("module listing", "GET", "data_stream_module/view", expect(VIEWERS, 200), False),
    row("stream page", "GET", "{stream}/view", expect(VIEWERS, 200), False),
    row("login form", "GET", "login_form", everyone(200) | {"anonymous": (200,)}, False),
    # -- document bytes ---------------------------------------------------------------------
    row("stream GET", "GET", "{stream}", expect(VIEWERS, 200), False),
    row("stream HEAD", "HEAD", "{stream}", expect(VIEWERS, 200), False),
    row("stream PUT", "PUT", "{fresh_url}", expect(WRITERS, 204), True, fresh="stream",
        data=b"new bytes", headers={"Content-Type": "application/octet-stream"}),
    row("array GET", "GET", "{array}", expect(VIEWERS, 200), False),
    row("array HEAD", "HEAD", "{array}", expect(VIEWERS, 200), False),
    row("audio info", "GET", "{stream}/DataStream_getAudioInfo", expect(VIEWERS, 200), False),
    # anonymous visitors cannot tell a missing id from an existing one
    row("missing id", "GET", "data_stream_module/987654", expect(VIEWERS, 404, (401, 404)),
        False),
    row("existing id", "GET", "{stream}", expect(VIEWERS, 200), False),
    # -- creation and edition -----------------------------------------------------------------
    row("newContentFromJSON", "POST", "data_stream_module/newContentFromJSON",
        expect(WRITERS, 201), True, json_body={"title": "matrix"}),
    row("newContentFromJSON by GET", "GET", "data_stream_module/newContentFromJSON",
        expect(WRITERS, WRONG_METHOD + (404,), DENIED + (404, 405)), True),
    row("upload", "POST", "data_stream_module/DataStreamModule_upload", expect(WRITERS, 201),
        True, fresh="name", files={"file": ("{fresh_ref}.bin", b"abc")},
        headers={"Accept": "application/json"}),
    row("upload by GET", "GET", "data_stream_module/DataStreamModule_upload",
        expect(WRITERS, WRONG_METHOD, DENIED + WRONG_METHOD), True),
    row("Base_edit", "POST", "{fresh_url}/Base_edit", expect(WRITERS, 303), True,
        fresh="stream", data={"title": "edited", "reference": "{fresh_ref}"}),
    row("Base_edit by GET", "GET", "{fresh_url}/Base_edit?title=edited", expect(
        WRITERS, WRONG_METHOD, DENIED + WRONG_METHOD), True, fresh="stream"),
    row("delete dialog", "POST", "data_array_module/Module_deleteSelected",
        expect(WRITERS, 200), True, fresh="array", data={"ids": "{fresh_id}"}),
    row("delete confirmed", "POST", "data_array_module/Module_deleteSelected",
        expect(WRITERS, 303), True, fresh="array", data={"ids": "{fresh_id}", "confirm": "1"}),
    row("delete by GET", "GET", "data_array_module/Module_deleteSelected?ids={fresh_id}"
        "&confirm=1", expect(WRITERS, WRONG_METHOD, DENIED + WRONG_METHOD), True,
        fresh="array"),
    # -- notebook code ----------------------------------------------------------------------
    row("execute code", "POST", "Base_executeJupyter", expect(CODERS, 200), True,
        data={"python_expression": "1 + 1", "reference": "sec-matrix-run"}),
    row("execute code by GET", "GET",
        "Base_executeJupyter?python_expression=1&reference=sec-matrix-run",
        expect(CODERS, WRONG_METHOD, DENIED + WRONG_METHOD), True),
    row("check reference", "GET", "Base_checkExistingReference?reference=x",
        expect(VIEWERS, (200, 204)), False),
    # -- notebook JSON API ------------------------------------------------------------------
    row("notebook list", "GET", "data_notebook_module/DataNotebookModule_getNotebookList",
        expect(VIEWERS, 200), False),
    row("notebook get", "GET",
        "data_notebook_module/DataNotebookModule_getNotebook?reference={notebook_ref}",
        expect(VIEWERS, 200), False),
    row("notebook save", "POST", "data_notebook_module/DataNotebookModule_saveNotebook",
        expect(WRITERS, 200), True, fresh="notebook",
        json_body={"reference": "{fresh_ref}", "ipynb": IPYNB}),
    row("notebook rename", "POST", "data_notebook_module/DataNotebookModule_renameNotebook",
        expect(WRITERS, 200), True, fresh="notebook",
        data={"reference": "{fresh_ref}", "new_reference": "{fresh_ref}-renamed"}),
    row("notebook delete", "POST", "data_notebook_module/DataNotebookModule_deleteNotebook",
        expect(WRITERS, 204), True, fresh="notebook", data={"reference": "{fresh_ref}"}),
    row("notebook delete by GET", "GET",
        "data_notebook_module/DataNotebookModule_deleteNotebook?reference={fresh_ref}",
        expect(WRITERS, WRONG_METHOD, DENIED + WRONG_METHOD), True, fresh="notebook"),
    # -- ingestion and operations -------------------------------------------------------------
    row("ingest", "POST", "portal_ingestion_policies/default/ingest?reference=sec-matrix",
        expect(WRITERS, 204), True, data=MSGPACK_ONE_ENTRY,
        headers={"Content-Type": "application/octet-stream"}),
    row("ingest by GET", "GET", "portal_ingestion_policies/default/ingest?reference=sec-matrix",
        expect(WRITERS, WRONG_METHOD + (404,), DENIED + (404, 405)), True),
    row("ingestion status", "GET", "portal_ingestion_policies/default/status_json",
        expect(VIEWERS, 200), False),
    row("operation run", "POST", "{operation}/DataOperation_run", expect(WRITERS, 200), True,
        data={"input": "{stream_ref}", "parameters": '{"channel": 0}'},
        headers={"Accept": "application/json"}),
    row("operation run by GET", "GET", "{operation}/DataOperation_run?input={stream_ref}",
        expect(WRITERS, WRONG_METHOD, DENIED + WRONG_METHOD), True),
    row("csv to array", "POST", "{csv}/DataStream_appendCsvToArray", expect(WRITERS, 200),
        True, data={"reference": "sec-matrix-csv"}),
    row("csv to array by GET", "GET", "{csv}/DataStream_appendCsvToArray",
        expect(WRITERS, WRONG_METHOD, DENIED + WRONG_METHOD), True),
    # -- ZMI ------------------------------------------------------------------------------------
    row("manage_delObjects", "POST", "data_array_module/manage_delObjects",
        expect(WRITERS, 200), True, fresh="array", data={"ids:list": "{fresh_id}"}),
    row("manage_delObjects by GET", "GET",
        "data_array_module/manage_delObjects?ids:list={fresh_id}",
        expect(WRITERS, WRONG_METHOD, DENIED + WRONG_METHOD), True, fresh="array"),
    row("manage_changeProperties", "POST", "manage_changeProperties", expect(MANAGERS, 200),
        True, data={"title": "{portal_title}"}),
    row("manage_changeProperties by GET", "GET", "manage_changeProperties?title=Defaced",
        expect(MANAGERS, WRONG_METHOD, DENIED + WRONG_METHOD), True),
    row("manage_users add", "POST", "acl_users/manage_users", expect(MANAGERS, 200), True,
        fresh="name", data={"submit": "Add", "name": "{fresh_ref}", "password": "x-Pw-1",
                            "confirm": "x-Pw-1", "roles:list": "Auditor"}),
    row("manage_users add by GET", "GET", "acl_users/manage_users?submit=Add&name={fresh_ref}"
        "&password=x&confirm=x&roles:list=Manager",
        expect(MANAGERS, WRONG_METHOD, DENIED + WRONG_METHOD), True, fresh="name"),
    row("manage_users page", "GET", "acl_users/manage_users", expect(MANAGERS, 200), False),
    # -- names that must not be published (no security declaration before) ------------------
    *[row(f"{name} by {method}", method, "{stream}/" + name, everyone(UNPUBLISHED), True)
      for name in ("reindexData", "reindexMetadata", "notifyModified", "reindexObject",
                   "setTitle", "edit", "appendData")
      for method in ("GET", "POST")],
    # -- WebDAV -----------------------------------------------------------------------------
    row("PROPFIND module", "PROPFIND", "data_stream_module/", expect(MANAGERS, 207,
        DENIED + (405,)), False, headers={"Depth": "1"}),
    row("PROPFIND document", "PROPFIND", "{stream}", expect(MANAGERS, 207, DENIED + (405,)),
        False, headers={"Depth": "0"}),
    row("PROPPATCH document", "PROPPATCH", "{fresh_url}", expect(MANAGERS, DAV_MANAGER,
        DENIED + (405,)), True, fresh="stream", data=b"<?xml version='1.0'?>"
        b"<propertyupdate xmlns='DAV:'><set><prop><title>dav</title></prop></set>"
        b"</propertyupdate>", headers={"Content-Type": "text/xml"}),
    row("MKCOL", "MKCOL", "data_stream_module/sec-davcol", expect(MANAGERS, DAV_MANAGER,
        DENIED + (404, 405)), True),
    row("LOCK", "LOCK", "{fresh_url}", expect(MANAGERS, DAV_MANAGER, DENIED + (405,)), True,
        fresh="stream", headers={"Timeout": "Second-60"}, data=b"<?xml version='1.0'?>"
        b"<lockinfo xmlns='DAV:'><lockscope><exclusive/></lockscope><locktype><write/>"
        b"</locktype></lockinfo>"),
    row("MOVE", "MOVE", "{fresh_url}", expect(MANAGERS, DAV_MANAGER, DENIED + (405,)),
        True, fresh="stream", headers={"Destination": "{url}/data_stream_module/sec-moved"}),
    row("COPY", "COPY", "{stream}", expect(MANAGERS, DAV_MANAGER, DENIED + (405,)), True,
        headers={"Destination": "{url}/data_stream_module/sec-copied"}),
]
