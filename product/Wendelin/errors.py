"""Wendelin's error hierarchy: domain errors carry the bad value in their message.

The edge (views, HTTP endpoints) turns them into HTTP statuses; library code only
raises them.
"""


class WendelinError(Exception):
    """Base class of every error Wendelin raises on purpose."""


class ConfigurationError(WendelinError, ValueError):
    """An instance setting is missing or malformed."""


class PortalTypeError(WendelinError, ValueError):
    """A portal type is unknown or not allowed in a container."""


class UnknownPropertyError(WendelinError, ValueError):
    """``edit()`` or ``newContent()`` got a property the document does not have."""


class CatalogQueryError(WendelinError, ValueError):
    """A catalog query names an index that does not exist or has a bad value."""


class BusinessTemplateError(WendelinError, ValueError):
    """A business template on disk is malformed."""
