"""Bedrock Converse request content: messages as turns of content blocks, the system
prompt, ``toolConfig`` and cache points.

Wire reference: botocore's service model ``bedrock-runtime/2023-09-30/service-2.json``
(shapes ``Message``, ``ContentBlock``, ``SystemContentBlock``, ``ToolConfiguration``,
``ToolChoice``, ``ImageBlock``, ``DocumentBlock``, ``ReasoningContentBlock``,
``CachePointBlock``) and the Converse API reference. Blobs (image and document bytes,
redacted reasoning) travel as base64 strings in the JSON body.
"""
from typing import Any, Dict, List, Optional, Tuple

from ..errors import InvalidRequestError
from ..options import CacheOptions, Request
from ..types import Document, Image, Message, Role, Text
from .base import add_turn, split_data_url

__all__ = ["conversation", "tool_config", "apply_cache"]

_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                  "image/webp": "webp"}
# DocumentFormat: pdf | csv | doc | docx | xls | xlsx | html | txt | md
_DOCUMENT_FORMATS = {
    "application/pdf": "pdf", "text/csv": "csv", "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html", "text/plain": "txt", "text/markdown": "md",
}
# Claude on Bedrock takes at most 4 cache checkpoints per request, as on Anthropic's API
# (Bedrock user guide, "Prompt caching": supported models and limits).
_MAX_CACHE_POINTS = 4


def conversation(request: Request, provider_id: str) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """``system`` blocks and alternating user/assistant ``messages``.

    Consecutive messages of one role are merged into one turn (Converse wants turns to
    alternate; parallel tool results share one user turn, in call order). Reasoning
    blocks go back only to the provider id that produced them.
    """
    system = [{"text": request.system_prompt}] if request.system_prompt else []
    turns: List[Dict[str, Any]] = []
    documents = [0]  # a counter shared by every turn, for unique document names
    for message in request.messages:
        if message.role is Role.SYSTEM:
            if message.text:
                system.append({"text": message.text})
            continue
        if message.role is Role.ASSISTANT:
            role, blocks = "assistant", _assistant_blocks(message, provider_id, documents)
        elif message.role is Role.TOOL:
            role, blocks = "user", [_tool_result(message, documents)]
        else:
            role, blocks = "user", [_part(part, documents) for part in message.parts if _has_content(part)]
        if blocks:
            add_turn(turns, role, blocks)
    return system, turns


def has_tool_blocks(turns: List[Dict[str, Any]]) -> bool:
    """Whether the conversation holds toolUse or toolResult blocks (which need a toolConfig)."""
    return any("toolUse" in block or "toolResult" in block for turn in turns for block in turn["content"])


def tool_config(request: Request, turns: List[Dict[str, Any]], adjustments: List[str]) -> Optional[Dict[str, Any]]:
    """``toolConfig``: the tools and the choice (``auto``/``any``/``tool``), or None."""
    tools = request.tool_definitions
    if not tools:
        return None
    choice = request.tool_choice
    config: Dict[str, Any] = {"tools": [{"toolSpec": _tool_spec(t.name, t.description, t.parameters)}
                                        for t in tools]}
    if choice is not None and choice.mode == "none":
        # Converse has no "none" choice. Without tools the model cannot call one, but a
        # conversation holding toolUse/toolResult blocks must still declare them.
        if not has_tool_blocks(turns):
            return None
        adjustments.append("tool_choice 'none' is not available on Bedrock Converse; the tools are "
                           "sent (the conversation holds tool calls) and the model may still call one")
    elif choice is not None and choice.mode == "function":
        config["toolChoice"] = {"tool": {"name": choice.name}}
    elif choice is not None:
        config["toolChoice"] = {choice.mode: {}}
    config_parallel = request.parallel_tool_config
    if request.parallel_tool_calls is False or (config_parallel and config_parallel.disable_parallel_tool_use):
        adjustments.append("parallel tool calls cannot be turned off on Bedrock Converse (no such field); "
                           "the model may call several tools at once")
    return config


