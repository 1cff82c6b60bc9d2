"""Structured output into the caller's own types: ``response_format=MyDataclass``.

``output_for(tp)`` turns a type into a ``StructuredOutput``: the JSON Schema sent on the
wire (built by ``llmsync.tool_schema``, the machinery ``@tool`` uses) and the way back
from the reply's text to an instance. A type whose JSON is not an object travels wrapped
in one, because every provider's structured mode wants an object at the root:
``List[T]`` as ``{"items": [...]}``, anything else (an ``Enum``, a ``Literal``, a scalar)
as ``{"value": ...}``; ``parsed`` holds the unwrapped value.

``finish(response, request)`` sets ``Response.parsed`` once a reply is complete (the
exchange calls it for whole replies, ``Stream`` when ``Completed`` arrives), and
``with_output_retries`` asks the model again when its answer does not fit.

Providers receive ``Request.response_format`` as before (None, "json" or a JSON Schema
dict); ``Request.structured_output`` is set when the schema came from a type, which tells
a provider to send its strict form (``llmsync.providers.structured_forms``).
"""
import json
import re
import typing
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from . import tool_schema
from .errors import InvalidRequestError, OutputParseError
from .types import FinishReason, Message, Response

__all__ = ["StructuredOutput", "output_for", "is_output_type", "finish", "with_output_retries",
           "schema_instructions"]

Schema = Dict[str, Any]


@dataclass(frozen=True)
class StructuredOutput:
    """A type asked for as ``response_format``, with its wire schema.

    Attributes:
        type: the caller's type.
        schema: the JSON Schema object sent on the wire (the wrapper included).
        name: a name for the schema, fit for OpenAI's ``json_schema.name``.
        wrap: "items" or "value" when the type travels inside a one-key object, else None.
    """

    type: Any
    schema: Schema
    name: str
    wrap: Optional[str] = None

    def parse(self, text: str) -> Any:
        """The instance the reply's JSON text describes.

        Raises:
            ValueError: the text is not JSON, or does not fit the schema or the type.
        """
        try:
            value = json.loads(_without_fences(text))
        except ValueError as exc:
            raise ValueError(f"the reply is not JSON ({exc})") from None
        value = _drop_added_nulls(self.schema, value, self.schema)
        if self.wrap is not None:
            if not isinstance(value, dict) or self.wrap not in value:
                raise ValueError(f'expected an object {{"{self.wrap}": ...}}, got {_excerpt(value)}')
            value = value[self.wrap]
        if tool_schema.is_pydantic_model(self.type):
            return self.type.model_validate(value)
        inner = self.schema["properties"][self.wrap] if self.wrap else self.schema
        problem = tool_schema.validate(inner, value, "the reply")
        if problem:
            raise ValueError(problem)
        try:
            return tool_schema.convert(self.type, value)
        except TypeError as exc:
            raise ValueError(str(exc)) from None


def is_output_type(value: Any) -> bool:
    """Whether a ``response_format`` value is a type to parse into (not a dict or a string)."""
    return value is not None and not isinstance(value, (str, dict, typing.Mapping))


def output_for(tp: Any) -> StructuredOutput:
    """The ``StructuredOutput`` of a dataclass, TypedDict, pydantic model, ``List[T]``,
    ``Enum``, ``Literal`` or any type ``@tool`` can describe.

    Raises:
        InvalidRequestError: the value is not a type, or a field of it has no JSON Schema
            form (the message names the field).
    """
    if not isinstance(tp, type) and typing.get_origin(tp) is None:
        raise InvalidRequestError(
            "response_format must be a JSON Schema dict, \"json\", an OpenAI response_format dict or a type "
            f"(a dataclass, TypedDict, pydantic model, List[T], Enum or Literal), got {tp!r:.80}")
    try:
        schema = tool_schema.type_schema(tp)
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"response_format {_type_name(tp)}: {exc.message}") from None
    if not schema:
        raise InvalidRequestError(f"response_format {_type_name(tp)} has no JSON Schema: give a typed class")
    if schema.get("type") == "object" and "properties" in schema:
        name = _wire_name(tp)
        schema.setdefault("title", name)
        return StructuredOutput(tp, schema, name)
    wrap = "items" if schema.get("type") == "array" else "value"
    name = _wire_name(tp) + ("_list" if wrap == "items" else "")
    wrapped = {"type": "object", "title": name, "properties": {wrap: schema}, "required": [wrap]}
    return StructuredOutput(tp, wrapped, name, wrap)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__qualname__", None) or repr(tp)


