"""A structured-output schema in the form each provider's constrained decoding takes.

Strict modes compile the schema into a grammar and accept only a subset of JSON Schema.
``adapt`` rewrites a schema for one of them: keywords the mode ignores-or-rejects but
that llmsync checks itself on the reply are dropped; structures the mode cannot express
(a map ``Dict[str, T]``, a free-form object, a tuple) make the schema unfit, and the
provider then falls back (OpenAI: ``strict: false``; Anthropic, Bedrock: the schema in
the system prompt), always with an adjustment, never a request sent to fail.

* OpenAI strict mode (platform.openai.com/docs/guides/structured-outputs, "Supported
  schemas"; openai-python ``lib/_pydantic.py`` ``to_strict_json_schema``): every object
  ``additionalProperties: false`` and every property required, optional ones nullable;
  not ``patternProperties``, ``propertyNames``, ``min/maxProperties``,
  ``unevaluatedProperties``, ``minLength``/``maxLength``, ``uniqueItems``, ``contains``,
  ``allOf`` (of more than one), ``not``, ``if``/``then``/``else``, ``dependent*``.
* Anthropic (docs.claude.com build-with-claude/structured-outputs, "JSON Schema
  limitations"): ``additionalProperties: false`` on every object; no numeric
  (``minimum``, ``maximum``, ``multipleOf``) or string length constraints, ``minItems``
  only 0 or 1, no recursive schemas.
"""
import copy
import re
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Optional, Tuple

from ..structured import schema_instructions

__all__ = ["Dialect", "OPENAI_STRICT", "ANTHROPIC", "adapt", "fallback_instructions", "wire_name",
           "json_schema_form", "add_system_text"]

Schema = Dict[str, Any]


@dataclass(frozen=True)
class Dialect:
    """What one provider's strict mode takes."""

    name: str
    require_all: bool  # every property required, optional ones made nullable
    drop: FrozenSet[str]  # keywords removed (llmsync still checks them on the reply)
    refuse: FrozenSet[str]  # keywords the mode cannot express
    max_min_items: Optional[int] = None  # minItems above this is dropped


_STRUCTURAL = frozenset({"patternProperties", "propertyNames", "minProperties", "maxProperties",
                         "unevaluatedProperties", "prefixItems", "not", "if", "then", "else",
                         "dependentRequired", "dependentSchemas"})

OPENAI_STRICT = Dialect("OpenAI strict mode", True,
                        frozenset({"minLength", "maxLength", "uniqueItems", "contains", "minContains",
                                   "maxContains", "unevaluatedItems"}), _STRUCTURAL)
ANTHROPIC = Dialect("Anthropic structured outputs", False,
                    frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
                               "minLength", "maxLength", "maxItems", "uniqueItems", "contains"}),
                    _STRUCTURAL, max_min_items=1)


@dataclass
class _Walk:
    dialect: Dialect
    root: Schema
    dropped: List[str] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)

    def node(self, schema: Any, path: str) -> Any:
        if not isinstance(schema, dict):
            return schema
        if not schema:
            self.problems.append(f"{path} takes a value of any type")
            return schema
        ref = schema.get("$ref")
        if isinstance(ref, str) and len(schema) > 1:
            schema = self.inline(ref, schema)
        for key in [k for k in schema if k in self.dialect.refuse]:
            self.problems.append(f"{path} uses {key!r}")
        for key in [k for k in schema if k in self.dialect.drop]:
            self.dropped.append(f"{key} at {path}")
            del schema[key]
        limit = self.dialect.max_min_items
        if limit is not None and isinstance(schema.get("minItems"), int) and schema["minItems"] > limit:
            self.dropped.append(f"minItems at {path}")
            del schema["minItems"]
        if "oneOf" in schema:  # the reply is checked locally: anyOf is enough to decode it
            schema["anyOf"] = schema.pop("oneOf")
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
            del schema["allOf"]
            schema = {**all_of[0], **schema}
        elif all_of is not None:
            self.problems.append(f"{path} uses 'allOf'")
        if schema.get("type") == "object" or "properties" in schema:
            self.obj(schema, path)
        for key in ("items", "additionalItems"):
            if isinstance(schema.get(key), dict):
                schema[key] = self.node(schema[key], f"{path}[]")
        for key in ("anyOf",):
            if isinstance(schema.get(key), list):
                schema[key] = [self.node(option, path) for option in schema[key]]
        for key in ("$defs", "definitions"):
            if isinstance(schema.get(key), dict):
                schema[key] = {name: self.node(sub, f"{key}.{name}") for name, sub in schema[key].items()}
        return schema

    def obj(self, schema: Schema, path: str) -> None:
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) or extra is True or (not properties and extra is not False):
            self.problems.append(f"{path} is a map or a free-form object (Dict[str, T], dict)")
            return
        schema["additionalProperties"] = False
        if not isinstance(properties, dict):
            return
        required = set(schema.get("required") or ())
        for name, sub in list(properties.items()):
            sub = self.node(sub, f"{path}.{name}" if path != "the schema" else name)
            if self.dialect.require_all and name not in required and not _nullable(sub, self.root):
                sub = {"anyOf": [sub, {"type": "null"}]}
            properties[name] = sub
        if self.dialect.require_all:
            schema["required"] = list(properties)

    def inline(self, ref: str, schema: Schema) -> Schema:
        # "$ref" with siblings (a description, a default) is refused by strict mode:
        # inline the target, the siblings winning (openai-python does the same).
        target = _resolve(ref, self.root)
        if not isinstance(target, dict):
            return schema
        return {**copy.deepcopy(target), **{k: v for k, v in schema.items() if k != "$ref"}}


