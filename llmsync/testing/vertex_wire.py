"""The Vertex AI wire formats for ``FakeServer``: Gemini under ``publishers/google`` and
Claude under ``publishers/anthropic`` (``:rawPredict`` / ``:streamRawPredict``).

They are the Gemini and Anthropic formats with what Vertex does differently: Gemini
chunks carry ``usageMetadata: {"trafficType": "ON_DEMAND"}`` and the token counts only on
the last chunk; Claude streams are chosen by the path, and the reply names the model
with ``-`` for the ``@`` of its Vertex id.
"""
from typing import Any, Dict, List, Optional

from .anthropic_wire import AnthropicFormat
from .gemini_wire import GeminiFormat
from .reply import Reply

__all__ = ["VertexGeminiFormat", "VertexAnthropicFormat", "FORMATS"]

_TRAFFIC = {"trafficType": "ON_DEMAND"}


class VertexGeminiFormat(GeminiFormat):
    """Gemini on Vertex: ``.../publishers/google/models/{model}:generateContent``."""

    name = "vertex"

    def matches(self, path: str) -> bool:
        return "/publishers/google/models/" in path and super().matches(path)

    def _chunk(self, model: str, parts: List[Dict[str, Any]], usage: Optional[Dict[str, Any]],
               finish: Optional[str] = None) -> Dict[str, Any]:
        counts = {**usage, **_TRAFFIC} if usage is not None and finish else dict(_TRAFFIC)
        return super()._chunk(model, parts, counts, finish)


class VertexAnthropicFormat(AnthropicFormat):
    """Claude on Vertex: ``.../publishers/anthropic/models/{model}:rawPredict``."""

    name = "vertex-anthropic"

    def matches(self, path: str) -> bool:
        return "/publishers/anthropic/models/" in path and path.endswith((":rawPredict", ":streamRawPredict"))

    def is_stream(self, path: str, body: Dict[str, Any]) -> bool:
        return ":streamRawPredict" in path

    # Vertex answers "claude-haiku-4-5-20251001" for "claude-haiku-4-5@20251001".
    def stream_events(self, reply: Reply, model: str) -> List[bytes]:
        return super().stream_events(reply, model.replace("@", "-"))

    def body(self, reply: Reply, model: str) -> Dict[str, Any]:
        return super().body(reply, model.replace("@", "-"))


# Listed before the Gemini format, which would also claim ":generateContent" paths.
FORMATS = [VertexGeminiFormat(), VertexAnthropicFormat()]
