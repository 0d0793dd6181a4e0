"""Data Operation: a named, reusable processing step and the record of its runs.

An operation names a skin script (``script_id``), its default parameters and the
portal types it reads and writes. ``execute(document, **parameters)`` runs the script
on the document inside a savepoint: a failing run rolls its own work back and is still
recorded (who, when, input, outputs, duration, status, error). Nothing is committed
here; the request or notebook cell that called it commits.
"""

from __future__ import annotations

import re
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import transaction
import transaction.interfaces
from AccessControl import Unauthorized
from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from AccessControl.SecurityManagement import getSecurityManager
from Acquisition import aq_base
from BTrees.IOBTree import IOBTree
from DateTime import DateTime
from persistent.mapping import PersistentMapping
from ZPublisher import zpublish

from ..errors import InvalidInputError, QuotaExceededError, WendelinError
from ..inputs import load_json
from ..permissions import ModifyPortalContent, View
from .base import DocumentMixin, WendelinDocument, find_by_reference
from .scripts import (
    check_stored_parameters,
    check_stored_script,
    refuse_code_runner,
    skin_script,
)

SCRIPT_ID = re.compile(r"^[A-Z][A-Za-z0-9]*_[a-z][A-Za-z0-9]*$")
#: Errors a run never records as its own failure: they belong to the whole request.
#: A ZODB conflict (any TransientError) must reach the publisher, which retries it.
PROPAGATED = (transaction.interfaces.TransientError,)
#: Errors that mean the request was bad (a parameter out of bounds, an output over the
#: disk quota): the run's work is rolled back and the caller gets the error, no run kept.
REFUSED = (InvalidInputError, QuotaExceededError)
#: Bounds of the parameters JSON of a run form.
MAX_PARAMETER_DEPTH = 8
MAX_PARAMETER_BYTES = 64 * 1024
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class OperationFailedError(WendelinError, RuntimeError):
    """A Data Operation run failed; the message carries the script's error."""


@dataclass
class RunReport:
    """What one run did; readable from skin scripts."""

    __allow_access_to_unprotected_subobjects__ = 1

    run_id: int
    status: str
    duration: float
    result: Any = None
    outputs: list[str] = field(default_factory=list)
    error: str = ""
    traceback: str = ""

    def raise_for_status(self) -> None:
        """Raise :class:`OperationFailedError` if the run failed."""
        if self.status != "succeeded":
            raise OperationFailedError(f"run {self.run_id} failed: {self.error}")


def parse_parameters(text: Any) -> dict[str, Any]:
    """A run form's parameters: a JSON object of bounded depth and size, identifier keys."""
    if text is None or text == "":
        return {}
    if not isinstance(text, str | bytes):
        raise InvalidInputError("parameters must be a JSON object, e.g. {\"channel\": 1}")
    value = load_json(text, "parameters", MAX_PARAMETER_DEPTH, MAX_PARAMETER_BYTES)
    if not isinstance(value, dict):
        raise InvalidInputError("parameters must be a JSON object, e.g. {\"channel\": 1}")
    bad = [key for key in value if not IDENTIFIER.match(key)]
    if bad:
        raise InvalidInputError(f"parameter names must be identifiers, got {bad[0][:40]!r}")
    return value


def _check_parameter_names(script: Any, parameters: dict[str, Any]) -> None:
    """InvalidInputError for a parameter the skin script does not take (it has no ``**``)."""
    signature = getattr(script, "params", None)
    if not callable(signature) or not parameters:
        return
    load = getattr(script, "_updateFromFS", None)  # filesystem scripts parse lazily
    if callable(load):
        load()
    declared = [part.strip() for part in str(signature()).split(",") if part.strip()]
    if any(part.startswith("**") for part in declared):
        return
    names = {part.split("=", 1)[0].strip().lstrip("*") for part in declared}
    unknown = sorted(str(name)[:40] for name in parameters if name not in names)
    if unknown:
        raise InvalidInputError(
            f"unknown parameter(s) {', '.join(unknown)}; the script takes "
            f"{', '.join(sorted(names)) or 'none'}"
        )


def _output_urls(result: Any) -> list[str]:
    """Relative URLs of the documents a script returned (one or a list)."""
    items = result if isinstance(result, list | tuple) else [result]
    return [item.getRelativeUrl() for item in items if hasattr(item, "getRelativeUrl")]


