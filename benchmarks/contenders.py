"""What is measured: the raw floor, sseclient-py, llmsync and (when installed) the SDKs.

Every contender is a zero-argument callable that does one unit of work (read one
stream, or run one burst of requests) and returns how many items it handled, so the
runner can time it and check that everyone did the same work.
"""
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Tuple

import requests
from sseclient import SSEClient

__all__ = ["Contender", "stream_contenders", "request_contenders", "MODELS", "ThreadGang"]

Contender = Tuple[str, Callable[[], int]]

# llmsync model strings and the wire path each format posts to (what the floor posts to).
MODELS = {
    "openai": ("openai/gpt-4o-mini", "/v1/chat/completions"),
    "openai-responses": ("openai-responses/gpt-4o-mini", "/v1/responses"),
    "anthropic": ("anthropic/claude-sonnet-4-5", "/v1/messages"),
    "gemini": ("gemini/gemini-2.5-flash", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
}
_PROMPT = [{"role": "user", "content": "Say something."}]


def _request_body(stream: bool) -> bytes:
    return json.dumps({"model": "bench-model", "messages": _PROMPT, "max_tokens": 64,
                       "stream": stream}).encode()


# -- the floor and sseclient-py: no client library, the least work that reads each event --


def floor_stream(url: str) -> Callable[[], int]:
    """``requests`` + ``iter_lines`` + ``json.loads`` of every ``data:`` line."""
    session = requests.Session()
    body = _request_body(True)
    headers = {"Content-Type": "application/json"}
    loads = json.loads

    def run() -> int:
        count = 0
        with session.post(url, data=body, headers=headers, stream=True) as response:
            for line in response.iter_lines():
                if line[:5] == b"data:" and line != b"data: [DONE]":
                    loads(line[5:])
                    count += 1
        return count

    return run


def sseclient_stream(url: str) -> Callable[[], int]:
    """``requests`` + ``sseclient-py`` + ``json.loads`` of every event's data."""
    session = requests.Session()
    body = _request_body(True)
    headers = {"Content-Type": "application/json"}
    loads = json.loads

    def run() -> int:
        count = 0
        with session.post(url, data=body, headers=headers, stream=True) as response:
            for event in SSEClient(response.iter_content(chunk_size=None)).events():
                if event.data != "[DONE]":
                    loads(event.data)
                    count += 1
        return count

    return run


# -- llmsync ------------------------------------------------------------------------------


def llmsync_client(wire_format: str, base_url: str) -> Any:
    """A client whose provider for ``wire_format`` points at the scenario ``base_url``."""
    import llmsync

    provider = MODELS[wire_format][0].split("/", 1)[0]
    suffix = "/v1beta" if wire_format == "gemini" else "/v1"
    keys = {provider: "bench-key", "openai": "bench-key"}  # openai-responses uses OpenAI's key
    return llmsync.Client(api_keys=keys, base_urls={provider: base_url + suffix},
                          retry=llmsync.RetryPolicy(max_retries=0), timeout=30.0)


def llmsync_stream(wire_format: str, kind: str, base_url: str) -> Callable[[], int]:
    """Iterate ``client.stream``; count the text (or tool-argument) deltas."""
    import llmsync

    client = llmsync_client(wire_format, base_url)
    model = MODELS[wire_format][0]
    wanted = llmsync.TextDelta if kind == "text" else llmsync.ToolCallDelta

    def run() -> int:
        count = 0
        with client.stream(model, "Say something.", max_tokens=64) as stream:
            for event in stream:
                if type(event) is wanted:
                    count += 1
        return count

    return run


# -- the official SDKs, when installed (never a dependency of llmsync) -----------------------


def _sdk_openai_chat(base_url: str, kind: str) -> Callable[[], int]:
    import openai

    client = openai.OpenAI(api_key="bench-key", base_url=base_url + "/v1", max_retries=0)

    def run() -> int:
        count = 0
        for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=_PROMPT,
                                                    stream=True):
            if chunk.choices:
                delta = chunk.choices[0].delta
                if (delta.content if kind == "text" else delta.tool_calls):
                    count += 1
        return count

    return run


def _sdk_openai_responses(base_url: str, kind: str) -> Callable[[], int]:
    import openai

    client = openai.OpenAI(api_key="bench-key", base_url=base_url + "/v1", max_retries=0)
    wanted = "response.output_text.delta" if kind == "text" else "response.function_call_arguments.delta"

    def run() -> int:
        count = 0
        for event in client.responses.create(model="gpt-4o-mini", input="Say something.", stream=True):
            if event.type == wanted:
                count += 1
        return count

    return run


