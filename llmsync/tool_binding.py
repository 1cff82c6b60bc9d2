"""Callables as tools: ``@tool``, ``Tool``, and how methods, partials and callable objects bind.

``@tool`` works on plain functions, methods, staticmethods, classmethods,
``functools.partial`` objects and callable objects. What the model fills in is what
the schema lists: a method's ``self`` or ``cls``, and a partial's bound arguments, are
never in it and are refused if the model sends them anyway.

Methods bind through the descriptor protocol, as functions do: ``@tool`` on a ``def`` in
a class body makes ``Tool.__set_name__`` mark it a method, and ``obj.method`` is a new
``Tool`` bound to ``obj``. ``@tool`` above ``@classmethod`` (or below it, either order)
binds to the class. Taken from the class, an instance method's ``Tool`` is unbound
and a ``ToolExecutor`` refuses it, naming the fix.
"""
import copy
import dataclasses
import functools
import inspect
import sys
import types
from typing import Any, Callable, Dict, List, Mapping, Optional

from . import tool_schema
from .errors import InvalidRequestError
from .types import ToolCall, ToolDefinition

__all__ = ["tool", "Tool", "as_tool", "definition_of"]


@dataclasses.dataclass
class _Described:
    """What describing a callable as a tool needs."""

    name: str
    source: Any  # a function whose annotations, globals and docstring describe the callable
    parameters: List[inspect.Parameter]  # the ones the model fills in
    doc: Optional[str]
    skipped_first: bool = False  # a class-body ``self``/``cls`` left out already


def _signature(obj: Any) -> Optional[inspect.Signature]:
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):  # some builtins have no signature
        return None


def _params(obj: Any) -> List[inspect.Parameter]:
    signature = _signature(obj)
    return list(signature.parameters.values()) if signature is not None else []


def _in_class_body(fn: Any) -> bool:
    """Whether ``fn`` was defined in a class body (``Cls.name``, not ``f.<locals>.name``)."""
    parts = getattr(fn, "__qualname__", "").split(".")
    return len(parts) > 1 and parts[-2] != "<locals>"


def _describe(obj: Any) -> _Described:
    if isinstance(obj, (staticmethod, classmethod)):
        inner = _describe(obj.__func__)
        if isinstance(obj, classmethod) and not inner.skipped_first:
            inner.parameters = inner.parameters[1:]
        inner.skipped_first = isinstance(obj, classmethod)
        return inner
    if isinstance(obj, functools.partial):
        inner = _describe(obj.func)
        params = [p for p in _params(obj) if p.name not in obj.keywords]
        return _Described(inner.name, inner.source, params, inner.doc)
    if isinstance(obj, (types.FunctionType, types.MethodType, types.BuiltinFunctionType, type)):
        params = _params(obj)
        skipped = (isinstance(obj, types.FunctionType) and _in_class_body(obj) and bool(params)
                   and params[0].name in ("self", "cls"))
        return _Described(obj.__name__, getattr(obj, "__func__", obj), params[1:] if skipped else params,
                          inspect.getdoc(obj), skipped)
    if callable(obj):
        call = type(obj).__call__
        # Its own docstrings only: inspect.getdoc would find type.__call__'s through object.
        doc = getattr(call, "__doc__", None) or type(obj).__doc__
        return _Described(type(obj).__name__, call, _params(obj), inspect.cleandoc(doc) if doc else None)
    raise InvalidRequestError(f"@tool takes a function, method or callable object, got {obj!r}")