def apply_cache(cache: CacheOptions, body: Dict[str, Any], adjustments: List[str]) -> None:
    """Append ``cachePoint`` blocks: after the system prompt, after the tools, and at the
    end of the last N user turns (at most 4 per request)."""
    point: Dict[str, Any] = {"type": "default"}
    if cache.extended_ttl:
        point["ttl"] = "1h"
    slots = _MAX_CACHE_POINTS
    if cache.cache_system_prompt and body.get("system"):
        body["system"].append({"cachePoint": dict(point)})
        slots -= 1
    tools = (body.get("toolConfig") or {}).get("tools")
    if cache.cache_tools and tools:
        tools.append({"cachePoint": dict(point)})
        slots -= 1
    if cache.cache_recent_turns > 0:
        turns = [t for t in body["messages"] if t["role"] == "user"][-cache.cache_recent_turns:]
        if len(turns) > slots:
            adjustments.append(f"cache points on the {len(turns) - slots} oldest of the last {len(turns)} "
                               f"user turns dropped: Bedrock allows {_MAX_CACHE_POINTS} per request")
            turns = turns[len(turns) - slots:]
        for turn in turns:
            turn["content"].append({"cachePoint": dict(point)})
    if cache.global_scope:
        adjustments.append("cache global_scope ignored: Bedrock has no wire field for it")


def _tool_spec(name: str, description: str, parameters: Dict[str, Any]) -> Dict[str, Any]:
    spec: Dict[str, Any] = {"name": name, "inputSchema": {"json": parameters}}
    if description:  # NonEmptyString: an empty description is a ValidationException
        spec["description"] = description
    return spec


def _has_content(part: Any) -> bool:
    return not isinstance(part, Text) or bool(part.text)


def _assistant_blocks(message: Message, provider_id: str, documents: List[int]) -> List[Dict[str, Any]]:
    # Reasoning goes back first and unchanged. Claude needs its signed reasoningText (and
    # redacted blocks) back in multi-turn tool use; reasoning without a signature (Nova,
    # DeepSeek) is not something any model asks back, so it is not sent.
    blocks: List[Dict[str, Any]] = []
    for block in message.reasoning or ():
        if block.provider != provider_id:
            continue
        if block.kind == "reasoning_text" and block.signature:
            blocks.append({"reasoningContent": {"reasoningText": {"text": block.text,
                                                                  "signature": block.signature}}})
        elif block.kind == "redacted_content" and block.data:
            blocks.append({"reasoningContent": {"redactedContent": block.data}})
    blocks.extend(_part(part, documents) for part in message.parts if _has_content(part))
    blocks.extend({"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.parsed_arguments()}}
                  for call in message.tool_calls or ())
    return blocks


def _tool_result(message: Message, documents: List[int]) -> Dict[str, Any]:
    if isinstance(message.content, list):
        content = [_part(part, documents) for part in message.content if _has_content(part)]
    else:
        content = [{"text": message.content}] if message.content else []
    return {"toolResult": {"toolUseId": message.tool_call_id, "content": content}}


def _part(part: Any, documents: List[int]) -> Dict[str, Any]:
    if isinstance(part, Text):
        return {"text": part.text}
    if isinstance(part, Image):
        media_type, source = _source(part.url, part.data, part.media_type, "an image")
        image_format = _IMAGE_FORMATS.get((media_type or "").lower())
        if image_format is None:
            raise InvalidRequestError(f"Bedrock takes png, jpeg, gif or webp images, got media type "
                                      f"{media_type!r}", provider="bedrock")
        return {"image": {"format": image_format, "source": source}}
    if isinstance(part, Document):
        media_type, source = _source(part.url, part.data, part.media_type, "a document")
        document_format = _DOCUMENT_FORMATS.get((media_type or "").lower())
        if document_format is None:
            raise InvalidRequestError(f"Bedrock takes documents of types {sorted(_DOCUMENT_FORMATS)}, got "
                                      f"{media_type!r}", provider="bedrock")
        documents[0] += 1
        # The name is shown to the model: a neutral one, as the API reference advises.
        return {"document": {"format": document_format, "name": f"document-{documents[0]}", "source": source}}
    raise InvalidRequestError(f"Bedrock cannot take the content part {part!r}", provider="bedrock")


def _source(url: Optional[str], data: Optional[str], media_type: Optional[str],
            what: str) -> Tuple[Optional[str], Dict[str, Any]]:
    if url and url.startswith("s3://"):
        return media_type, {"s3Location": {"uri": url}}
    if url and url.startswith("data:"):
        media_type, data = split_data_url(url, "Bedrock")
    elif url:
        raise InvalidRequestError(
            f"Bedrock cannot fetch {what} from a URL ({url[:60]!r}); pass its bytes instead "
            "(Image.from_path / Document.from_path, or data= with media_type=) or an s3:// URI",
            provider="bedrock")
    if not data or not media_type:
        raise InvalidRequestError(f"{what} needs base64 data with its media_type (or an s3:// url)",
                                  provider="bedrock")
    return media_type, {"bytes": data}
