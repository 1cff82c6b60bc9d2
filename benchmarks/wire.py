"""Pre-rendered reply bodies for the benchmark server, one module-level function per shape.

Each wire format renders a text stream (``n`` text deltas), a tool-call stream (one call
whose JSON arguments arrive in ``n`` small deltas) and a small non-streamed reply. The
events copy the fields real providers send (ids, nulls, usage, sequence numbers), so
parsers do the work they do in production. Field names follow the recordings in
``tests/fixtures/recorded/`` and the providers' API references:

* OpenAI Chat Completions: ``chat.completion.chunk`` with ``usage: null`` on every chunk
  when ``stream_options.include_usage`` is set, then a usage-only chunk and ``[DONE]``.
* OpenAI Responses: ``response.output_text.delta`` / ``response.function_call_arguments.delta``
  events framed by ``response.created`` ... ``response.completed``.
* Anthropic Messages: ``message_start``, ``content_block_*``, ``message_delta``, ``message_stop``.
* Gemini ``streamGenerateContent?alt=sse``: whole ``GenerateContentResponse`` objects,
  CRLF-delimited, ``usageMetadata`` on every chunk. Gemini sends a function call whole, so
  it has no tool-argument stream.
"""
import json
from typing import Any, Callable, Dict, List, Optional

__all__ = ["FORMATS", "WORDS", "render_stream", "render_small", "tool_fragments"]

MODEL = "bench-model"
WORDS = [" the", " quick", " brown", " fox", " jumps", " over", " a", " lazy", " dog", ",",
         " and", " then", " it", " naps", ".", "\n"]
TOOL_NAME = "lookup_weather"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _sse(data: Any, event: Optional[str] = None, crlf: bool = False) -> bytes:
    head = f"event: {event}\n" if event else ""
    end = "\r\n\r\n" if crlf else "\n\n"
    return f"{head}data: {data if isinstance(data, str) else _json(data)}{end}".encode("utf-8")


def text_pieces(n: int) -> List[str]:
    """``n`` text deltas cycling through ``WORDS``."""
    return [WORDS[i % len(WORDS)] for i in range(n)]


def tool_fragments(n: int) -> List[str]:
    """A JSON arguments string cut into ``n`` fragments of a few characters each."""
    cities = ["Paris", "Rome", "Oslo", "Lima", "Kyiv", "Doha"]
    items: List[Dict[str, Any]] = []
    length = 0
    while length < n * 3:
        items.append({"city": cities[len(items) % len(cities)], "day": len(items)})
        length += len(_json(items[-1])) + 1
    text = _json({"queries": items, "unit": "C"})
    size, extra = divmod(len(text), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(text[start:end])
        start = end
    return out


# -- OpenAI Chat Completions ----------------------------------------------------------------

_CHAT_ID = "chatcmpl-BenchA1b2C3d4E5f6G7h8I9j0K1l2M3"


def _chat_chunk(delta: Dict[str, Any], finish: Optional[str] = None) -> bytes:
    return _sse({"id": _CHAT_ID, "object": "chat.completion.chunk", "created": 1782955818,
                 "model": "gpt-4o-mini-2024-07-18", "service_tier": "default",
                 "system_fingerprint": "fp_d0469e1700",
                 "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                 "usage": None})


def _chat_tail(finish: str, n: int) -> List[bytes]:
    usage = {"prompt_tokens": 12, "completion_tokens": n, "total_tokens": 12 + n,
             "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
             "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}
    last = {"id": _CHAT_ID, "object": "chat.completion.chunk", "created": 1782955818,
            "model": "gpt-4o-mini-2024-07-18", "choices": [], "usage": usage}
    return [_chat_chunk({}, finish), _sse(last), b"data: [DONE]\n\n"]


def openai_text(n: int) -> List[bytes]:
    events = [_chat_chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [_chat_chunk({"content": piece}) for piece in text_pieces(n)]
    return events + _chat_tail("stop", n)


def openai_tool(n: int) -> List[bytes]:
    start = {"index": 0, "id": "call_Bench0Tool1Call2Id3", "type": "function",
             "function": {"name": TOOL_NAME, "arguments": ""}}
    events = [_chat_chunk({"role": "assistant", "content": None, "tool_calls": [start]})]
    events += [_chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
               for piece in tool_fragments(n)]
    return events + _chat_tail("tool_calls", n)


def openai_small() -> Dict[str, Any]:
    return {"id": _CHAT_ID, "object": "chat.completion", "created": 1782955818,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Pong.",
                                                 "refusal": None, "annotations": []},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11,
                      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}},
            "service_tier": "default", "system_fingerprint": "fp_d0469e1700"}


# -- OpenAI Responses ---------------------------------------------------------------------

_RESP_ID = "resp_0bench1f2e3d4c5b6a7980a1b2c3d4e5f6"
_MSG_ID = "msg_0bench9a8b7c6d5e4f3a2b1c0d9e8f7a6"
_FC_ID = "fc_0bench1a2b3c4d5e6f7a8b9c0d1e2f3a4"


def _response_object(status: str, output: List[Dict[str, Any]], n: int) -> Dict[str, Any]:
    usage = None if status != "completed" else {
        "input_tokens": 12, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": n, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 12 + n}
    return {"id": _RESP_ID, "object": "response", "created_at": 1778037176, "status": status,
            "error": None, "incomplete_details": None, "model": "gpt-4o-mini-2024-07-18",
            "output": output, "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "usage": usage}


class _Sequence:
    """Numbers Responses events as the API does (``sequence_number`` from 0)."""

    def __init__(self) -> None:
        self.number = 0

    def event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self.number, **fields}
        self.number += 1
        return _sse(data, event=kind)


def responses_text(n: int) -> List[bytes]:
    seq = _Sequence()
    pieces = text_pieces(n)
    message = {"id": _MSG_ID, "type": "message", "status": "in_progress", "role": "assistant",
               "content": []}
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    where = {"item_id": _MSG_ID, "output_index": 0, "content_index": 0}
    events = [seq.event("response.created", response=_response_object("in_progress", [], n)),
              seq.event("response.output_item.added", output_index=0, item=message),
              seq.event("response.content_part.added", part=part, **where)]
    events += [seq.event("response.output_text.delta", delta=piece, logprobs=[], **where)
               for piece in pieces]
    text = "".join(pieces)
    done_part = {**part, "text": text}
    done_message = {**message, "status": "completed", "content": [done_part]}
    events += [seq.event("response.output_text.done", text=text, logprobs=[], **where),
               seq.event("response.content_part.done", part=done_part, **where),
               seq.event("response.output_item.done", output_index=0, item=done_message),
               seq.event("response.completed", response=_response_object("completed", [done_message], n))]
    return events


def responses_tool(n: int) -> List[bytes]:
    seq = _Sequence()
    fragments = tool_fragments(n)
    item = {"id": _FC_ID, "type": "function_call", "status": "in_progress", "arguments": "",
            "call_id": "call_Bench0Tool1Call2Id3", "name": TOOL_NAME}
    events = [seq.event("response.created", response=_response_object("in_progress", [], n)),
              seq.event("response.output_item.added", output_index=0, item=item)]
    events += [seq.event("response.function_call_arguments.delta", item_id=_FC_ID, output_index=0,
                         delta=piece) for piece in fragments]
    arguments = "".join(fragments)
    done = {**item, "status": "completed", "arguments": arguments}
    events += [seq.event("response.function_call_arguments.done", item_id=_FC_ID, output_index=0,
                         arguments=arguments),
               seq.event("response.output_item.done", output_index=0, item=done),
               seq.event("response.completed", response=_response_object("completed", [done], n))]
    return events


def responses_small() -> Dict[str, Any]:
    message = {"id": _MSG_ID, "type": "message", "status": "completed", "role": "assistant",
               "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Pong."}]}
    return _response_object("completed", [message], 2)


# -- Anthropic Messages --------------------------------------------------------------------


def _anthropic_events(block: Dict[str, Any], deltas: List[Dict[str, Any]], stop: str,
                      n: int) -> List[bytes]:
    start = {"type": "message_start", "message": {
        "id": "msg_01BenchA1b2C3d4E5f6G7h8", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5-20250929", "content": [], "stop_reason": None,
        "stop_sequence": None, "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0,
                                         "cache_read_input_tokens": 0, "output_tokens": 1}}}
    events = [_sse(start, "message_start"),
              _sse({"type": "content_block_start", "index": 0, "content_block": block},
                   "content_block_start"),
              _sse({"type": "ping"}, "ping")]
    events += [_sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
               for delta in deltas]
    end = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
           "usage": {"output_tokens": n}}
    return events + [_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
                     _sse(end, "message_delta"), _sse({"type": "message_stop"}, "message_stop")]


