"""Anthropic Messages API request content: messages as turns of content blocks, the tools
and ``tool_choice``, and prompt-cache breakpoints.

Wire reference: docs.claude.com/en/api/messages and the prompt caching guide;
anthropic-sdk-python ``src/anthropic/types/`` (message_create_params.py,
thinking_block_param.py, tool_choice_*_param.py).
"""
import base64
import binascii
import json
from typing import Any, Dict, List, Optional, Tuple

from ..errors import InvalidRequestError
from ..options import CacheOptions, Request
from ..types import Document, Image, Message, ReasoningBlock, Role, Text, ToolCall
from .base import add_turn, split_data_url

__all__ = ["PROVIDER_ID", "conversation", "apply_tools", "apply_cache"]

PROVIDER_ID = "anthropic"

_MAX_BREAKPOINTS = 4  # "Maximum 4 cache breakpoints per request" (prompt caching docs)


def conversation(request: Request, provider_id: str = PROVIDER_ID) -> Tuple[List[str], List[Dict[str, Any]]]:
    """System texts (hoisted) and alternating user/assistant turns with block content.

    Reasoning blocks go back only to the provider id that produced them.
    """
    system = [request.system_prompt] if request.system_prompt else []
    turns: List[Dict[str, Any]] = []
    for message in request.messages:
        if message.role is Role.SYSTEM:
            if message.text:
                system.append(message.text)
            continue
        if message.role is Role.ASSISTANT:
            role, blocks = "assistant", _assistant_blocks(message, provider_id)
        elif message.role is Role.TOOL:
            role, blocks = "user", [_tool_result(message)]
        else:
            role, blocks = "user", [_part(part) for part in message.parts if _has_content(part)]
        if blocks:
            add_turn(turns, role, blocks)
    return system, turns


def apply_tools(request: Request, body: Dict[str, Any]) -> None:
    """Set ``tools`` and ``tool_choice``; no parallel calls is a flag on the choice."""
    tools = request.tool_definitions
    if tools:
        body["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.parameters}
                         for t in tools]
    choice = request.tool_choice
    wire: Optional[Dict[str, Any]] = None
    if choice is not None:
        wire = {"type": "tool", "name": choice.name} if choice.mode == "function" else {"type": choice.mode}
    config = request.parallel_tool_config
    if tools and (request.parallel_tool_calls is False or (config and config.disable_parallel_tool_use)):
        wire = wire or {"type": "auto"}
        if wire["type"] != "none":
            wire["disable_parallel_tool_use"] = True
    if wire is not None:
        body["tool_choice"] = wire


def apply_cache(cache: CacheOptions, body: Dict[str, Any], adjustments: List[str]) -> None:
    """Place ``cache_control`` breakpoints: system, last tool, last N user turns (max 4)."""
    marker: Dict[str, Any] = {"type": "ephemeral"}
    if cache.extended_ttl:
        marker["ttl"] = "1h"
    slots = _MAX_BREAKPOINTS
    if cache.cache_system_prompt and body.get("system"):
        body["system"] = [{"type": "text", "text": body["system"], "cache_control": dict(marker)}]
        slots -= 1
    if cache.cache_tools and body.get("tools"):
        body["tools"][-1]["cache_control"] = dict(marker)
        slots -= 1
    if cache.cache_recent_turns > 0:
        turns = [t for t in body["messages"] if t["role"] == "user"][-cache.cache_recent_turns:]
        if len(turns) > slots:
            adjustments.append(f"cache breakpoints on the {len(turns) - slots} oldest of the last "
                               f"{len(turns)} user turns dropped: Anthropic allows {_MAX_BREAKPOINTS} "
                               "per request")
            turns = turns[len(turns) - slots:]
        for turn in turns:
            turn["content"][-1]["cache_control"] = dict(marker)
    if cache.global_scope:
        adjustments.append("cache global_scope ignored: Anthropic has no wire field for it")


def _has_content(part: Any) -> bool:
    # "text content blocks must be non-empty" (a 400 otherwise).
    return not isinstance(part, Text) or bool(part.text)


def _assistant_blocks(message: Message, provider_id: str) -> List[Dict[str, Any]]:
    """An assistant turn's content blocks, with what the provider needs back.

    Thinking blocks go back unmodified, with their signature (thinking_block_param.py);
    server tool blocks (``server_tool_use``, ``web_search_tool_result``, ...) and cited
    text go back as they came, in order: results and citations carry encrypted fields
    the next turn needs (web search tool docs). If the text was edited since, the edited
    text goes instead of the recorded text blocks. Blocks of other providers mean nothing
    here.
    """
    kept = [b for b in message.reasoning or () if b.provider == provider_id]
    recorded_text = [b.text for b in kept if b.kind == "text"]
    exact = bool(recorded_text) and "".join(recorded_text) == message.text and all(
        isinstance(p, Text) for p in message.parts)
    calls = {call.id: call for call in message.tool_calls or ()}
    blocks: List[Dict[str, Any]] = []
    for block in kept:
        if block.kind == "thinking":
            blocks.append({"type": "thinking", "thinking": block.text, "signature": block.signature})
        elif block.kind == "redacted_thinking":
            blocks.append({"type": "redacted_thinking", "data": block.data})
        elif block.kind == "tool_use":
            if exact and block.id in calls:
                blocks.append(_tool_use(calls.pop(block.id)))
        elif block.kind == "text":
            if exact:
                blocks.append(_recorded(block) or {"type": "text", "text": block.text})
        else:
            wire = _recorded(block)
            if wire is not None:
                blocks.append(wire)
    if not exact:
        blocks.extend(_part(part) for part in message.parts if _has_content(part))
    blocks.extend(_tool_use(call) for call in calls.values())
    return blocks


def _recorded(block: ReasoningBlock) -> Optional[Dict[str, Any]]:
    try:
        wire = json.loads(block.data or "")
    except ValueError:
        return None
    return wire if isinstance(wire, dict) else None


def _tool_use(call: ToolCall) -> Dict[str, Any]:
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": call.parsed_arguments()}


def _tool_result(message: Message) -> Dict[str, Any]:
    block: Dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
    if isinstance(message.content, str) and message.content:
        block["content"] = message.content
    elif isinstance(message.content, list):
        block["content"] = [_part(part) for part in message.content if _has_content(part)]
    return block


def _part(part: Any) -> Dict[str, Any]:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, Image):
        return {"type": "image", "source": _source(part.url, part.data, part.media_type, "image")}
    if isinstance(part, Document):
        if part.media_type == "text/plain" and part.data is not None:
            source = {"type": "text", "media_type": "text/plain", "data": _decode_text(part.data)}
        else:
            source = _source(part.url, part.data, part.media_type, "document")
        return {"type": "document", "source": source}
    raise InvalidRequestError(f"Anthropic cannot take the content part {part!r}")


def _source(url: Optional[str], data: Optional[str], media_type: Optional[str], what: str) -> Dict[str, Any]:
    if url and url.startswith("data:"):
        media_type, data = split_data_url(url, "Anthropic")
    elif url:
        return {"type": "url", "url": url}
    if not data or not media_type:
        raise InvalidRequestError(f"an {what} needs a url, or base64 data with its media_type")
    return {"type": "base64", "media_type": media_type, "data": data}


def _decode_text(data: str) -> str:
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"a text/plain Document needs base64 UTF-8 data: {exc}") from exc