class DataOperation(WendelinDocument):
    """A reusable processing step: ``script_id`` applied to an input document."""

    meta_type = "Wendelin Data Operation"
    portal_type = "Data Operation"
    security = ClassSecurityInfo()
    property_types = {
        **WendelinDocument.property_types,
        "script_id": str,
        "parameter_dict": dict,
        "input_portal_type": str,
        "output_portal_type": str,
    }
    #: A stored operation names no code-running script and stores no code parameter: the
    #: user who later runs it would run that code (a confused deputy).
    property_checks = {
        **WendelinDocument.property_checks,
        "script_id": refuse_code_runner,
        "parameter_dict": check_stored_parameters,
    }
    script_id = ""
    input_portal_type = ""
    output_portal_type = ""
    parameter_dict: dict = {}
    _runs: IOBTree | None = None

    def _checkProperties(self, properties: dict[str, Any]) -> None:
        """A script found from here must not run notebook code (its body is read)."""
        script_id = properties.get("script_id")
        if script_id:
            context = self if getattr(self, "aq_parent", None) is not None else None
            check_stored_script(context, script_id)

    @security.protected(View)
    def getScriptId(self) -> str:
        return self.script_id

    @security.protected(View)
    def getParameterDict(self) -> dict:
        return dict(self.parameter_dict)

    @security.protected(View)
    def getInputPortalType(self) -> str:
        return self.input_portal_type

    @security.protected(View)
    def getOutputPortalType(self) -> str:
        return self.output_portal_type

    def _check_input(self, document: Any) -> None:
        """InvalidInputError unless ``document`` is a portal document this operation reads."""
        if not isinstance(aq_base(document), DocumentMixin):
            raise InvalidInputError(
                f"operation {self.getId()!r} runs on documents; "
                f"{type(aq_base(document)).__name__} is not one"
            )
        if self.input_portal_type and document.getPortalType() != self.input_portal_type:
            raise InvalidInputError(
                f"operation {self.getId()!r} reads {self.input_portal_type!r} documents, "
                f"not {document.getPortalType()!r}"
            )

    @security.protected(View)
    @zpublish(False)
    def resolveRunInput(self, text: Any) -> Any:
        """The input a run form names: a relative URL traversed as the user, or a reference.

        InvalidInputError when nothing the user may use is there, or when it is not a
        document of the operation's input portal type (``acl_users/manage_users`` is not).
        """
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError("name the input document (relative URL or reference)")
        text = text.strip()
        portal = self.getPortalObject()
        if "/" in text:
            try:
                document = portal.restrictedTraverse(text)
            except (KeyError, AttributeError, LookupError, TypeError, ValueError, Unauthorized):
                raise InvalidInputError(f"no document you may use at {text[:200]!r}") from None
        else:
            document = find_by_reference(portal, text, self.input_portal_type or None)
            if document is None:
                raise InvalidInputError(f"no document with reference {text[:200]!r}")
        self._check_input(document)
        return document

    @security.protected(View)
    @zpublish(False)
    def parseRunParameters(self, text: Any) -> dict[str, Any]:
        """A run form's parameters JSON, bounded (see :func:`parse_parameters`)."""
        return parse_parameters(text)

    def _script(self, document: Any) -> Any:
        if not SCRIPT_ID.match(self.script_id):
            raise OperationFailedError(
                f"operation {self.getId()!r} names no skin script: script_id={self.script_id!r}"
            )
        self._check_input(document)
        return skin_script(document, self.script_id)

    @security.protected(ModifyPortalContent)
    @zpublish(False)
    def execute(self, document: Any, **parameters: Any) -> RunReport:
        """Run the script on ``document`` with the defaults updated by ``parameters``."""
        script = self._script(document)
        check_stored_parameters(self.parameter_dict)  # stored before the store-time check
        arguments = {**self.getParameterDict(), **parameters}
        _check_parameter_names(script, parameters)
        savepoint = transaction.savepoint(optimistic=True)
        started, clock = DateTime(), time.perf_counter()
        result, error, trace = None, "", ""
        try:
            result = script(**arguments)
            status = "succeeded"
        except PROPAGATED:
            raise
        except REFUSED:
            savepoint.rollback()
            raise
        except Exception as exc:  # noqa: BLE001  (a failed run is recorded, not lost)
            savepoint.rollback()
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        report = RunReport(
            run_id=0,
            status=status,
            duration=time.perf_counter() - clock,
            result=result,
            outputs=_output_urls(result),
            error=error,
            traceback=trace,
        )
        report.run_id = self._record(document, arguments, started, report)
        return report

    def _record(self, document: Any, arguments: dict, started: DateTime, report: RunReport) -> int:
        if self._runs is None:
            self._runs = IOBTree()
        run_id = (self._runs.maxKey() + 1) if len(self._runs) else 1
        self._runs[run_id] = PersistentMapping(
            {
                "run_id": run_id,
                "user": getSecurityManager().getUser().getId(),
                "start": started.ISO8601(),
                "duration": report.duration,
                "input": document.getRelativeUrl(),
                "parameters": {key: repr(value) for key, value in arguments.items()},
                "outputs": list(report.outputs),
                "status": report.status,
                "error": report.error,
            }
        )
        return run_id

    @security.protected(View)
    def getRunList(self) -> list[dict[str, Any]]:
        """The recorded runs, newest first."""
        if self._runs is None:
            return []
        return [dict(run) for run in reversed(list(self._runs.values()))]


InitializeClass(DataOperation)
