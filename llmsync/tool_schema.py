"""JSON Schema from Python type hints and docstrings, and tool arguments checked against it.

``function_schema`` describes a function's parameters: ``str``, ``int``, ``float``,
``bool``, ``list``/``List[X]`` (and sets, tuples, sequences), ``dict``/``Dict[str, X]``,
``Optional``, ``Union`` (also ``X | Y``), ``Literal``, ``Enum``, ``datetime``/``date``/
``time`` (ISO 8601 strings), dataclasses and ``TypedDict`` (nested objects, inlined: some
providers reject ``$ref``), pydantic v2 models (their own ``model_json_schema()``; pydantic
is never imported here: a class is a pydantic model only if pydantic is already loaded),
``Annotated[X, "description"]`` and ``Any``. Parameter descriptions come from the docstring's
Google-style ``Args:`` or NumPy-style ``Parameters`` section; its first paragraph is the
description of the function itself.

``validate`` checks decoded JSON against such a schema (types, required properties,
enums, unions) and ``convert`` turns it into the annotated Python values (enum members,
dataclass instances, tuples and sets) before a tool is called.
"""
import collections.abc
import dataclasses
import datetime
import enum
import inspect
import json
import sys
import typing
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from .docstrings import Docstring, parse_docstring
from .errors import InvalidRequestError

__all__ = ["Docstring", "parse_docstring", "function_schema", "parameters_schema", "type_schema",
           "type_hints", "validate", "convert", "is_pydantic_model"]

Schema = Dict[str, Any]

if sys.version_info >= (3, 10):
    import types

    _UNION_TYPES: Tuple[Any, ...] = (typing.Union, types.UnionType)
else:  # pragma: no cover - Python 3.9
    _UNION_TYPES = (typing.Union,)

_SCALARS: Dict[Any, Schema] = {
    str: {"type": "string"}, bool: {"type": "boolean"}, int: {"type": "integer"},
    float: {"type": "number"}, bytes: {"type": "string"}, type(None): {"type": "null"},
}
# JSON Schema "format" of the date and time types (RFC 3339 / ISO 8601 strings).
_TIMES: Dict[Any, str] = {datetime.datetime: "date-time", datetime.date: "date", datetime.time: "time"}
_ARRAYS = {list, set, frozenset, tuple, collections.abc.Sequence, collections.abc.MutableSequence,
           collections.abc.Set, collections.abc.MutableSet, collections.abc.Iterable,
           collections.abc.Collection}
_OBJECTS = {dict, collections.abc.Mapping, collections.abc.MutableMapping}


# -- schemas ----------------------------------------------------------------------------------

def type_hints(obj: Any, localns: Optional[Mapping[str, Any]] = None,
               names: Optional[Iterable[str]] = None) -> Dict[str, Any]:
    """``typing.get_type_hints`` with ``Annotated`` kept and a clear error when it fails.

    ``localns`` resolves names that string annotations (``from __future__ import
    annotations``) refer to but the defining module's globals lack, such as classes
    defined inside a function. ``names`` limits the work to those annotations, so a
    method's ``self: "Cls"`` or ``-> "Cls"`` need not resolve while its class is built.
    """
    target = obj
    annotations = getattr(obj, "__annotations__", None)
    if names is not None and isinstance(annotations, dict):
        wanted = set(names)
        target = _Annotations({k: v for k, v in annotations.items() if k in wanted},
                              getattr(inspect.unwrap(obj), "__globals__", {}))
    try:
        return typing.get_type_hints(target, localns=dict(localns or {}), include_extras=True)
    except (NameError, TypeError, SyntaxError) as exc:
        hint = " (write Optional[X] / Union[X, Y] before Python 3.10)" if "|" in str(exc) else ""
        raise InvalidRequestError(
            f"cannot resolve the type hints of {getattr(obj, '__qualname__', obj)!r}: {exc}{hint}"
        ) from exc


