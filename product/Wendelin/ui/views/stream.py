"""The Data Stream page: size, content type, audio preview and the raw download."""

from __future__ import annotations

from typing import Any

from AccessControl.class_init import InitializeClass
from AccessControl.SecurityInfo import ClassSecurityInfo

from ...humanize import human_duration
from ...permissions import View
from .. import audio, cache
from .base import (
    BaseView,
    _png,
)


class DataStreamView(BaseView):
    """A Data Stream: size, type, download; for audio the facts, a player and a waveform."""

    security = ClassSecurityInfo()
    template = "DataStream_view"

    @security.protected(View)
    def stream(self) -> dict[str, Any]:
        """What the stream page shows beyond the common facts."""
        doc = self.context
        url = doc.absolute_url()
        facts: dict[str, Any] = {
            "content_type": doc.content_type or "application/octet-stream",
            "download_url": url,
            "audio": None,
            "audio_error": "",
        }
        if doc.getSize():
            try:
                info = audio.audio_info(doc)
            except audio.AudioError as exc:
                facts["audio_error"] = str(exc)
            else:
                details = info.as_dict()
                details["duration_text"] = human_duration(info.duration)
                details["player_type"] = (
                    doc.content_type if doc.content_type.startswith("audio/") else "audio/wav"
                )
                facts["audio"] = details
                facts["waveform_url"] = f"{url}/DataStream_viewWaveform"
        return facts

    @security.protected(View)
    def waveform(self) -> bytes:
        """The cached waveform PNG (404 for streams that are not audio)."""
        doc = self.context
        key = cache.content_key(doc, "waveform", 1000, 160)
        try:
            data, hit = cache.cached(key, lambda: audio.waveform_png(doc, 1000, 160))
        except audio.AudioError as exc:
            self.request.response.setStatus(404)
            self.request.response.setHeader("Content-Type", "text/plain")
            return f"no waveform: {exc}".encode()
        return _png(self.request, data, hit)


InitializeClass(DataStreamView)
