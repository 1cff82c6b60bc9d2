"""Where one stream event's time goes: the per-event path measured step by step.

Every step reads the same pre-rendered stream (``wire.py``, one event per HTTP chunk, as
the benchmark server sends it), and each adds one layer to the one before, so the
difference between two rows is the cost of the layer added:

1. ``requests`` reading the body from the loopback server (``iter_content``), and the
   same through llmsync's transport (``RequestsTransport``, ``iter_bytes``);
2. sseclient-py splitting those chunks into events (chunks already read);
3. the same plus ``json.loads`` of each event: the sseclient-py row's work, minus HTTP;
4. llmsync's ``Provider.decode_stream`` (sseclient-py, as ``(event, data)`` pairs);
5. plus ``StreamParser.feed``: JSON decoding, the events, the ``ResponseBuilder``;
6. plus ``Exchange`` and ``Stream``: ``for event in client.stream(...)`` over a transport
   that hands over the chunks already read.

Times are the fastest of the repetitions, in CPU microseconds per event.
"""
import gc
import json
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import requests
from sseclient import SSEClient

import contenders
import wire

__all__ = ["per_event_steps"]


class _ReadReply:
    """A streamed reply whose body was already read: what a transport hands the exchange."""

    status = 200

    def __init__(self, chunks: List[bytes]) -> None:
        self._chunks = chunks
        self.headers = requests.structures.CaseInsensitiveDict({"Content-Type": "text/event-stream"})

    def iter_bytes(self) -> Iterator[bytes]:
        return iter(self._chunks)

    def read(self) -> bytes:
        return b"".join(self._chunks)

    def shutdown(self) -> None:
        pass

    def close(self) -> None:
        pass


class _ReadTransport:
    """An llmsync transport that answers every request with the same chunks, already read."""

    def __init__(self, chunks: List[bytes]) -> None:
        self._chunks = chunks

    def send(self, request: Any, timeout: Any, watch: Any, provider_id: Any) -> _ReadReply:
        return _ReadReply(self._chunks)

    def close(self) -> None:
        pass


def _fastest(run: Callable[[], Any], events: int, reps: int) -> float:
    """The fastest CPU time of ``run`` over ``reps`` runs, in microseconds per event."""
    best = float("inf")
    for _ in range(reps + 1):  # the first run warms up
        gc.collect()
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best / events * 1e6


def in_memory_runs(wire_format: str, kind: str, events: int) -> Dict[str, Callable[[], None]]:
    """The steps that need no HTTP, each reading the same rendered stream from memory:
    ``sse``, ``sse_json``, ``decode``, ``parse`` and ``stream`` (also run by
    ``instructions.py``)."""
    import llmsync
    from llmsync.registry import get_provider

    chunks = wire.render_stream(wire_format, kind, events)
    model = contenders.MODELS[wire_format][0]
    provider_id, model_id = model.split("/", 1)
    provider = get_provider(provider_id)
    client = llmsync.Client(api_keys={provider_id: "bench-key", "openai": "bench-key"},
                            transport=_ReadTransport(chunks), retry=llmsync.RetryPolicy(max_retries=0))
    loads = json.loads

    def sse() -> None:
        for _ in SSEClient(iter(chunks)).events():
            pass

    def sse_json() -> None:
        for event in SSEClient(iter(chunks)).events():
            if event.data != "[DONE]":
                loads(event.data)

    def decode() -> None:
        for _ in provider.decode_stream(iter(chunks)):
            pass

    def parse() -> None:
        parser = provider.stream_parser(model_id)
        for name, data in provider.decode_stream(iter(chunks)):
            parser.feed(name, data)
        parser.finish()

    def stream() -> None:
        with client.stream(model, "Say something.", max_tokens=64) as reply:
            for _ in reply:
                pass

    return {"sse": sse, "sse_json": sse_json, "decode": decode, "parse": parse, "stream": stream}


def per_event_steps(wire_format: str, kind: str, events: int, url: str,
                    reps: int) -> List[Tuple[str, float, Optional[str]]]:
    """(step, µs per event, the step it adds to) for each step above; ``url`` serves this
    stream over HTTP."""
    from llmsync.transport import HttpRequest, RequestsTransport, Watch

    provider_id = contenders.MODELS[wire_format][0].split("/", 1)[0]
    session = requests.Session()
    body = json.dumps({"model": "bench-model", "stream": True}).encode()
    transport = RequestsTransport()
    runs = in_memory_runs(wire_format, kind, events)

    def http() -> None:
        with session.post(url + contenders.MODELS[wire_format][1], data=body, stream=True) as response:
            for _ in response.iter_content(chunk_size=None):
                pass

    def transport_read() -> None:
        request = HttpRequest("POST", url + contenders.MODELS[wire_format][1], {}, body)
        response = transport.send(request, (5.0, 30.0), Watch(), provider_id)
        for _ in response.iter_bytes():
            pass
        response.close()

    # (step, its run, the step it adds a layer to)
    table = [
        ("HTTP read (requests)", http, None),
        ("HTTP read (llmsync)", transport_read, "HTTP read (requests)"),
        ("SSE (sseclient-py)", runs["sse"], None),
        ("SSE + json.loads", runs["sse_json"], "SSE (sseclient-py)"),
        ("llmsync decode_stream", runs["decode"], "SSE (sseclient-py)"),
        ("  + StreamParser.feed", runs["parse"], "llmsync decode_stream"),
        ("  + Exchange, Stream", runs["stream"], "  + StreamParser.feed"),
    ]
    try:
        return [(label, _fastest(run, events, reps), over) for label, run, over in table]
    finally:
        session.close()
        transport.close()