class _Annotations:
    """Some of a function's annotations, with its globals, for ``get_type_hints``."""

    def __init__(self, annotations: Dict[str, Any], globalns: Dict[str, Any]) -> None:
        self.__annotations__ = annotations
        self.__globals__ = globalns


def function_schema(fn: Any, localns: Optional[Mapping[str, Any]] = None) -> Tuple[str, Schema]:
    """The description and the parameters' JSON Schema object of a function.

    Parameters without a default are required; a default of None makes a parameter
    nullable; ``*args`` and ``**kwargs`` are left out.

    Raises:
        InvalidRequestError: a hint cannot be resolved or described as JSON Schema.
    """
    parameters = list(inspect.signature(fn).parameters.values())
    hints = type_hints(fn, localns, [param.name for param in parameters])
    return parameters_schema(parameters, hints, inspect.getdoc(fn), fn.__qualname__, localns)


def parameters_schema(parameters: Iterable[inspect.Parameter], hints: Mapping[str, Any],
                      doc: Optional[str], owner: str,
                      localns: Optional[Mapping[str, Any]] = None) -> Tuple[str, Schema]:
    """``function_schema`` for chosen parameters (a method's without ``self``, a partial's).

    Args:
        parameters: the parameters the model fills in.
        hints: their resolved type hints.
        doc: the docstring describing them.
        owner: the callable's name for error messages.
        localns: as for ``type_schema``.
    """
    docstring = parse_docstring(doc)
    properties: Dict[str, Schema] = {}
    required: List[str] = []
    for param in parameters:
        name = param.name
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        hint = hints.get(name, Any)
        if param.default is None and hint is not Any:
            hint = Optional[hint]  # what get_type_hints itself does before Python 3.11
        try:
            schema = type_schema(hint, localns)
        except InvalidRequestError as exc:
            raise InvalidRequestError(f"{owner}: parameter {name!r}: {exc.message}") from None
        if name in docstring.params and "description" not in schema:
            schema["description"] = docstring.params[name]
        if param.default is param.empty:
            required.append(name)
        else:
            _add_default(schema, param.default)
        properties[name] = schema
    result: Schema = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    return docstring.description, result


def _add_default(schema: Schema, default: Any) -> None:
    if isinstance(default, enum.Enum):
        default = default.value
    try:
        json.dumps(default)
    except (TypeError, ValueError):
        return
    schema["default"] = default


def type_schema(tp: Any, localns: Optional[Mapping[str, Any]] = None) -> Schema:
    """The JSON Schema of one type hint (a new dict each call).

    Raises:
        InvalidRequestError: the hint has no JSON Schema form (or is a recursive type).
    """
    return _Describer(localns).schema(tp)


