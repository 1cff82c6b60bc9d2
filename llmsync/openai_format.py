"""The shapes users already have: OpenAI Chat Completions dicts to and from llmsync types.

Messages: OpenAI's roles (``developer`` is read as system), string or part-list
content (``text``, ``image_url`` with an https or data URL, ``file`` with base64
``file_data``), assistant ``tool_calls`` and ``tool`` results, and llmsync's own dict
form (``Message.to_dict()``), part by part. Tools: OpenAI function dicts, Anthropic tool
dicts and flat ``{"name", "description", "parameters"}`` dicts. ``response_format``:
OpenAI's ``json_schema`` and ``json_object`` forms.

Reference: the Chat Completions API (platform.openai.com/docs/api-reference/chat/create)
and openai-python ``types/chat/chat_completion_*_param.py``. Nothing here sends anything:
a provider module still maps the resulting llmsync types to its own wire format.
"""
import json
import time
from typing import Any, Dict, List, Mapping, Optional, Union

from . import media
from .errors import InvalidRequestError
from .types import (Document, FinishReason, Image, Message, Part, ReasoningBlock, Response, Role,
                    Text, ToolCall, ToolDefinition)

__all__ = ["message_from_openai", "message_to_openai", "response_to_openai", "content_from_dict",
           "part_from_dict", "tool_call_from_dict", "tool_definition_from_dict",
           "normalize_response_format", "check_message"]

_ROLES = {"system": Role.SYSTEM, "developer": Role.SYSTEM, "user": Role.USER,
          "assistant": Role.ASSISTANT, "tool": Role.TOOL}
_PART_TYPES = "text, image_url, file (OpenAI) or text, image, document (llmsync)"
# Keys of OpenAI reply messages that carry nothing to send back (model_dump() output).
_IGNORED_KEYS = {"annotations"}
_MESSAGE_KEYS = {"role", "content", "tool_calls", "tool_call_id", "name", "reasoning", "refusal"}


def _fail(where: str, problem: str) -> InvalidRequestError:
    return InvalidRequestError(f"{where}: {problem}")


# -- messages in ------------------------------------------------------------------------------

def message_from_openai(data: Any, where: str = "message") -> Message:
    """A ``Message`` from an OpenAI Chat Completions message dict or llmsync's own dict.

    Args:
        data: the dict.
        where: how errors name it (``Request`` passes ``messages[i]``).

    Raises:
        InvalidRequestError: an unknown role, part type or key, or a value of the wrong
            type, naming its place (``messages[2].content[1]: unknown content part type 'audio'``).
    """
    if not isinstance(data, Mapping):
        raise _fail(where, f"a message must be a Message or a dict, got {type(data).__name__}")
    role = data.get("role")
    if role is None:
        raise _fail(f"{where}.role", f"a message dict needs a role: one of {', '.join(_ROLES)}")
    if not isinstance(role, str) or role.lower() not in _ROLES:
        raise _fail(f"{where}.role", f"malformed message: unknown role {role!r}; "
                    f"expected one of {', '.join(_ROLES)}")
    for key, value in data.items():
        if key not in _MESSAGE_KEYS and key not in _IGNORED_KEYS and value is not None:
            raise _fail(f"{where}.{key}", "llmsync does not take this message key"
                        + ("; use tool_calls" if key == "function_call" else ""))
    content = content_from_dict(data.get("content"), f"{where}.content")
    if content is None and data.get("refusal"):
        content = _text(data["refusal"], f"{where}.refusal")
    tool_calls = data.get("tool_calls")
    if tool_calls is not None and not isinstance(tool_calls, list):
        raise _fail(f"{where}.tool_calls", f"must be a list, got {type(tool_calls).__name__}")
    calls = [tool_call_from_dict(call, f"{where}.tool_calls[{i}]") for i, call in enumerate(tool_calls or [])]
    return Message(_ROLES[role.lower()], content, tool_calls=calls or None,
                   tool_call_id=_optional_str(data, "tool_call_id", where),
                   name=_optional_str(data, "name", where),
                   reasoning=_reasoning(data.get("reasoning"), f"{where}.reasoning"))


