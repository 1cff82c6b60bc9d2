"""Stream events: what ``for event in client.stream(...)`` yields.

A successful stream ends with ``Completed``; unknown wire events are skipped.
"""
from dataclasses import dataclass
from typing import Optional, Union

from .types import Response, ToolCall, Usage

__all__ = [
    "TextDelta",
    "ReasoningDelta",
    "ToolCallStart",
    "ToolCallDelta",
    "ToolCallEnd",
    "UsageUpdate",
    "Completed",
    "ToolResult",
    "Event",
]


@dataclass
class TextDelta:
    """A fragment of the visible reply."""

    text: str


@dataclass
class ReasoningDelta:
    """A fragment of the model's reasoning (thinking or a reasoning summary)."""

    text: str


@dataclass
class ToolCallStart:
    """The model began tool call ``index``."""

    index: int
    id: str
    name: str


@dataclass
class ToolCallDelta:
    """A fragment of tool call ``index``'s JSON arguments."""

    index: int
    arguments: str


@dataclass
class ToolCallEnd:
    """Tool call ``index`` is complete."""

    index: int
    tool_call: ToolCall


@dataclass
class UsageUpdate:
    """Token usage so far (the last one of a stream is the total)."""

    usage: Usage


@dataclass
class Completed:
    """The reply is complete; always the last event of a successful stream."""

    response: Response


@dataclass
class ToolResult:
    """A tool finished during ``client.run_stream``; ``error`` is set when it failed."""

    tool_call: ToolCall
    content: str
    error: Optional[str] = None


Event = Union[
    TextDelta, ReasoningDelta, ToolCallStart, ToolCallDelta, ToolCallEnd, UsageUpdate,
    Completed, ToolResult,
]
