"""llmsync: a synchronous, thread-based universal LLM client.

Public names are re-exported here and imported on first use, so ``import llmsync``
costs almost nothing; the providers, the catalog and the extras load when needed.
"""
import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Client": "client",
    "Plan": "client",
    "Stream": "stream",
    "Cancel": "cancel",
    "Role": "types",
    "Message": "types",
    "Text": "types",
    "Image": "types",
    "Document": "types",
    "ReasoningBlock": "types",
    "ToolDefinition": "types",
    "ToolCall": "types",
    "ToolChoice": "types",
    "Usage": "types",
    "FinishReason": "types",
    "Response": "types",
    "Citation": "types",
    "ServerToolCall": "types",
    "RateLimitInfo": "types",
    "TokenLogprob": "types",
    "Request": "options",
    "ThinkingLevel": "options",
    "EffortLevel": "options",
    "CacheOptions": "options",
    "ParallelToolConfig": "options",
    "RetryPolicy": "options",
    "RetryCondition": "options",
    "TextDelta": "events",
    "ReasoningDelta": "events",
    "ToolCallStart": "events",
    "ToolCallDelta": "events",
    "ToolCallEnd": "events",
    "UsageUpdate": "events",
    "Completed": "events",
    "ToolResult": "events",
    "LLMError": "errors",
    "AuthenticationError": "errors",
    "RateLimitError": "errors",
    "InvalidRequestError": "errors",
    "ContextLengthError": "errors",
    "NetworkError": "errors",
    "TimeoutError": "errors",
    "ProviderError": "errors",
    "StreamError": "errors",
    "CancelledError": "errors",
    "OutputParseError": "errors",
    "LLMSyncWarning": "errors",
    "ApiKey": "auth",
    "AuthStore": "auth",
    "ModelMeta": "catalog",
    "models": "catalog",
    "Provider": "providers.base",
    "register_provider": "registry",
    "get_provider": "registry",
    "tool": "tools",
    "Tool": "tools",
    "ToolExecutor": "tools",
    "RunResult": "tools",
    "BatchResult": "batch",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llmsync' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .auth import ApiKey, AuthStore
    from .batch import BatchResult
    from .catalog import ModelMeta, models
    from .client import Client, Plan
    from .errors import (AuthenticationError, CancelledError, ContextLengthError, InvalidRequestError, LLMError,
                         LLMSyncWarning, NetworkError, OutputParseError, ProviderError, RateLimitError, StreamError,
                         TimeoutError)
    from .events import (Completed, ReasoningDelta, TextDelta, ToolCallDelta, ToolCallEnd,
                         ToolCallStart, ToolResult, UsageUpdate)
    from .options import (CacheOptions, EffortLevel, ParallelToolConfig, Request, RetryCondition,
                          RetryPolicy, ThinkingLevel)
    from .providers.base import Provider
    from .registry import get_provider, register_provider
    from .cancel import Cancel
    from .stream import Stream
    from .tools import RunResult, Tool, ToolExecutor, tool
    from .types import (Citation, Document, FinishReason, Image, Message, RateLimitInfo, ReasoningBlock, Response,
                        Role, ServerToolCall, Text, TokenLogprob, ToolCall, ToolChoice, ToolDefinition, Usage)
