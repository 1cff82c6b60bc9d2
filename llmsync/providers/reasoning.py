"""Thinking levels on the wire: one mapping per provider family, driven by the catalog.

Each family reads what a model takes from its catalog entry (``ModelMeta.reasoning_levels``
and ``thinking_style``), then from the family's rules by model id for ids the catalog does
not know, into a ``Reasoning``. The functions below turn a ``ThinkingLevel`` into the
family's wire value, clamped to what the model takes, and note every adaptation in
``adjustments`` (the caller gets an ``LLMSyncWarning``). A model that neither the catalog
nor a rule knows gets the level as asked: the provider decides.

Families: OpenAI (``reasoning_effort`` words, shared by Chat Completions, the Responses API,
Azure and the compatible vendors), Anthropic (a thinking budget, adaptive thinking,
``output_config.effort``; also Claude on Bedrock and Vertex) and Gemini (``thinkingBudget``
on 2.5, ``thinkingLevel`` on 3).
"""
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..catalog import ModelMeta
from ..options import ThinkingLevel

__all__ = [
    "LEVEL_ORDER", "LEVEL_WIRE", "Reasoning", "UNKNOWN", "clamp_level", "reasons_at", "from_catalog",
    "effort_for", "is_chat_model", "openai_reasoning",
    "CLAUDE_ALWAYS_ADAPTIVE", "CLAUDE_BUDGETS", "CLAUDE_LEVEL_EFFORT", "claude_generation", "claude_reasoning",
    "claude_thinking", "claude_effort", "fit_budget",
    "gemini_reasoning", "gemini_thinking_config",
]

# ThinkingLevel values as wire strings, in increasing order of effort.
LEVEL_ORDER = ["none", "minimal", "low", "medium", "high", "xhigh"]
LEVEL_WIRE = {level: wire for level, wire in zip(ThinkingLevel, LEVEL_ORDER)}


@dataclass(frozen=True)
class Reasoning:
    """What llmsync knows about how one model reasons.

    Attributes:
        reasons: the model reasons (always, or when asked to).
        takes_effort: it takes a named level (``supports_reasoning_effort``).
        style: how it takes a thinking level: "effort" (OpenAI-family words), "budget"
            (thinking tokens), "adaptive" (Anthropic: on, depth by effort), "level" (Gemini
            ``thinkingLevel``), or None for no setting.
        levels: the named levels it takes, lowest first (OpenAI-family effort, Anthropic
            ``output_config.effort``, Gemini ``thinkingLevel``); None when it takes none.
        known: False when neither the catalog nor a family rule knows the model; a
            thinking level is then sent as asked.
    """

    reasons: bool = False
    takes_effort: bool = False
    style: Optional[str] = None
    levels: Optional[Tuple[str, ...]] = None
    known: bool = True


UNKNOWN = Reasoning(known=False)


def from_catalog(meta: Optional[ModelMeta]) -> Reasoning:
    """A ``Reasoning`` read from a catalog entry alone (``UNKNOWN`` without one)."""
    if meta is None:
        return UNKNOWN
    levels = tuple(meta.reasoning_levels) if meta.reasoning_levels else None
    return Reasoning(meta.supports_reasoning, meta.supports_reasoning_effort, meta.thinking_style, levels)


def clamp_level(level: ThinkingLevel, accepted: Sequence[str]) -> str:
    """The accepted wire level nearest to ``level`` (ties go to the higher level).

    Accepted levels outside ``LEVEL_ORDER`` (a provider's "max", say) rank above "xhigh".
    """
    def rank(value: str) -> int:
        return LEVEL_ORDER.index(value) if value in LEVEL_ORDER else len(LEVEL_ORDER)

    wanted = rank(LEVEL_WIRE[level])
    return sorted(accepted, key=lambda v: (abs(rank(v) - wanted), -rank(v)))[0]


def reasons_at(accepted: Optional[Sequence[str]], effort: Optional[str]) -> bool:
    """Whether a model that takes these effort levels reasons at ``effort`` (None: its default).

    OpenAI: "gpt-5.1 defaults to none"; models before it default to medium and reject
    sampling parameters such as temperature while they reason (API reference,
    reasoning_effort).
    """
    if not accepted:
        return False
    if effort is None:
        return "none" not in accepted
    return effort != "none"


# -- OpenAI family: reasoning_effort words -------------------------------------------------------


