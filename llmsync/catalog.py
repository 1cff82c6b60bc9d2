"""The model catalog: capabilities and prices, kept as data in ``llmsync/data/models*.json``
(``models.json`` for the direct APIs, one ``models_<cloud>.json`` per cloud).

The file is read on first use, not at import. Unknown models still work: lookups return
None and callers fall back to sane defaults.
"""
import glob
import json
import os
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .types import Usage

__all__ = ["ModelMeta", "models", "lookup", "cost_of", "price"]

_DATA_FILES = os.path.join(os.path.dirname(__file__), "data", "models*.json")


@dataclass(frozen=True)
class ModelMeta:
    """What llmsync knows about one model. Prices are USD per million tokens.

    ``reasoning_levels`` lists the wire values of the model's reasoning setting where
    they differ by model (OpenAI ``reasoning_effort``, Gemini ``thinkingLevel``);
    ``thinking_style`` says how the provider takes a thinking level ("effort",
    "budget", "adaptive" or "level").
    """

    id: str
    provider: str
    context_window: Optional[int] = None
    max_output_tokens: Optional[int] = None
    supports_tools: bool = True
    supports_vision: bool = False
    supports_reasoning: bool = False
    supports_reasoning_effort: bool = False
    input_price: Optional[float] = None
    output_price: Optional[float] = None
    cache_read_price: Optional[float] = None
    cache_write_price: Optional[float] = None
    reasoning_levels: Optional[List[str]] = field(default=None, hash=False, compare=False)
    thinking_style: Optional[str] = None

    @property
    def qualified_id(self) -> str:
        return f"{self.provider}/{self.id}"


_lock = threading.Lock()
_by_provider: Optional[Dict[str, Dict[str, ModelMeta]]] = None


def _load() -> Dict[str, Dict[str, ModelMeta]]:
    global _by_provider
    if _by_provider is None:
        with _lock:
            if _by_provider is None:
                known = set(ModelMeta.__dataclass_fields__)
                table: Dict[str, Dict[str, ModelMeta]] = {}
                for path in sorted(glob.glob(_DATA_FILES)):
                    with open(path, encoding="utf-8") as handle:
                        data = json.load(handle)
                    for entry in data["models"]:
                        meta = ModelMeta(**{k: v for k, v in entry.items() if k in known})
                        table.setdefault(meta.provider, {})[meta.id] = meta
                _by_provider = table
    return _by_provider


def models(provider: Optional[str] = None) -> List[ModelMeta]:
    """Every catalog entry, or those of one provider id."""
    table = _load()
    if provider is not None:
        return list(table.get(provider, {}).values())
    return [meta for entries in table.values() for meta in entries.values()]


def lookup(provider: Optional[str], model: Optional[str]) -> Optional[ModelMeta]:
    """The entry for ``model``; a dated or suffixed id (``gpt-4o-2024-08-06``) finds its
    base entry by the longest matching prefix. None when unknown."""
    if not provider or not model:
        return None
    entries = _load().get(provider, {})
    if model in entries:
        return entries[model]
    candidates = [mid for mid in entries if model.startswith(mid + "-") or model.startswith(mid + "@")]
    return entries[max(candidates, key=len)] if candidates else None


def cost_of(provider: Optional[str], model: Optional[str], usage: Optional[Usage]) -> Optional[float]:
    """USD for ``usage`` of ``provider``'s ``model``; None when the model or prices are unknown."""
    return price(lookup(provider, model), usage)


def price(meta: Optional[ModelMeta], usage: Optional[Usage]) -> Optional[float]:
    """USD for ``usage`` at ``meta``'s prices; None when the model or prices are unknown.

    Cached reads and cache writes are billed at their own prices (falling back to the
    input price where the provider has none); the rest of the prompt at the input price.
    """
    if meta is None or usage is None or meta.input_price is None or meta.output_price is None:
        return None
    read_price = meta.cache_read_price if meta.cache_read_price is not None else meta.input_price
    write_price = meta.cache_write_price if meta.cache_write_price is not None else meta.input_price
    uncached = max(usage.prompt_tokens - usage.cache_read_tokens - usage.cache_write_tokens, 0)
    dollars = (
        uncached * meta.input_price
        + usage.cache_read_tokens * read_price
        + usage.cache_write_tokens * write_price
        + usage.completion_tokens * meta.output_price
    )
    return dollars / 1_000_000