def _recursive(node: Any, root: Schema, stack: Tuple[str, ...] = ()) -> bool:
    """Whether following ``$ref``s from ``node`` comes back to one already on the way."""
    if isinstance(node, list):
        return any(_recursive(item, root, stack) for item in node)
    if not isinstance(node, dict):
        return False
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in stack:
            return True
        if _recursive(_resolve(ref, root), root, stack + (ref,)):
            return True
    return any(_recursive(value, root, stack) for key, value in node.items()
               if key not in ("$defs", "definitions", "$ref"))


def _resolve(ref: str, root: Schema) -> Any:
    node: Any = root
    for key in ref[2:].split("/") if ref.startswith("#/") else ():
        node = node.get(key) if isinstance(node, dict) else None
    return node if ref.startswith("#/") else None


def _nullable(schema: Any, root: Schema) -> bool:
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    if isinstance(schema.get("$ref"), str):
        return _nullable(_resolve(schema["$ref"], root), root)
    return any(_nullable(option, root) for option in schema.get("anyOf") or ())


def adapt(schema: Schema, dialect: Dialect) -> Tuple[Optional[Schema], List[str]]:
    """``schema`` rewritten for ``dialect``, with the adjustments that say what changed.

    Returns:
        (the schema, notes), or (None, notes) when the dialect cannot express it; the
        caller then falls back and lists the notes.
    """
    if _recursive(schema, schema):
        return None, [f"{dialect.name} cannot take this schema (it is recursive)"]
    root = copy.deepcopy(schema)
    walk = _Walk(dialect, root)
    adapted = walk.node(root, "the schema")
    if walk.problems:
        return None, [f"{dialect.name} cannot take this schema ({'; '.join(sorted(set(walk.problems)))})"]
    notes = []
    if walk.dropped:
        notes.append(f"{dialect.name}: dropped {', '.join(walk.dropped)} from the schema (not supported there)")
    return adapted, notes


def fallback_instructions(schema: Schema) -> str:
    """The system-prompt text that asks for JSON following ``schema`` where the provider
    cannot constrain its output to it."""
    return schema_instructions(schema)


def wire_name(schema: Schema) -> str:
    """The schema's name for the wire (its title, else "response"), fit for OpenAI's
    ``^[a-zA-Z0-9_-]{1,64}$``."""
    title = schema.get("title")
    name = re.sub(r"[^A-Za-z0-9_-]", "_", title)[:64] if isinstance(title, str) else ""
    return name or "response"


def json_schema_form(request: Any, adjustments: List[str], strict: bool = True) -> Dict[str, Any]:
    """OpenAI's ``{"name", "schema", "strict"}`` for ``request.response_format`` (a dict).

    A schema from a type (``request.structured_output``) is sent strict where ``strict``
    is asked and the schema fits strict mode, else with ``strict: false`` and a note; a
    schema the caller wrote is sent as written.
    """
    schema = request.response_format
    form: Dict[str, Any] = {"name": wire_name(schema), "schema": schema}
    if request.structured_output is None or not strict:
        return form
    adapted, notes = adapt(schema, OPENAI_STRICT)
    adjustments.extend(notes)
    if adapted is None:
        adjustments.append("response_format sent with strict: false; the reply is validated by llmsync")
        form["strict"] = False
    else:
        form.update(schema=adapted, strict=True)
    return form


def add_system_text(messages: List[Dict[str, Any]], text: str) -> None:
    """Append ``text`` to a Chat Completions conversation's leading system message (or add one)."""
    if messages and messages[0].get("role") in ("system", "developer") and isinstance(messages[0].get("content"), str):
        messages[0]["content"] = f"{messages[0]['content']}\n\n{text}"
    else:
        messages.insert(0, {"role": "system", "content": text})