def anthropic_text(n: int) -> List[bytes]:
    deltas = [{"type": "text_delta", "text": piece} for piece in text_pieces(n)]
    return _anthropic_events({"type": "text", "text": ""}, deltas, "end_turn", n)


def anthropic_tool(n: int) -> List[bytes]:
    block = {"type": "tool_use", "id": "toolu_01BenchA1b2C3d4E5f6", "name": TOOL_NAME, "input": {}}
    deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in tool_fragments(n)]
    return _anthropic_events(block, deltas, "tool_use", n)


def anthropic_small() -> Dict[str, Any]:
    return {"id": "msg_01BenchA1b2C3d4E5f6G7h8", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5-20250929", "content": [{"type": "text", "text": "Pong."}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 9, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": 2}}


# -- Gemini ---------------------------------------------------------------------------------


def _gemini_chunk(text: str, n: int, finish: Optional[str] = None) -> Dict[str, Any]:
    candidate: Dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate],
            "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": n,
                              "totalTokenCount": 12 + n,
                              "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}]},
            "modelVersion": "gemini-2.5-flash", "responseId": "znLSafGoDoPUjMcPwMnh0AE"}


def gemini_text(n: int) -> List[bytes]:
    pieces = text_pieces(n)
    events = [_sse(_gemini_chunk(piece, i + 1), crlf=True) for i, piece in enumerate(pieces[:-1])]
    return events + [_sse(_gemini_chunk(pieces[-1], n, "STOP"), crlf=True)]


def gemini_small() -> Dict[str, Any]:
    return _gemini_chunk("Pong.", 2, "STOP")


FORMATS: Dict[str, Dict[str, Callable[..., Any]]] = {
    "openai": {"text": openai_text, "tool": openai_tool, "small": openai_small},
    "openai-responses": {"text": responses_text, "tool": responses_tool, "small": responses_small},
    "anthropic": {"text": anthropic_text, "tool": anthropic_tool, "small": anthropic_small},
    "gemini": {"text": gemini_text, "small": gemini_small},
}


def render_stream(wire_format: str, kind: str, n: int) -> List[bytes]:
    """The SSE events of a ``kind`` ("text" or "tool") stream with ``n`` deltas."""
    return FORMATS[wire_format][kind](n)


def render_small(wire_format: str) -> bytes:
    """The JSON body of a small non-streamed reply."""
    return _json(FORMATS[wire_format]["small"]()).encode("utf-8")
