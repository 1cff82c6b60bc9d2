"""The conversation as OpenAI Responses API ``input`` items and ``instructions``.

An assistant turn goes back as its reasoning items (kept as ``ReasoningBlock``s with their
``encrypted_content``), then its message, then its ``function_call`` items.

Wire reference: openai-python ``src/openai/types/responses/`` (response_input_item_param.py,
response_reasoning_item_param.py, response_input_image_param.py).
"""
from typing import Any, Dict, Iterable, List, Optional

from ..errors import InvalidRequestError
from ..options import Request
from ..types import Document, Image, Message, ReasoningBlock, Role
from .base import data_url

__all__ = ["PROVIDER_ID", "wire_input", "instructions"]

PROVIDER_ID = "openai-responses"


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


def _assistant_items(message: Message, provider_id: str) -> List[Dict[str, Any]]:
    """An assistant turn: its reasoning items first, then its text, then its calls.

    Item ids are left out, as OpenAI's own stateless client does (openai/codex
    codex-rs/protocol/src/models.rs skips serializing ``id``): with ``store: false`` an id
    refers to nothing stored, and a half-paired id fails ("was provided without its
    required following item"). ``call_id`` is what pairs a call with its output.
    """
    items: List[Dict[str, Any]] = []
    for block in message.reasoning or ():
        if _replayable(block, provider_id):
            summary = [{"type": "summary_text", "text": block.text}] if block.text else []
            items.append({"type": "reasoning", "summary": summary,
                          "encrypted_content": block.signature})
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
