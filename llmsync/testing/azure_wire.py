"""Azure OpenAI as the fake server speaks it: Chat Completions on the deployments route
``/openai/deployments/{name}/chat/completions`` and the v1 route
``/openai/v1/chat/completions``; the Responses API on ``/openai/v1/responses`` and the
preview route ``/openai/responses``.

Replies are OpenAI's with Azure's filter annotations: a streamed chat reply starts with
the chunk that holds only ``prompt_filter_results`` (``choices: []``, empty ``id`` and
``model``), each choice carries ``content_filter_results``; a Responses reply carries
``content_filters``. A reply with ``finish_reason=CONTENT_FILTER`` reports its category
as filtered. Errors use Azure's
bodies; ``error_type="content_filter"`` gives the HTTP 400 content-filter body (with
``"content_filter:<category>"`` naming the category, ``hate`` by default), any other
``error_type`` is the error ``code`` (``DeploymentNotFound``, say).
"""
import json
from typing import Any, Dict, List

from ..types import FinishReason
from .reply import Reply
from .responses_wire import ResponsesFormat
from .wire import OpenAIChatFormat, WireFormat, sse

__all__ = ["AzureFormat", "AzureResponsesFormat", "FORMATS", "filter_results"]

_CATEGORIES = ("hate", "self_harm", "sexual", "violence")


def filter_results(filtered: str = "") -> Dict[str, Any]:
    """A ``content_filter_results`` object: every category safe, ``filtered`` (if any) not."""
    results: Dict[str, Any] = {name: {"filtered": False, "severity": "safe"} for name in _CATEGORIES}
    if filtered:
        results[filtered] = {"filtered": True, "severity": "medium"}
    return results


def _category(reply: Reply) -> str:
    kind = reply.error_type or ""
    return kind.split(":", 1)[1] if kind.startswith("content_filter:") else "hate"


def _prompt_results() -> List[Dict[str, Any]]:
    results = filter_results()
    results["jailbreak"] = {"filtered": False, "detected": False}
    return [{"prompt_index": 0, "content_filter_results": results}]


class AzureFormat(WireFormat):
    """Azure OpenAI Chat Completions (the deployments and v1 routes): OpenAI's chunks and
    bodies plus Azure's filter fields."""

    name = "azure"
    _chat = OpenAIChatFormat()

    def matches(self, path: str) -> bool:
        return ("/openai/deployments/" in path or "/openai/v1/" in path) and path.endswith("/chat/completions")

    def _completion_results(self, reply: Reply) -> Dict[str, Any]:
        filtered = _category(reply) if reply.finish is FinishReason.CONTENT_FILTER else ""
        return filter_results(filtered)

    def stream_events(self, reply: Reply, model: str) -> List[bytes]:
        first = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                 "prompt_filter_results": _prompt_results()}
        events = [sse(first)]
        for event in self._chat.stream_events(reply, model):
            if not event.startswith(b"data: {"):
                events.append(event)  # [DONE]
                continue
            chunk = json.loads(event[len(b"data: "):])
            for choice in chunk.get("choices") or ():
                finished = choice.get("finish_reason") is not None
                choice["content_filter_results"] = self._completion_results(reply) if finished else {}
            events.append(sse(chunk))
        return events

    def body(self, reply: Reply, model: str) -> Dict[str, Any]:
        body = self._chat.body(reply, model)
        body["prompt_filter_results"] = _prompt_results()
        for choice in body["choices"]:
            choice["content_filter_results"] = self._completion_results(reply)
        return body

    def error_body(self, reply: Reply) -> Dict[str, Any]:
        kind = reply.error_type or ""
        message = reply.error_message or "simulated error"
        if kind == "content_filter" or kind.startswith("content_filter:"):
            return {"error": {
                "message": message, "type": None, "param": "prompt", "code": "content_filter", "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation",
                               "content_filter_result": filter_results(_category(reply))}}}
        return {"error": {"code": kind or "BadRequest", "message": message}}


class AzureResponsesFormat(ResponsesFormat):
    """The Responses API on Azure: ``content_filters`` on the response object, and the
    content-filter error with ``error.content_filters`` (no ``innererror``)."""

    name = "azure-responses"

    def matches(self, path: str) -> bool:
        return "/openai/" in path and path.endswith("/responses")

    def _filters(self, reply: Reply) -> List[Dict[str, Any]]:
        filtered = _category(reply) if reply.finish is FinishReason.CONTENT_FILTER else ""
        return [{"blocked": False, "source_type": "prompt", "content_filter_results": filter_results()},
                {"blocked": bool(filtered), "source_type": "completion",
                 "content_filter_results": filter_results(filtered)}]

    def body(self, reply: Reply, model: str) -> Dict[str, Any]:
        body = super().body(reply, model)
        body["content_filters"] = self._filters(reply)
        return body

    def stream_events(self, reply: Reply, model: str) -> List[bytes]:
        events = super().stream_events(reply, model)
        last = json.loads(events[-1].split(b"data: ", 1)[1])
        last["response"]["content_filters"] = self._filters(reply)
        events[-1] = sse(last, event=last["type"])
        return events

    def error_body(self, reply: Reply) -> Dict[str, Any]:
        body = AzureFormat().error_body(reply)
        inner = body["error"].pop("innererror", None)
        if inner is not None:
            body["error"]["type"] = "invalid_request_error"
            body["error"]["content_filters"] = [{"blocked": True, "source_type": "prompt",
                                                 "content_filter_results": inner["content_filter_result"]}]
        return body


FORMATS = [AzureFormat(), AzureResponsesFormat()]