def content_from_dict(content: Any, where: str) -> Union[str, List[Part], None]:
    """Message content: None, a string, or a list of parts (objects or dicts of either form).

    Raises:
        InvalidRequestError: content of another type, or a part that is not a part.
    """
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, (Text, Image, Document)):
        return [content]
    if not isinstance(content, (list, tuple)):
        raise _fail(where, f"must be a string or a list of parts, got {type(content).__name__}")
    return [part_from_dict(item, f"{where}[{i}]") for i, item in enumerate(content)]


def part_from_dict(item: Any, where: str) -> Part:
    """One content part from a dict (OpenAI's or llmsync's form); parts pass through.

    Raises:
        InvalidRequestError: an unknown part type or a malformed part.
    """
    if isinstance(item, (Text, Image, Document)):
        return item
    if not isinstance(item, Mapping):
        raise _fail(where, f"a part must be Text, Image, Document or a dict, got {type(item).__name__}")
    kind = item.get("type", "text")
    if kind in ("text", "refusal"):
        return Text(_text(item.get(kind), f"{where}.{kind}"))
    if kind == "image_url":
        return _image_url(item.get("image_url"), f"{where}.image_url")
    if kind == "file":
        return _file(item.get("file"), f"{where}.file")
    if kind in ("image", "document"):
        return _own_part(Image if kind == "image" else Document, item, where)
    raise _fail(where, f"unknown content part type {kind!r}; expected {_PART_TYPES}")


def _image_url(value: Any, where: str) -> Image:
    url = value.get("url") if isinstance(value, Mapping) else value
    if not isinstance(url, str):
        raise _fail(where, f'needs {{"url": "https://..." or a data URL}}, got {value!r:.80}')
    split = media.split_data_url(url)
    return Image(data=split[1], media_type=split[0]) if split else Image(url=url)


def _file(value: Any, where: str) -> Document:
    if not isinstance(value, Mapping):
        raise _fail(where, f'needs {{"file_data": ..., "filename": ...}}, got {value!r:.80}')
    filename = _optional_str(value, "filename", where)
    data = value.get("file_data")
    if not isinstance(data, str):
        hint = ("file_id names a file uploaded to OpenAI, which other providers cannot read; "
                if value.get("file_id") else "")
        raise _fail(f"{where}.file_data", f"{hint}pass the file as base64 file_data")
    split = media.split_data_url(data)
    if split is not None:
        return Document(data=split[1], media_type=split[0], filename=filename)
    media_type = media.guess_type(filename) or "application/pdf"
    return Document(data=data, media_type=media_type, filename=filename)


def _own_part(cls: Any, item: Mapping, where: str) -> Part:
    allowed = {"url", "data", "media_type"} | ({"filename"} if cls is Document else set())
    for key in item:
        if key not in allowed and key != "type":
            raise _fail(f"{where}.{key}", f"unknown {cls.__name__} field; expected {', '.join(sorted(allowed))}")
    try:
        return cls(**{key: value for key, value in item.items() if key != "type"})
    except InvalidRequestError as exc:
        raise _fail(where, exc.message) from None


def tool_call_from_dict(call: Any, where: str) -> ToolCall:
    """A ``ToolCall`` from OpenAI's ``{"id", "type": "function", "function": {...}}`` or
    llmsync's ``{"id", "name", "arguments"}``; arguments given as an object are encoded.

    Raises:
        InvalidRequestError: a missing id or name, or another kind of tool call.
    """
    if isinstance(call, ToolCall):
        return call
    if not isinstance(call, Mapping):
        raise _fail(where, f"a tool call must be a ToolCall or a dict, got {type(call).__name__}")
    body: Mapping = call
    if "function" in call:
        if call.get("type", "function") != "function" or not isinstance(call["function"], Mapping):
            raise _fail(where, f"only function tool calls are supported, got type {call.get('type')!r}")
        body = call["function"]
    arguments = body.get("arguments", "{}")
    if arguments is None:
        arguments = "{}"
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    for key, value in (("id", call.get("id")), ("name", body.get("name"))):
        if not isinstance(value, str) or not value:
            raise _fail(f"{where}.{key}", f"a tool call needs its {key}, got {value!r}")
    signature = call.get("signature")
    return ToolCall(call["id"], body["name"], arguments,
                    signature if isinstance(signature, str) else None)


