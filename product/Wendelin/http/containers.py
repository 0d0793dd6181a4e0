"""POST ``newContentFromJSON`` on a module or folderish document: the JSON API's creation.

Only ``application/json`` POSTs are accepted: browsers cannot send them cross-site
without a CORS preflight (the edge refuses cross-site requests anyway). The body is a
JSON object of properties, bounded (1 MiB, depth 64); the answer is 201 with the new
document's JSON and its URL in ``Location``.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import InvalidInputError
from ..inputs import load_json

MAX_JSON_BODY = 1 << 20


class NewContentFromJSON:
    """Create a document in the container from the request's JSON body."""

    def __init__(self, container: Any, request: Any) -> None:
        self.container = container
        self.request = request

    def __call__(self) -> str:
        request = self.request
        if not request.get_header("Content-Type", "").startswith("application/json"):
            raise InvalidInputError(
                "newContentFromJSON needs a POST with Content-Type: application/json"
            )
        properties = load_json(request.get("BODY") or b"{}", "body", max_bytes=MAX_JSON_BODY)
        if not isinstance(properties, dict):
            raise InvalidInputError(
                f"body must be a JSON object, got {type(properties).__name__}"
            )
        if "temp_object" in properties:
            raise InvalidInputError("temporary documents are made by code, not over HTTP")
        try:
            document = self.container.newContent(**properties)
        except TypeError as exc:
            raise InvalidInputError(str(exc)) from None
        response = request.response
        response.setStatus(201)
        response.setHeader("Content-Type", "application/json")
        response.setHeader("Location", document.absolute_url())
        return json.dumps({
            "id": document.getId(),
            "url": document.absolute_url(),
            "portal_type": document.getPortalType(),
            "reference": document.getReference(),
            "title": document.getTitle(),
        })