class _Describer:
    def __init__(self, localns: Optional[Mapping[str, Any]]) -> None:
        self.localns = localns
        self.seen: List[Any] = []

    def schema(self, tp: Any) -> Schema:
        if tp is Any or tp is object or tp is inspect.Parameter.empty:
            return {}
        if tp is None:
            tp = type(None)
        if tp in _SCALARS:
            return dict(_SCALARS[tp])
        if tp in _TIMES:
            return {"type": "string", "format": _TIMES[tp]}
        if is_pydantic_model(tp):
            return tp.model_json_schema()
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _enum_schema([member.value for member in tp])
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self.record(tp, dataclasses.fields(tp))
        if _is_typeddict(tp):
            return self.record(tp, None)
        if tp in _ARRAYS:
            return {"type": "array"}
        if tp in _OBJECTS:
            return {"type": "object"}
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is typing.Annotated:
            schema = self.schema(args[0])
            notes = [note for note in args[1:] if isinstance(note, str)]
            if notes:
                schema["description"] = " ".join(notes)
            return schema
        if origin in _UNION_TYPES:
            return self.union(args)
        if origin is typing.Literal:
            return _enum_schema(list(args))
        if origin in _ARRAYS:
            return self.array(origin, args)
        if origin in _OBJECTS:
            value = args[1] if len(args) == 2 else Any
            schema = {"type": "object"}
            if value is not Any:
                schema["additionalProperties"] = self.schema(value)
            return schema
        raise InvalidRequestError(
            f"type {tp!r} has no JSON Schema form; use str, int, float, bool, list, dict, "
            "Optional, Union, Literal, an Enum, a dataclass or a TypedDict"
        )

    def union(self, args: Tuple[Any, ...]) -> Schema:
        options = [self.schema(arg) for arg in args if arg is not type(None)]
        if len(options) < len(args):
            options.append({"type": "null"})
        return options[0] if len(options) == 1 else {"anyOf": options}

    def array(self, origin: Any, args: Tuple[Any, ...]) -> Schema:
        schema: Schema = {"type": "array"}
        if origin is tuple and args and args[-1] is not Ellipsis:
            schema["prefixItems"] = [self.schema(arg) for arg in args]
            schema["minItems"] = schema["maxItems"] = len(args)
            return schema
        if args and args[0] is not Any:
            schema["items"] = self.schema(args[0])
        if origin in (set, frozenset, collections.abc.Set, collections.abc.MutableSet):
            schema["uniqueItems"] = True
        return schema

    def record(self, cls: type, fields: Any) -> Schema:
        """A dataclass or TypedDict as a nested object, described by its own docstring."""
        if cls in self.seen:
            raise InvalidRequestError(f"recursive type {cls.__qualname__} is not supported")
        self.seen.append(cls)
        hints = type_hints(cls, self.localns)
        doc = parse_docstring(_own_doc(cls))
        if fields is None:
            names = list(hints)
            required = [name for name in names if name in getattr(cls, "__required_keys__", names)]
        else:
            names = [f.name for f in fields if f.init]
            required = [f.name for f in fields if f.init and f.default is dataclasses.MISSING
                        and f.default_factory is dataclasses.MISSING]
        properties = {}
        for name in names:
            try:
                properties[name] = self.schema(hints.get(name, Any))
            except InvalidRequestError as exc:
                self.seen.pop()
                raise InvalidRequestError(f"{cls.__qualname__}.{name}: {exc.message}") from None
            if name in doc.params and "description" not in properties[name]:
                properties[name]["description"] = doc.params[name]
        self.seen.pop()
        schema: Schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        if doc.description:
            schema["description"] = doc.description
        return schema


def _own_doc(cls: type) -> Optional[str]:
    doc = cls.__dict__.get("__doc__")
    # dataclasses write "Name(field: type, ...)" when the class has no docstring
    if not doc or doc.startswith(f"{cls.__name__}("):
        return None
    return doc


def is_pydantic_model(tp: Any) -> bool:
    """Whether ``tp`` is a pydantic v2 model class (never imports pydantic: a model class
    exists only once its defining code imported it)."""
    pydantic = sys.modules.get("pydantic")
    base = getattr(pydantic, "BaseModel", None)
    return (base is not None and isinstance(tp, type) and issubclass(tp, base)
            and hasattr(tp, "model_json_schema"))


def _is_typeddict(tp: Any) -> bool:
    return (isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__total__")
            and hasattr(tp, "__annotations__"))


_JSON_TYPES = {bool: "boolean", str: "string", int: "integer", float: "number", type(None): "null"}


def _enum_schema(values: List[Any]) -> Schema:
    kinds = {_JSON_TYPES.get(type(value)) for value in values}
    schema: Schema = {"enum": values}
    if len(kinds) == 1 and None not in kinds:
        schema = {"type": kinds.pop(), "enum": values}
    return schema


# -- validation and conversion ----------------------------------------------------------------

def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    checks = {"string": str, "boolean": bool, "array": list, "object": dict, "null": type(None)}
    return kind not in checks or isinstance(value, checks[kind])


