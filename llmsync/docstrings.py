"""Google- and NumPy-style docstrings: a function's summary and the description of each parameter.

``@tool`` and ``response_format`` types take their descriptions from here: the first
paragraph describes the function (or class), an ``Args:``/``Parameters``/``Attributes``
section its parameters (or fields).
"""
import dataclasses
import inspect
import re
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["Docstring", "parse_docstring"]

_PARAM_SECTIONS = {"args", "arguments", "parameters", "params", "keyword args",
                   "keyword arguments", "other parameters", "attributes"}
_GOOGLE_HEADER = re.compile(r"^\s*([A-Za-z][A-Za-z ]*):\s*$")
_GOOGLE_ITEM = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_RULE = re.compile(r"^\s*-{3,}\s*$")


@dataclasses.dataclass
class Docstring:
    """A parsed docstring: its first paragraph and the description of each parameter."""

    description: str = ""
    params: Dict[str, str] = dataclasses.field(default_factory=dict)


def parse_docstring(doc: Optional[str]) -> Docstring:
    """Parse a Google- or NumPy-style docstring.

    Args:
        doc: the docstring, or None.

    Returns:
        The first paragraph (lines joined by spaces) and a description per parameter
        named in an ``Args:``/``Parameters``/``Attributes`` section.
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    first: List[str] = []
    for position, line in enumerate(lines):
        if not line.strip() or _is_header(lines, position):
            break
        first.append(line.strip())
    params: Dict[str, str] = {}
    position = 0
    while position < len(lines):
        if _is_numpy_header(lines, position):
            end = position + 2
            while end < len(lines) and not _is_numpy_header(lines, end):
                end += 1
            if lines[position].strip().lower() in _PARAM_SECTIONS:
                params.update(_items(lines[position + 2:end], _numpy_names))
            position = end
        elif _is_google_header(lines, position):
            indent = _indent(lines[position])
            end = position + 1
            while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
                end += 1
            if lines[position].strip()[:-1].lower() in _PARAM_SECTIONS:
                params.update(_items(lines[position + 1:end], _google_names))
            position = end
        else:
            position += 1
    return Docstring(" ".join(first), params)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _is_numpy_header(lines: List[str], position: int) -> bool:
    return (position + 1 < len(lines) and bool(lines[position].strip())
            and bool(_NUMPY_RULE.match(lines[position + 1])))


def _is_google_header(lines: List[str], position: int) -> bool:
    match = _GOOGLE_HEADER.match(lines[position])
    return match is not None and match.group(1).strip().lower() in _PARAM_SECTIONS | {
        "returns", "return", "raises", "yields", "yield", "example", "examples", "note",
        "notes", "see also", "warning", "warnings", "references", "todo"}


def _is_header(lines: List[str], position: int) -> bool:
    return _is_google_header(lines, position) or _is_numpy_header(lines, position)


def _google_names(line: str) -> Tuple[List[str], str]:
    match = _GOOGLE_ITEM.match(line)
    return ([match.group(1)], match.group(2)) if match else ([], "")


def _numpy_names(line: str) -> Tuple[List[str], str]:
    names = line.split(":", 1)[0]
    return [name.strip().lstrip("*") for name in names.split(",") if name.strip()], ""


def _items(body: List[str], names_of: Any) -> Dict[str, str]:
    """Items of a section: a line at the items' indent names them, deeper lines describe."""
    items: Dict[str, List[str]] = {}
    current: List[List[str]] = []
    base = min((_indent(line) for line in body if line.strip()), default=0)
    for line in body:
        if not line.strip():
            continue
        if _indent(line) == base:
            names, text = names_of(line.strip())
            current = [items.setdefault(name, []) for name in names]
            line = text
        for parts in current:
            if line.strip():
                parts.append(line.strip())
    return {name: " ".join(parts) for name, parts in items.items()}