def _hints(described: _Described, localns: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    return tool_schema.type_hints(described.source, localns, [p.name for p in described.parameters])


class Tool:
    """A function the model may call, with the ``ToolDefinition`` it is offered as.

    Calling a ``Tool`` calls the function, so a decorated function works as before. On a
    class, a ``Tool`` binds like a method: ``obj.tool`` is the ``Tool`` bound to ``obj``.

    Args:
        definition: the name, description and JSON Schema of the parameters.
        fn: the callable; it is called with the model's arguments as keywords.
        timeout: seconds a call may run before its result is "timed out" (None: no limit).
        localns: names for resolving ``fn``'s string annotations (``@tool`` passes the
            decorating scope's locals).
    """

    def __init__(self, definition: ToolDefinition, fn: Callable[..., Any],
                 timeout: Optional[float] = None, localns: Optional[Mapping[str, Any]] = None) -> None:
        definition.validate()
        # First: it copies a function's __dict__ over ours. An object's state stays its own.
        functools.update_wrapper(self, fn, updated=("__dict__",) if inspect.isfunction(fn) else ())
        self.definition = definition
        self.fn = fn
        self.timeout = timeout
        self._localns = localns
        self._signature = _signature(fn)
        self._hint_cache: Optional[Dict[str, Any]] = None
        self._receiver: Optional[str] = None  # "self"/"cls": fn's first parameter is bound on access
        self._static = False
        self._skipped_first = False

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def unbound(self) -> bool:
        """True for a method's ``Tool`` taken from its class: it has no object to run on."""
        return self._receiver is not None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool({self.name!r}, fn={getattr(self.fn, '__qualname__', self.fn)!r})"

    def __set_name__(self, owner: type, name: str) -> None:
        if (self._receiver is None and not self._static and inspect.isfunction(self.fn)
                and self.fn.__qualname__ == f"{owner.__qualname__}.{self.fn.__name__}"):
            self._receiver = "self"
            if not self._skipped_first:
                self.definition = self._without_first()
                self._skipped_first = True

    def __get__(self, instance: Any, owner: Optional[type] = None) -> "Tool":
        if self._receiver == "self":
            return self if instance is None else self.bound_to(instance)
        if self._receiver == "cls":
            return self.bound_to(owner if owner is not None else type(instance))
        # classmethod(Tool) before Python 3.13 passes the class as the instance.
        if isinstance(instance, type) and instance is owner and not self._static and _in_class_body(self.fn):
            return self.bound_to(instance)
        return self

    def bound_to(self, receiver: Any) -> "Tool":
        """This tool with ``receiver`` as the first argument of its function (``self``/``cls``)."""
        bound = copy.copy(self)
        if not self._skipped_first:
            bound.definition = self._without_first()
        bound.fn = types.MethodType(self.fn, receiver)
        bound._signature = _signature(bound.fn)
        bound._receiver = None
        bound._skipped_first = True
        return bound

    def _without_first(self) -> ToolDefinition:
        params = _params(self.fn)
        if not params:
            return self.definition
        first = params[0].name
        schema = dict(self.definition.parameters)
        schema["properties"] = {k: v for k, v in (schema.get("properties") or {}).items() if k != first}
        if "required" in schema:
            schema["required"] = [name for name in schema["required"] if name != first]
        return ToolDefinition(self.definition.name, self.definition.description, schema)

    def bind(self, call: ToolCall) -> Callable[[], Any]:
        """A no-argument callable running ``fn`` with ``call``'s checked arguments.

        Raises:
            InvalidRequestError: the arguments are not a JSON object, break the schema,
                name a parameter the schema leaves out, or do not fit the signature.
        """
        arguments = call.parsed_arguments()
        problem = tool_schema.validate(self.definition.parameters, arguments)
        if problem:
            raise InvalidRequestError(problem)
        listed = self.definition.parameters.get("properties") or {}
        hidden = [p.name for p in (self._signature.parameters.values() if self._signature else ())
                  if p.name not in listed and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        for name in arguments:
            if name in hidden:  # a partial's bound argument or a receiver: not the model's to set
                raise InvalidRequestError(f"unexpected argument {name!r}")
        hints = self._type_hints()
        try:
            kwargs = {name: tool_schema.convert(hints.get(name, Any), value, self._localns)
                      for name, value in arguments.items()}
            if self._signature is not None:
                self._signature.bind(**kwargs)
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(str(exc)) from None
        return functools.partial(self.fn, **kwargs)

    def _type_hints(self) -> Dict[str, Any]:
        if self._hint_cache is None:
            try:
                self._hint_cache = _hints(_describe(self.fn), self._localns)
            except InvalidRequestError:  # an explicit definition needs no hints; convert nothing
                self._hint_cache = {}
        return self._hint_cache


def tool(fn: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None,
         description: Optional[str] = None, timeout: Optional[float] = None) -> Any:
    """Make a callable a ``Tool``, its schema built from type hints and docstring.

    Use it bare (``@tool``) or with options (``@tool(name="weather", timeout=5)``), on
    functions, methods, staticmethods and classmethods (put ``@tool`` outermost or
    innermost), ``functools.partial`` objects and callable objects.

    Args:
        fn: the callable (given when used bare).
        name: the tool's name (default: the function's, or the callable object's class name).
        description: the tool's description (default: the docstring's first paragraph).
        timeout: seconds a call may run before the model is told it timed out.

    Returns:
        A ``Tool``, or a decorator making one when ``fn`` is not given.

    Raises:
        InvalidRequestError: a parameter's type has no JSON Schema form.
    """
    # Names in string annotations (``from __future__ import annotations``) may refer to
    # classes local to the caller, which get_type_hints cannot otherwise see.
    caller = sys._getframe(1)
    localns = dict(caller.f_locals) if caller.f_locals is not caller.f_globals else None

    def make(target: Any) -> Tool:
        return _make(target, name, description, timeout, localns)

    return make if fn is None else make(fn)


def _make(target: Any, name: Optional[str], description: Optional[str], timeout: Optional[float],
          localns: Optional[Mapping[str, Any]]) -> Tool:
    if isinstance(target, Tool):  # already a tool: only the options change
        made = copy.copy(target)
        made.definition = ToolDefinition(name or target.definition.name,
                                         target.definition.description if description is None else description,
                                         target.definition.parameters)
        made.definition.validate()
        made.timeout = target.timeout if timeout is None else timeout
        return made
    described = _describe(target)
    summary, parameters = tool_schema.parameters_schema(
        described.parameters, _hints(described, localns), described.doc,
        getattr(described.source, "__qualname__", described.name), localns)
    definition = ToolDefinition(name or described.name,
                                summary if description is None else description, parameters)
    made = Tool(definition, target.__func__ if isinstance(target, (staticmethod, classmethod)) else target,
                timeout=timeout, localns=localns)
    made._static = isinstance(target, staticmethod)
    made._receiver = "cls" if isinstance(target, classmethod) else None
    made._skipped_first = described.skipped_first
    return made


def as_tool(item: Any) -> Any:
    """A ``Tool`` for callables; ``Tool``s, definitions and dicts as they are.

    Raises:
        InvalidRequestError: ``item`` is none of these.
    """
    if isinstance(item, types.MethodType) and isinstance(item.__func__, Tool):
        return item.__func__.bound_to(item.__self__)  # classmethod(Tool) from Python 3.13
    if isinstance(item, (Tool, ToolDefinition, dict)) or hasattr(item, "definition"):
        return item
    if callable(item) or isinstance(item, (staticmethod, classmethod)):
        return _make(item, None, None, None, None)
    raise InvalidRequestError(f"tools must be @tool functions, Tools, ToolDefinitions or tool dicts "
                              f"(OpenAI or Anthropic), got {item!r:.80}")


def definition_of(item: Any, where: str = "tool") -> ToolDefinition:
    """The ``ToolDefinition`` a ``Tool``, a callable or an object with a ``definition`` offers.

    Raises:
        InvalidRequestError: ``item`` is not a tool, naming ``where``.
    """
    try:
        found = as_tool(item)
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"{where}: {exc.message}") from None
    definition = found if isinstance(found, ToolDefinition) else getattr(found, "definition", None)
    if not isinstance(definition, ToolDefinition):
        raise InvalidRequestError(f"{where}: its definition must be a ToolDefinition, got {definition!r:.80}")
    return definition
