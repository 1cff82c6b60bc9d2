"""JSON Schema as the Gemini API takes it, for tool parameters and structured output.

Gemini has two schema fields: ``parameters`` / ``responseSchema`` (a subset of the
OpenAPI 3.0 Schema object: upper-case types, ``nullable``, no ``$ref``, no
``additionalProperties``) and ``parametersJsonSchema`` / ``responseJsonSchema`` (JSON
Schema). llmsync sends JSON Schema, nearly unchanged, because:

* the structured-output guide (ai.google.dev/gemini-api/docs/structured-output, "JSON
  schema support") documents ``type`` arrays with ``"null"``, ``anyOf``, ``enum``,
  ``additionalProperties``, ``prefixItems``, ``minItems``/``maxItems``, and its own
  Python example sends Pydantic's ``model_json_schema()``, which nests through
  ``$defs``/``$ref``; "The model ignores unsupported properties";
* ``parametersJsonSchema`` is documented with the same example shape, including
  ``"additionalProperties": false`` (FunctionDeclaration, v1beta discovery document);
* translating to the OpenAPI subset loses meaning (``anyOf`` of objects, recursive
  ``$ref``, ``additionalProperties`` as a schema) for no gain on current models.

The two fields are mutually exclusive with their OpenAPI twins, so llmsync never sends
``parameters`` or ``responseSchema``.
"""
from typing import Any, Dict

__all__ = ["json_schema"]

# Keywords that describe the document, not the value. "$schema" names a draft the API
# does not promise to follow; the rest are comments. Dropped at every level.
_META_KEYWORDS = frozenset({"$schema", "$comment"})


def json_schema(schema: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of ``schema`` fit for ``parametersJsonSchema`` / ``responseJsonSchema``.

    Args:
        schema: a JSON Schema object (a tool's parameters or a response format).

    Returns:
        The same schema without meta keywords (``$schema``, ``$comment``); everything
        else, ``$defs``/``$ref``, ``anyOf``, ``enum`` and ``additionalProperties``
        included, is kept as written.
    """
    return _strip(schema)


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _keep(key, value) for key, value in node.items() if key not in _META_KEYWORDS}
    if isinstance(node, list):
        return [_strip(item) for item in node]
    return node


def _keep(key: str, value: Any) -> Any:
    # Under "properties" and "$defs" the keys are names chosen by the user, so a
    # property called "$comment" survives; only the schemas below them are cleaned.
    if key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(value, dict):
        return {name: _strip(sub) for name, sub in value.items()}
    return _strip(value)
