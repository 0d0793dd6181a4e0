"""Wendelin's error hierarchy: domain errors carry the bad value in their message.

Each error class carries the HTTP status it stands for (``http_status``); the edge
(``product/Wendelin/edge.py``) is the one place that turns an exception into an HTTP
answer. Library and document code only raise them and never set statuses.
"""


class WendelinError(Exception):
    """Base class of every error Wendelin raises on purpose (bad input unless it says)."""

    http_status = 400


class ConfigurationError(WendelinError, ValueError):
    """An instance setting is missing or malformed."""

    http_status = 500


class InvalidInputError(WendelinError, ValueError):
    """A request parameter or body is malformed, out of range or of the wrong type."""


class PortalTypeError(WendelinError, ValueError):
    """A portal type is unknown or not allowed in a container."""


class UnknownPropertyError(WendelinError, ValueError):
    """``edit()`` or ``newContent()`` got a property the document does not have."""


class CatalogQueryError(WendelinError, ValueError):
    """A catalog query names an index that does not exist or has a bad value."""


class BusinessTemplateError(WendelinError, ValueError):
    """A business template on disk is malformed."""

    http_status = 500


class QuotaExceededError(WendelinError, ValueError):
    """A request would make an output, a body or the disk use exceed a quota (413)."""

    http_status = 413


class StateConflictError(WendelinError, ValueError):
    """The request contradicts the current state, such as a taken reference (409)."""

    http_status = 409


class RequestRefusedError(WendelinError, PermissionError):
    """A request refused by a security rule whatever its credentials (403)."""

    http_status = 403


class MethodNotAllowedError(WendelinError, ValueError):
    """The HTTP method may not do what was asked, such as a GET that writes (405)."""

    http_status = 405


class UnsupportedMediaTypeError(WendelinError, ValueError):
    """A body or stored content type that the endpoint does not accept (415)."""

    http_status = 415


class RangeNotSatisfiableError(WendelinError, ValueError):
    """A byte range outside the resource (416)."""

    http_status = 416
