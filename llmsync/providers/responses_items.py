"""The conversation as OpenAI Responses API ``input`` items and ``instructions``.

An assistant turn goes back as its reasoning and ``web_search_call`` items, in the order
the API returned them (both kept as ``ReasoningBlock``s on the message), then its message,
then its ``function_call`` items. "For stateless reasoning-model requests, preserve every
item in the response's output array" (conversation state guide, "Manually manage
conversation state"): a hosted web search is part of that output.

Wire reference: openai-python ``src/openai/types/responses/`` (response_input_item_param.py,
response_reasoning_item_param.py, response_function_web_search_param.py,
response_input_image_param.py).
"""
import json
from typing import Any, Dict, Iterable, List, Optional

from ..errors import InvalidRequestError
from ..options import Request
from ..types import Document, Image, Message, ReasoningBlock, Role
from .base import data_url

__all__ = ["PROVIDER_ID", "WEB_SEARCH_CALL", "wire_input", "instructions", "web_search_block"]

PROVIDER_ID = "openai-responses"
WEB_SEARCH_CALL = "web_search_call"


def _input_part(part: Any) -> Dict[str, Any]:
    if isinstance(part, Image):
        url = part.url or data_url(part.media_type or "image/png", part.data)
        # ``detail`` is required in response_input_image_param.py.
        return {"type": "input_image", "image_url": url, "detail": "auto"}
    if isinstance(part, Document):
        if part.data is None:
            return {"type": "input_file", "file_url": part.url}
        return {"type": "input_file", "filename": "document.pdf",
                "file_data": data_url(part.media_type, part.data)}
    text = getattr(part, "text", None)
    if isinstance(text, str):
        return {"type": "input_text", "text": text}
    raise InvalidRequestError(f"unsupported content part {part!r}")


def _replayable(block: ReasoningBlock, provider_id: str) -> bool:
    # Without encrypted_content a reasoning item can only be found by id, and with
    # store: false nothing is stored ("Item with id 'rs_...' not found").
    return block.provider == provider_id and block.kind == "reasoning" and bool(block.signature)


def web_search_block(item: Dict[str, Any], provider_id: str) -> Optional[ReasoningBlock]:
    """A ``web_search_call`` output item as kept on the assistant message, to go back in
    its place; None for any other item, or one without the ``action`` an input item needs.

    Kept: ``type``, ``status`` and ``action`` (response_function_web_search_param.py).
    Left out: the id (see ``_assistant_items``) and ``action.sources``, output the request
    asked for with an ``include``; the input form takes only ``url`` sources, while the
    API also returns others (``{"type": "api", "name": "oai-weather"}``). OpenAI's own
    stateless client sends the same fields (openai/codex codex-rs/protocol/src/models.rs,
    ``ResponseItem::WebSearchCall``).
    """
    action = item.get("action")
    if item.get("type") != WEB_SEARCH_CALL or not isinstance(action, dict) or not action.get("type"):
        return None
    wire = {"type": WEB_SEARCH_CALL, "status": item.get("status") or "completed",
            "action": {key: value for key, value in action.items() if key != "sources"}}
    return ReasoningBlock(kind=WEB_SEARCH_CALL, data=json.dumps(wire), id=item.get("id"), provider=provider_id)


def _kept_item(block: ReasoningBlock, provider_id: str) -> Optional[Dict[str, Any]]:
    """The input item a kept block goes back as, or None when it cannot go back here."""
    if block.provider != provider_id:
        return None
    if block.kind == WEB_SEARCH_CALL:
        try:
            wire = json.loads(block.data or "")
        except ValueError:
            return None
        return wire if isinstance(wire, dict) and wire.get("type") == WEB_SEARCH_CALL else None
    if _replayable(block, provider_id):
        summary = [{"type": "summary_text", "text": block.text}] if block.text else []
        return {"type": "reasoning", "summary": summary, "encrypted_content": block.signature}
    return None


def _assistant_items(message: Message, provider_id: str) -> List[Dict[str, Any]]:
    """An assistant turn: its reasoning and web search items first, in their order, then
    its text, then its calls.

    Item ids are left out, as OpenAI's own stateless client does (openai/codex
    codex-rs/protocol/src/models.rs skips serializing ``id``): with ``store: false`` an id
    refers to nothing stored, and a half-paired id fails ("was provided without its
    required following item"). ``call_id`` is what pairs a call with its output.
    """
    items: List[Dict[str, Any]] = []
    for block in message.reasoning or ():
        item = _kept_item(block, provider_id)
        if item is not None:
            items.append(item)
    if message.text:
        items.append({"type": "message", "role": "assistant",
                      "content": [{"type": "output_text", "text": message.text}]})
    for call in message.tool_calls or ():
        items.append({"type": "function_call", "call_id": call.id, "name": call.name,
                      "arguments": call.arguments or "{}"})
    return items


def wire_input(messages: Iterable[Message], provider_id: str = PROVIDER_ID) -> List[Dict[str, Any]]:
    """The ``input`` items of a conversation (system messages go to ``instructions``);
    reasoning items go back only to the provider id that produced them."""
    items: List[Dict[str, Any]] = []
    for message in messages:
        if message.role is Role.SYSTEM:
            continue
        if message.role is Role.TOOL:
            items.append({"type": "function_call_output", "call_id": message.tool_call_id,
                          "output": message.text})
        elif message.role is Role.ASSISTANT:
            items.extend(_assistant_items(message, provider_id))
        else:
            parts = [_input_part(part) for part in message.parts] or [{"type": "input_text", "text": ""}]
            items.append({"type": "message", "role": "user", "content": parts})
    return items


def instructions(request: Request) -> Optional[str]:
    """System prompt and system messages, joined: the ``instructions`` field."""
    texts = [request.system_prompt] if request.system_prompt else []
    texts += [m.text for m in request.messages if m.role is Role.SYSTEM and m.text]
    return "\n\n".join(texts) or None