def effort_for(level: ThinkingLevel, reasoning: Reasoning, model: str, adjustments: List[str],
               sent_as: str = "reasoning_effort", where: Optional[str] = None,
               words: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The effort (a ``LEVEL_ORDER`` value) to send for ``level``, or None to send none.

    Clamped into ``reasoning.levels``; None, noted, on a model known to take no effort;
    the level as asked on a model nobody knows. ``sent_as`` names the wire field and
    ``words`` the vendor's word for each level in the notes; ``where`` names the model.
    """
    if not reasoning.known:
        return LEVEL_WIRE[level]
    if not reasoning.levels:
        if level is not ThinkingLevel.OFF:
            adjustments.append(f"thinking {level.value!r} ignored: {where or model} takes no reasoning effort")
        return None
    wire = clamp_level(level, reasoning.levels)
    if wire != LEVEL_WIRE[level]:
        word = (words or {}).get(wire, wire)
        adjustments.append(f"thinking {level.value!r} is not available on {model}; sent {sent_as} {word!r}")
    return wire


# OpenAI reasoning models by family, for ids the catalog does not know (newest first).
# Source: platform.openai.com/docs/api-reference/chat/create#reasoning_effort
_OPENAI_LEVELS = [
    ("gpt-5-pro", ("high",)),
    ("gpt-5.1", ("none", "low", "medium", "high")),
    ("gpt-5.", ("none", "low", "medium", "high", "xhigh")),
    ("gpt-5", ("minimal", "low", "medium", "high")),
    ("o1", ("low", "medium", "high")),
    ("o3", ("low", "medium", "high")),
    ("o4", ("low", "medium", "high")),
]
# Families without reasoning: they reject reasoning_effort, and the Responses API's
# include: ["reasoning.encrypted_content"] ("Encrypted content is not supported with this
# model", OpenHands/software-agent-sdk#1208).
_OPENAI_NON_REASONING = ("gpt-4", "gpt-3.5", "chatgpt-")


def is_chat_model(model: str) -> bool:
    """The non-reasoning chat snapshots of reasoning families (``gpt-5-chat-latest``,
    ``gpt-5.1-chat-latest``), which a prefix match would take for their family."""
    return "-chat" in model and model.startswith("gpt-5")


def openai_reasoning(model: str, meta: Optional[ModelMeta]) -> Reasoning:
    """How an OpenAI model takes ``reasoning_effort``: its catalog entry, else the family rules.

    ``model`` is the base model id (a fine-tune's base). Chat Completions, the Responses
    API and Azure share it.
    """
    if is_chat_model(model) or (meta is None and model.startswith(_OPENAI_NON_REASONING)):
        return Reasoning()
    if meta is not None:
        levels = tuple(meta.reasoning_levels) if meta.reasoning_levels else None
        return Reasoning(meta.supports_reasoning or levels is not None, levels is not None,
                         "effort" if levels else None, levels)
    for prefix, rule in _OPENAI_LEVELS:
        if model.startswith(prefix):
            return Reasoning(True, True, "effort", rule)
    return UNKNOWN


# -- Anthropic family: budget, adaptive thinking, output_config.effort -----------------------------

# Manual thinking: budget_tokens per level; "must be >= 1024 and less than max_tokens"
# (thinking_config_enabled_param.py).
CLAUDE_BUDGETS = {ThinkingLevel.MINIMAL: 1024, ThinkingLevel.LOW: 4096, ThinkingLevel.MEDIUM: 10000,
                  ThinkingLevel.HIGH: 16000, ThinkingLevel.XHIGH: 32000}
_MIN_BUDGET = 1024
_ANSWER_ROOM = 4096

# Adaptive thinking has no budget; its depth follows output_config.effort.
_EFFORT_ORDER = ("low", "medium", "high", "xhigh", "max")
CLAUDE_LEVEL_EFFORT = {ThinkingLevel.MINIMAL: "low", ThinkingLevel.LOW: "low", ThinkingLevel.MEDIUM: "medium",
                       ThinkingLevel.HIGH: "high", ThinkingLevel.XHIGH: "xhigh"}

_CLAUDE_ID = re.compile(r"^claude-(opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?:-|$)")
CLAUDE_ALWAYS_ADAPTIVE = ("claude-mythos", "claude-fable")
_CLAUDE_OLD = ("claude-3", "claude-2", "claude-instant")


def claude_generation(model: str) -> Optional[Tuple[int, int]]:
    """(major, minor) of a ``claude-<family>-<major>[-<minor>][-date]`` id, else None."""
    match = _CLAUDE_ID.match(model)
    return (int(match.group(2)), int(match.group(3) or 0)) if match else None


def _claude_style(model: str, meta: Optional[ModelMeta]) -> Optional[str]:
    if meta is not None:
        if not meta.supports_reasoning:
            return None
        if meta.thinking_style in ("adaptive", "budget"):
            return meta.thinking_style
    if model.startswith(CLAUDE_ALWAYS_ADAPTIVE):
        return "adaptive"
    if model.startswith("claude-3") and not model.startswith("claude-3-7"):
        return None
    generation = claude_generation(model)
    # Adaptive thinking arrived with the 4.6 models; budgets are deprecated there and
    # rejected from Opus 4.7 on (anthropics/skills thinking-effort.md).
    return "adaptive" if generation and generation >= (4, 6) else "budget"


def _claude_effort_levels(model: str, meta: Optional[ModelMeta]) -> Optional[Tuple[str, ...]]:
    if meta is not None and not meta.supports_reasoning_effort:
        return None
    generation = claude_generation(model)
    if model.startswith(CLAUDE_ALWAYS_ADAPTIVE) or (generation and generation >= (4, 7)):
        return _EFFORT_ORDER
    if generation == (4, 6):
        return ("low", "medium", "high", "max")
    if model.startswith("claude-opus-4-5") or meta is not None:
        return ("low", "medium", "high")
    return None


def claude_reasoning(model: str, meta: Optional[ModelMeta]) -> Reasoning:
    """How a Claude model thinks: its catalog entry, else the rules by model id.

    ``model`` is the Anthropic id (``claude-sonnet-4-5-20250929``), whichever cloud serves it.
    """
    style = _claude_style(model, meta)
    levels = _claude_effort_levels(model, meta)
    known = (meta is not None or claude_generation(model) is not None
             or model.startswith(CLAUDE_ALWAYS_ADAPTIVE + _CLAUDE_OLD))
    return Reasoning(style is not None, levels is not None, style, levels, known)


def claude_thinking(level: Optional[ThinkingLevel], reasoning: Reasoning, model: str, max_tokens: int,
                    max_tokens_set: bool, model_max: Optional[int],
                    adjustments: List[str]) -> Tuple[Optional[Dict[str, Any]], int]:
    """Claude's ``thinking`` object for ``level`` (None: send none) and the max_tokens to send.

    OFF sends nothing: omitting ``thinking`` means no thinking on every model that can
    turn it off, while ``{"type": "disabled"}`` is a 400 on Fable 5 (thinking-effort.md).
    """
    if level is None or level is ThinkingLevel.OFF:
        return None, max_tokens
    if reasoning.style is None:
        adjustments.append(f"thinking {level.value!r} ignored: {model} has no extended thinking")
        return None, max_tokens
    if reasoning.style == "adaptive":
        # Opus 4.7+ default to display "omitted" (empty thinking text); ask for the summary.
        return {"type": "adaptive", "display": "summarized"}, max_tokens
    budget, max_tokens = fit_budget(CLAUDE_BUDGETS[level], max_tokens, max_tokens_set, model_max, adjustments)
    return {"type": "enabled", "budget_tokens": budget}, max_tokens


def claude_effort(wanted: str, reasoning: Reasoning, model: str, source: str,
                  adjustments: List[str]) -> Optional[str]:
    """The ``output_config.effort`` to send for ``wanted``: the highest level the model has
    at or below it; as asked on a model nobody knows; None, noted, when it takes none."""
    levels = reasoning.levels
    if levels is None and not reasoning.known:
        return wanted
    if not levels:
        adjustments.append(f"{source} ignored: {model} does not take output_config.effort")
        return None
    rank = _EFFORT_ORDER.index(wanted)
    lower = [v for v in levels if _EFFORT_ORDER.index(v) <= rank]
    chosen = wanted if wanted in levels else max(lower or levels[:1], key=_EFFORT_ORDER.index)
    if chosen != wanted:
        adjustments.append(f"{source}: effort {wanted!r} is not available on {model}; sent {chosen!r}")
    return chosen


def fit_budget(budget: int, max_tokens: int, user_set: bool, model_max: Optional[int],
               adjustments: List[str]) -> Tuple[int, int]:
    """A thinking budget >= 1024 and below max_tokens: raise max_tokens or shrink the budget.

    The budget counts toward max_tokens, so a defaulted max_tokens grows to leave the
    answer room; one the caller set is kept and the budget shrinks instead.
    """
    if not user_set and max_tokens < budget + _ANSWER_ROOM:
        raised = min(budget + _ANSWER_ROOM, model_max or budget + _ANSWER_ROOM)
        if raised > max_tokens:
            adjustments.append(f"max_tokens set to {raised} to leave room for the answer after "
                               f"the thinking budget ({budget})")
            max_tokens = raised
    if budget < max_tokens:
        return budget, max_tokens
    clamped = max(_MIN_BUDGET, max_tokens // 2)
    if clamped < max_tokens:
        adjustments.append(f"thinking budget clamped from {budget} to {clamped} tokens to stay "
                           f"below max_tokens ({max_tokens})")
        return clamped, max_tokens
    raised = _MIN_BUDGET + max_tokens
    adjustments.append(f"max_tokens raised from {max_tokens} to {raised}: a thinking budget is at "
                       f"least {_MIN_BUDGET} tokens and must stay below max_tokens")
    return _MIN_BUDGET, raised


# -- Gemini family: thinkingBudget (2.5), thinkingLevel (3) -------------------------------------------

# thinkingBudget per ThinkingLevel, clamped into the model's range below.
_GEMINI_BUDGETS = {ThinkingLevel.MINIMAL: 512, ThinkingLevel.LOW: 1024, ThinkingLevel.MEDIUM: 8192,
                   ThinkingLevel.HIGH: 24576, ThinkingLevel.XHIGH: 32768}

# Gemini 2.5 thinkingBudget ranges (ai.google.dev/gemini-api/docs/thinking, "Set budget"):
# (id fragment, lowest budget, highest budget, whether 0 turns thinking off).
_BUDGET_RANGES: List[Tuple[str, int, int, bool]] = [
    ("pro", 128, 32768, False),
    ("flash-lite", 512, 24576, True),
    ("flash", 1, 24576, True),
    ("", 1, 24576, True),
]

# Gemini 3 thinkingLevel values for ids the catalog does not know (docs/thinking,
# "Thinking levels"): 3 Pro takes low|high, later Pros low|medium|high, Flash all four.
_LEVEL_RULES: List[Tuple[str, Tuple[str, ...]]] = [
    ("gemini-3-pro", ("low", "high")),
    ("pro", ("low", "medium", "high")),
    ("", ("minimal", "low", "medium", "high")),
]
# Generations before thinking: no thinkingConfig at all.
_GEMINI_NON_THINKING = ("gemini-1.", "gemini-2.0")


def gemini_reasoning(model: str, meta: Optional[ModelMeta]) -> Reasoning:
    """How a Gemini model thinks: "level" (Gemini 3 ``thinkingLevel``), "budget" (2.5
    ``thinkingBudget``) or no setting; the catalog first, then the rules by model id."""
    if meta is not None:
        style = meta.thinking_style if meta.thinking_style in ("level", "budget") else None
    elif model.startswith("gemini-3"):
        style = "level"
    elif model.startswith("gemini-2.5"):
        style = "budget"
    else:
        return Reasoning() if model.startswith(_GEMINI_NON_THINKING) else UNKNOWN
    levels = None
    if style == "level":
        listed = meta.reasoning_levels if meta is not None else None
        levels = tuple(listed) if listed else next(rule for fragment, rule in _LEVEL_RULES if fragment in model)
    return Reasoning(style is not None, style == "level", style, levels)


def gemini_thinking_config(level: Optional[ThinkingLevel], reasoning: Reasoning, model: str,
                           adjustments: List[str]) -> Optional[Dict[str, Any]]:
    """``thinkingConfig``: ``thinkingLevel`` on Gemini 3, ``thinkingBudget`` on 2.5, never both.

    "Gemini 2.5 series models don't support thinkingLevel; use thinkingBudget instead"
    (docs/thinking). ``includeThoughts`` asks for thought summaries. A model nobody knows
    gets ``thinkingLevel``, the current form, as asked (within Gemini's four levels).
    """
    style = reasoning.style if reasoning.known else "level"
    if style is None:
        if level not in (None, ThinkingLevel.OFF):
            adjustments.append(f"thinking {level.value!r} ignored: {model} has no thinking setting")
        return None
    if level is None:
        return {"includeThoughts": True} if reasoning.known else None
    if style == "level":
        wire = clamp_level(level, reasoning.levels or _LEVEL_RULES[-1][1])
        if wire != level.value:
            adjustments.append(f"thinking {level.value!r} is not available on {model}; "
                               f"sent thinkingLevel {wire!r}")
        return {"thinkingLevel": wire, "includeThoughts": True}
    low, high, can_disable = next(r[1:] for r in _BUDGET_RANGES if r[0] in model)
    if level is ThinkingLevel.OFF:
        if can_disable:
            return {"thinkingBudget": 0}
        adjustments.append(f"thinking cannot be turned off on {model}; sent the minimum "
                           f"thinkingBudget {low}")
        return {"thinkingBudget": low, "includeThoughts": True}
    wanted = _GEMINI_BUDGETS[level]
    budget = min(max(wanted, low), high)
    if budget != wanted:
        adjustments.append(f"thinking {level.value!r} ({wanted} tokens) is outside {model}'s "
                           f"thinkingBudget range {low}..{high}; sent {budget}")
    return {"thinkingBudget": budget, "includeThoughts": True}