def check_message(message: Message) -> None:
    """Turn a new ``Message``'s part and tool-call dicts into objects, checking their types."""
    message.content = content_from_dict(message.content, "content")
    if message.tool_calls is not None:
        if not isinstance(message.tool_calls, (list, tuple)):
            raise _fail("tool_calls", f"must be a list, got {type(message.tool_calls).__name__}")
        message.tool_calls = [tool_call_from_dict(call, f"tool_calls[{i}]")
                              for i, call in enumerate(message.tool_calls)]


def _reasoning(blocks: Any, where: str) -> Optional[List[ReasoningBlock]]:
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        raise _fail(where, f"must be a list, got {type(blocks).__name__}")
    result = []
    for i, block in enumerate(blocks):
        if isinstance(block, ReasoningBlock):
            result.append(block)
            continue
        try:
            result.append(ReasoningBlock.from_dict(block))  # type: ignore[attr-defined]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # dataclasses-json's own
            raise _fail(f"{where}[{i}]", f"malformed reasoning block: {exc}") from None
    return result or None


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"must be a string, got {type(value).__name__}")
    return value


def _optional_str(data: Mapping, key: str, where: str) -> Optional[str]:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise _fail(f"{where}.{key}", f"must be a string, got {type(value).__name__}")
    return value


# -- messages and replies out -----------------------------------------------------------------

def message_to_openai(message: Message) -> Dict[str, Any]:
    """A Chat Completions message dict; reasoning blocks have no place there and are left out.

    Raises:
        InvalidRequestError: a document given by URL (Chat Completions takes file data only).
    """
    out: Dict[str, Any] = {"role": message.role.value}
    if message.role is Role.TOOL:
        out["tool_call_id"] = message.tool_call_id
    if isinstance(message.content, list):
        out["content"] = [_part_to_openai(part) for part in message.content]
    else:
        out["content"] = message.content
    if message.tool_calls:
        out["tool_calls"] = [_call_to_openai(call) for call in message.tool_calls]
    if message.name and message.role is not Role.TOOL:
        out["name"] = message.name
    return out


def _part_to_openai(part: Part) -> Dict[str, Any]:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text}
    if isinstance(part, Image):
        url = part.url or f"data:{part.media_type or 'image/png'};base64,{part.data}"
        return {"type": "image_url", "image_url": {"url": url}}
    if part.data is None:
        raise InvalidRequestError("Chat Completions takes documents as base64 file_data, not URLs; "
                                  "use Document.from_path(...) or Document(data=...)")
    return {"type": "file", "file": {"filename": part.filename or "document.pdf",
                                     "file_data": f"data:{part.media_type};base64,{part.data}"}}


def _call_to_openai(call: ToolCall) -> Dict[str, Any]:
    return {"id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": call.arguments}}