def _wire_name(tp: Any) -> str:
    """``^[a-zA-Z0-9_-]{1,64}$``: OpenAI's rule for ``json_schema.name``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is not None and args and origin is not typing.Literal:
        name = "_".join(_wire_name(arg) for arg in args if arg is not type(None) and arg is not Ellipsis)
    elif origin is typing.Literal:
        name = "choice"
    else:
        name = getattr(tp, "__name__", None) or "response"
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "response"


def _without_fences(text: str) -> str:
    # JSON mode without a schema (a vendor's json_object, a prompt) may come fenced.
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        if stripped.rstrip().endswith("```"):
            stripped = stripped.rstrip()[:-3]
    return stripped


def _resolve(schema: Any, root: Schema) -> Any:
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for key in ref[2:].split("/"):
            node = node.get(key) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else schema
    return schema


def _drop_added_nulls(schema: Any, value: Any, root: Schema) -> Any:
    """``value`` without the nulls a strict provider had to send for optional properties.

    Strict modes (OpenAI) require every property, so an optional one is sent as nullable;
    a null where the caller's type takes no None means "absent": its default applies.
    """
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
        required = set(schema.get("required") or ())
        out = {}
        for key, item in value.items():
            sub = _resolve(schema["properties"].get(key), root)
            if item is None and key not in required and isinstance(sub, dict) and tool_schema.validate(sub, None):
                continue
            out[key] = _drop_added_nulls(sub, item, root)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_drop_added_nulls(schema["items"], item, root) for item in value]
    return value


def _excerpt(value: Any) -> str:
    return json.dumps(value)[:80]


# -- after the reply ------------------------------------------------------------------------------

def finish(response: Response, request: Any) -> Response:
    """Set ``response.parsed`` when ``request`` asked for a type; return ``response``.

    A refusal, a content-filtered reply or a turn that calls tools is left with
    ``parsed`` None.

    Raises:
        OutputParseError: the reply does not parse or validate (``.response`` is the reply).
    """
    spec = getattr(request, "structured_output", None)
    if spec is None or response.parsed is not None or response.refusal:
        return response
    if response.tool_calls and not response.content:
        return response
    try:
        response.parsed = spec.parse(response.content or "")
    except ValueError as exc:
        if response.finish_reason is FinishReason.CONTENT_FILTER:
            return response
        raise OutputParseError(_problem(response, spec, str(exc)), response=response,
                               provider=response.provider) from None
    return response


def _problem(response: Response, spec: StructuredOutput, detail: str) -> str:
    if response.finish_reason is FinishReason.LENGTH:
        return (f"the reply was cut off by the token limit before its {spec.name} JSON was complete; "
                f"raise max_tokens ({detail})")
    return f"the reply does not fit {spec.name}: {detail}"


def with_output_retries(request: Any, send: Callable[[Any], Response]) -> Response:
    """``send(request)``, asking again up to ``request.output_retries`` times when the
    answer does not parse: the error goes back to the model as a follow-up turn.

    The returned reply (or the error's ``.response``) carries the usage, cost and HTTP
    attempts of every try.
    """
    retries = getattr(request, "output_retries", 0) or 0
    spent: List[Response] = []
    while True:
        try:
            response = finish(send(request), request)
        except OutputParseError as error:
            if error.response is None:
                raise
            spent.append(error.response)
            if len(spent) > retries:
                _sum_into(error.response, spent)
                raise
            request = request.with_options(messages=[*request.messages, error.response.to_message(),
                                                     Message.user(_feedback(error))])
            continue
        spent.append(response)
        return _sum_into(response, spent)


def _feedback(error: OutputParseError) -> str:
    return (f"Your answer could not be used: {error.message}. Answer again with only the JSON "
            "that follows the required schema.")


def _sum_into(response: Response, spent: List[Response]) -> Response:
    if len(spent) < 2:
        return response
    usages = [r.usage for r in spent if r.usage is not None]
    if usages:
        total = usages[0]
        for usage in usages[1:]:
            total = total + usage
        response.usage = total
    costs = [r.cost for r in spent]
    response.cost = None if any(c is None for c in costs) else sum(c for c in costs if c is not None)
    response.attempts = sum(r.attempts for r in spent)
    return response


def schema_instructions(schema: Schema) -> str:
    """A system-prompt paragraph asking for JSON that follows ``schema`` (for providers
    that take JSON mode but no schema)."""
    return ("Answer with a single JSON value and nothing else (no prose, no code fences). "
            "It must follow this JSON Schema:\n" + json.dumps(schema, separators=(",", ":")))