def _sdk_anthropic(base_url: str, kind: str) -> Callable[[], int]:
    import anthropic

    client = anthropic.Anthropic(api_key="bench-key", base_url=base_url, max_retries=0)

    def run() -> int:
        count = 0
        for event in client.messages.create(model="claude-sonnet-4-5", max_tokens=64,
                                            messages=_PROMPT, stream=True):
            if event.type == "content_block_delta":
                count += 1
        return count

    return run


def _sdk_gemini(base_url: str, kind: str) -> Callable[[], int]:
    from google import genai
    from google.genai import types

    client = genai.Client(api_key="bench-key", http_options=types.HttpOptions(base_url=base_url + "/"))

    def run() -> int:
        count = 0
        for chunk in client.models.generate_content_stream(model="gemini-2.5-flash", contents="Say something."):
            if chunk.candidates:
                count += 1
        return count

    return run


# format -> (import name, builder); the builder may not support every kind.
_SDKS: Dict[str, Tuple[str, Callable[[str, str], Callable[[], int]]]] = {
    "openai": ("openai", _sdk_openai_chat),
    "openai-responses": ("openai", _sdk_openai_responses),
    "anthropic": ("anthropic", _sdk_anthropic),
    "gemini": ("google.genai", _sdk_gemini),
}


def sdk_available(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def stream_contenders(wire_format: str, kind: str, base_url: str, sdks: bool = True) -> List[Contender]:
    """Floor first, then sseclient-py, llmsync and the installed SDK for ``wire_format``."""
    url = base_url + MODELS[wire_format][1]
    contenders: List[Contender] = [
        ("floor", floor_stream(url)),
        ("sseclient-py", sseclient_stream(url)),
        ("llmsync", llmsync_stream(wire_format, kind, base_url)),
    ]
    module, builder = _SDKS[wire_format]
    if sdks and sdk_available(module):
        contenders.append((f"SDK {module}", builder(base_url, kind)))
    return contenders


# -- many small requests from 16 threads ------------------------------------------------------


class ThreadGang:
    """A fixed set of worker threads that run a job together, started at once.

    The threads outlive a measurement, so thread-local sessions (the floor's and
    llmsync's own) stay warm between repetitions, as in a long-running web worker.
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bench")

    def run(self, job: Callable[[], int]) -> int:
        barrier = threading.Barrier(self.threads)

        def task() -> int:
            barrier.wait()
            return job()

        futures = [self._pool.submit(task) for _ in range(self.threads)]
        return sum(future.result() for future in futures)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def floor_requests(url: str, gang: ThreadGang, per_thread: int) -> Callable[[], int]:
    """Bare ``requests``: one ``Session`` per thread, POST JSON, decode the JSON reply."""
    local = threading.local()
    body = _request_body(False)
    headers = {"Content-Type": "application/json"}

    def job() -> int:
        session: Optional[requests.Session] = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        for _ in range(per_thread):
            response = session.post(url, data=body, headers=headers)
            response.raise_for_status()
            response.json()
        return per_thread

    return lambda: gang.run(job)


def llmsync_requests(wire_format: str, base_url: str, gang: ThreadGang, per_thread: int) -> Callable[[], int]:
    """One shared ``llmsync.Client``; each thread calls ``generate``."""
    client = llmsync_client(wire_format, base_url)
    model = MODELS[wire_format][0]

    def job() -> int:
        for _ in range(per_thread):
            if client.generate(model, "Say something.", max_tokens=64).content != "Pong.":
                raise AssertionError("llmsync returned the wrong content")
        return per_thread

    return lambda: gang.run(job)


def _sdk_openai_requests(base_url: str, gang: ThreadGang, per_thread: int) -> Callable[[], int]:
    import openai

    client = openai.OpenAI(api_key="bench-key", base_url=base_url + "/v1", max_retries=0)

    def job() -> int:
        for _ in range(per_thread):
            client.chat.completions.create(model="gpt-4o-mini", messages=_PROMPT)
        return per_thread

    return lambda: gang.run(job)


def request_contenders(base_url: str, gang: ThreadGang, per_thread: int, sdks: bool = True) -> List[Contender]:
    """Small non-streamed Chat Completions requests: floor, llmsync, the OpenAI SDK."""
    contenders: List[Contender] = [
        ("floor", floor_requests(base_url + MODELS["openai"][1], gang, per_thread)),
        ("llmsync", llmsync_requests("openai", base_url, gang, per_thread)),
    ]
    if sdks and sdk_available("openai"):
        contenders.append(("SDK openai", _sdk_openai_requests(base_url, gang, per_thread)))
    return contenders