def response_to_openai(response: Response) -> Dict[str, Any]:
    """A ``chat.completion`` dict with one choice, as the openai SDK's ``model_dump()`` has it.

    ``FinishReason.ERROR`` has no OpenAI value and is written as "error"; ``created`` is
    the time of the call to this function.
    """
    message: Dict[str, Any] = {"role": "assistant", "content": response.content,
                               "refusal": response.refusal}
    if response.tool_calls:
        message["tool_calls"] = [_call_to_openai(call) for call in response.tool_calls]
    finish = response.finish_reason.value if isinstance(response.finish_reason, FinishReason) else None
    out: Dict[str, Any] = {
        "id": response.id, "object": "chat.completion", "created": int(time.time()),
        "model": response.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish,
                     "logprobs": _logprobs(response)}],
    }
    if response.usage is not None:
        usage = response.usage
        out["usage"] = {
            "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        }
    return out


def _logprobs(response: Response) -> Optional[Dict[str, Any]]:
    if not response.logprobs:
        return None
    return {"content": [{"token": item.token, "logprob": item.logprob,
                         "top_logprobs": [{"token": top.token, "logprob": top.logprob} for top in item.top]}
                        for item in response.logprobs]}


# -- tools and response formats ---------------------------------------------------------------

def tool_definition_from_dict(tool: Mapping, where: str = "tool") -> ToolDefinition:
    """A ``ToolDefinition`` from an OpenAI function dict (``{"type": "function",
    "function": {...}}``, or the Responses API's flat form), an Anthropic tool dict
    (``{"name", "description", "input_schema"}``) or ``ToolDefinition.to_dict()``.

    Raises:
        InvalidRequestError: no name, a schema that is not an object, both ``parameters``
            and ``input_schema``, or a provider-run tool type (web search and the like).
    """
    body: Mapping = tool
    if isinstance(tool.get("function"), Mapping):
        body, where = tool["function"], f"{where}.function"
    elif tool.get("type") not in (None, "function", "custom"):
        raise _fail(f"{where}.type", f"{tool.get('type')!r} is not a function tool; give "
                    "provider-run tools through extra_body")
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(f"{where}.name", f"a tool dict needs a name, got {name!r}")
    if "parameters" in body and "input_schema" in body:
        raise _fail(where, "give parameters (OpenAI) or input_schema (Anthropic), not both")
    key = "input_schema" if "input_schema" in body else "parameters"
    schema = body.get(key)
    if schema is None:
        schema = {"type": "object", "properties": {}}
    if not isinstance(schema, Mapping):
        raise _fail(f"{where}.{key}", f"must be a JSON Schema object, got {type(schema).__name__}")
    description = body.get("description") or ""
    if not isinstance(description, str):
        raise _fail(f"{where}.description", f"must be a string, got {type(description).__name__}")
    return ToolDefinition(name, description, dict(schema))


# JSON Schema's own type names: a dict with one of these is a schema, not an OpenAI form.
_SCHEMA_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def normalize_response_format(value: Any) -> Union[Dict[str, Any], str, None]:
    """``response_format`` in the one form providers receive: a JSON Schema dict or "json".

    ``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`` gives its
    ``schema`` (its ``name`` kept as the schema's ``title`` unless it has one; ``strict``
    is not carried), ``{"type": "json_object"}`` gives "json" and ``{"type": "text"}``
    None; any other dict is taken as the schema itself.

    Raises:
        InvalidRequestError: anything else, naming the accepted forms.
    """
    if value is None or value == "json":
        return value
    if not isinstance(value, Mapping):
        raise InvalidRequestError(
            'response_format must be a JSON Schema dict, "json", {"type": "json_object"} or '
            f'{{"type": "json_schema", "json_schema": {{...}}}}, got {value!r:.80}')
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        return _json_schema_form(value.get("json_schema"))
    if isinstance(kind, str) and kind not in _SCHEMA_TYPES:
        raise InvalidRequestError(
            f"response_format: unknown type {kind!r}; expected a JSON Schema, "
            '"json_schema", "json_object" or "text"')
    return dict(value)


def _json_schema_form(body: Any) -> Union[Dict[str, Any], str]:
    if not isinstance(body, Mapping):
        raise InvalidRequestError('response_format.json_schema must be {"name": ..., "schema": {...}}, '
                                  f"got {body!r:.80}")
    schema = body.get("schema")
    if schema is None:  # OpenAI allows a json_schema without a schema: any JSON
        return "json"
    if not isinstance(schema, Mapping):
        raise InvalidRequestError(f"response_format.json_schema.schema must be a JSON Schema dict, "
                                  f"got {type(schema).__name__}")
    schema = dict(schema)
    if isinstance(body.get("name"), str) and "title" not in schema:
        schema["title"] = body["name"]
    return schema
