"""The Data Operation page: its script, its runs, and the Run button."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo
from Acquisition import aq_base

from ...permissions import ModifyPortalContent, View
from ...site.users import (
    check_csrf,
    require_post,
)
from .base import (
    RUNS_SHOWN,
    BaseView,
    _json,
    _wants_json,
)


class DataOperationView(BaseView):
    """A Data Operation: the script it runs, its parameters and types."""

    security = ClassSecurityInfo()
    template = "DataOperation_view"

    @security.protected(View)
    def operation(self) -> dict[str, Any]:
        """What the operation runs, with its parameters as sorted rows."""
        doc = self.context
        parameters = doc.getParameterDict()
        return {
            "script_id": doc.getScriptId(),
            "parameters": [
                {"name": str(name), "value": json.dumps(value, default=repr)}
                for name, value in sorted(parameters.items(), key=lambda item: str(item[0]))
            ],
            "input_portal_type": getattr(doc, "input_portal_type", ""),
            "output_portal_type": getattr(doc, "output_portal_type", ""),
            "can_run": callable(getattr(aq_base(doc), "execute", None))
            and self._can(ModifyPortalContent),
            "runs": [self._run_row(run) for run in doc.getRunList()[:RUNS_SHOWN]],
        }

    def _run_row(self, run: dict[str, Any]) -> dict[str, Any]:
        portal_url = self.context.getPortalObject().absolute_url()
        return {
            "run_id": run["run_id"],
            "status": run["status"],
            "user": run["user"],
            "start": run["start"],
            "duration": f"{run['duration']:.2f} s",
            "input": run["input"],
            "input_url": f"{portal_url}/{quote(run['input'])}/view",
            "outputs": [
                {"path": out, "url": f"{portal_url}/{quote(out)}/view"} for out in run["outputs"]
            ],
            "error": run["error"],
        }

    @security.protected(ModifyPortalContent)
    def run(self) -> str:
        """Run the operation on the input named in the form; 303 back with its status."""
        request = self.request
        require_post(request)
        check_csrf(self.context, request)
        form = request.form
        document = self.context.resolveRunInput(form.get("input", ""))
        parameters = self.context.parseRunParameters(form.get("parameters", ""))
        report = self.context.execute(document, **parameters)
        status = "run-succeeded" if report.status == "succeeded" else "run-failed"
        if _wants_json(request):
            return _json(request, {"status": report.status, "outputs": report.outputs,
                                   "error": report.error})
        request.response.redirect(
            f"{self.context.absolute_url()}/view?status={status}", status=303
        )
        return ""


InitializeClass(DataOperationView)