def validate(schema: Schema, value: Any, path: str = "arguments") -> Optional[str]:
    """The first way ``value`` breaks ``schema`` (a readable message), or None if it fits.

    Checks ``type``, ``enum``, ``anyOf``/``oneOf``, object ``properties``, ``required``
    and ``additionalProperties``, and array ``items``/``prefixItems``; other keywords pass.
    """
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_is_type(value, kind) for kind in kinds):
            return f"{path} must be {' or '.join(kinds)}, got {_describe(value)}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path} must be one of {schema['enum']}, got {value!r}"
    for key in ("anyOf", "oneOf"):
        if key in schema and all(validate(option, value, path) for option in schema[key]):
            return f"{path} matches none of the allowed forms, got {_describe(value)}"
    if isinstance(value, dict):
        return _validate_object(schema, value, path)
    if isinstance(value, list):
        prefix = schema.get("prefixItems") or []
        for position, item in enumerate(value):
            item_schema = prefix[position] if position < len(prefix) else schema.get("items")
            problem = item_schema and validate(item_schema, item, f"{path}[{position}]")
            if problem:
                return problem
    return None


def _validate_object(schema: Schema, value: Dict[str, Any], path: str) -> Optional[str]:
    properties = schema.get("properties") or {}
    for name in schema.get("required") or ():
        if name not in value:
            return f"missing required argument {name!r}" if path == "arguments" else \
                f"{path} is missing required property {name!r}"
    extra = schema.get("additionalProperties")
    for name, item in value.items():
        where = name if path == "arguments" else f"{path}.{name}"
        if name in properties:
            problem = validate(properties[name], item, where)
        elif extra is False:
            problem = f"unexpected argument {name!r}"
        else:
            problem = validate(extra, item, where) if isinstance(extra, dict) else None
        if problem:
            return problem
    return None


def _describe(value: Any) -> str:
    kind = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null",
            int: "integer", float: "number"}.get(type(value), type(value).__name__)
    return f"{kind} {json.dumps(value)[:60]}"


def convert(tp: Any, value: Any, localns: Optional[Mapping[str, Any]] = None) -> Any:
    """``value`` (decoded JSON that passed ``validate``) as the Python type ``tp`` names.

    Enum members, dataclass instances, tuples, sets and integral floats for ``int`` are
    built; anything else is returned as it is.

    Raises:
        TypeError, ValueError: the value cannot be built (e.g. a dataclass rejects it).
    """
    if value is None or tp is Any:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return convert(args[0], value, localns)
    if origin in _UNION_TYPES:
        for member in args:
            if member is not type(None) and not validate(type_schema(member, localns), value):
                return convert(member, value, localns)
        return value
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if tp in _TIMES and isinstance(value, str):
        return _parse_time(tp, value)
    if is_pydantic_model(tp) and isinstance(value, dict):
        return tp.model_validate(value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type) and isinstance(value, dict):
        hints = type_hints(tp, localns)
        return tp(**{name: convert(hints.get(name, Any), item, localns)
                     for name, item in value.items()})
    if tp is int and isinstance(value, float):
        return int(value)
    if tp is float and isinstance(value, int):
        return float(value)
    if isinstance(value, list):
        return _convert_list(tp, origin, args, value, localns)
    if isinstance(value, dict) and origin in _OBJECTS and len(args) == 2:
        return {key: convert(args[1], item, localns) for key, item in value.items()}
    return value


def _parse_time(tp: Any, value: str) -> Any:
    # fromisoformat reads a trailing "Z" only from Python 3.11 on
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) and tp is not datetime.date else value
    try:
        return tp.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 {_TIMES[tp]}") from None


def _convert_list(tp: Any, origin: Any, args: Tuple[Any, ...], value: List[Any],
                  localns: Optional[Mapping[str, Any]]) -> Any:
    container = origin or tp
    if container is tuple and args and args[-1] is not Ellipsis:
        items = [convert(arg, item, localns) for arg, item in zip(args, value)]
    else:
        items = [convert(args[0] if args else Any, item, localns) for item in value]
    if container in (tuple, set, frozenset):
        return container(items)
    return items
