"""The provider registry: a provider id is resolved here once, then used as an object.

Built-in providers are imported on first use, so ``import llmsync`` stays cheap.
"""
import importlib
import threading
from typing import Dict, List, Tuple

from .errors import InvalidRequestError
from .providers.base import Provider

__all__ = ["register_provider", "get_provider", "provider_ids", "split_model"]

# provider id -> module under llmsync.providers whose providers() returns it
_BUILTIN_MODULES = {
    "openai": "openai",
    "openai-responses": "openai_responses",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "vertex": "vertex",
    "vertex-anthropic": "vertex",
    "openrouter": "compat",
    "xai": "compat",
    "deepseek": "compat",
    "groq": "compat",
    "mistral": "compat",
    "ollama": "compat",
    "bedrock": "bedrock",
    "openai-compatible": "compat",
    "vllm": "compat",
    "llamacpp": "compat",
    "lmstudio": "compat",
    "together": "compat",
    "fireworks": "compat",
    "cerebras": "compat",
    "perplexity": "compat",
    "azure": "azure",
    "azure-responses": "azure",
}

_providers: Dict[str, Provider] = {}
_lock = threading.Lock()


def register_provider(provider: Provider) -> Provider:
    """Add (or replace) a provider at run time; its ``id`` becomes a model-string prefix."""
    if not isinstance(provider, Provider) or not provider.id:
        raise InvalidRequestError(f"register_provider takes a Provider with an id, got {provider!r}")
    with _lock:
        _providers[provider.id] = provider
    return provider


def provider_ids() -> List[str]:
    """Every known provider id, built-in or registered."""
    return sorted(set(_BUILTIN_MODULES) | set(_providers))


def get_provider(provider_id: str) -> Provider:
    """The provider for ``provider_id``.

    Raises:
        InvalidRequestError: no such provider.
    """
    provider = _providers.get(provider_id)
    if provider is not None:
        return provider
    module_name = _BUILTIN_MODULES.get(provider_id)
    if module_name is None:
        raise InvalidRequestError(
            f"unknown provider {provider_id!r}; known providers: {', '.join(provider_ids())}"
        )
    module = importlib.import_module(f"llmsync.providers.{module_name}")
    with _lock:
        for builtin in module.providers():
            _providers.setdefault(builtin.id, builtin)
    return _providers[provider_id]


def split_model(model: str) -> Tuple[str, str]:
    """Split "provider/model-id" at the first slash (model ids may hold more slashes)."""
    if not isinstance(model, str) or "/" not in model:
        raise InvalidRequestError(
            f'model must be "provider/model-id" (e.g. "openai/gpt-4o-mini"), got {model!r}'
        )
    provider_id, model_id = model.split("/", 1)
    if not provider_id or not model_id.strip():
        raise InvalidRequestError(
            f'model must be "provider/model-id" (e.g. "openai/gpt-4o-mini"), got {model!r}'
        )
    return provider_id, model_id
