"""Observability: a batch's progress, cost and traces as it runs.

    python examples/observability.py [--verbose]

- a hook (``CostTracker``) adds up calls, tokens, dollars and retries as replies arrive;
  hooks run on the thread doing the work (here the batch's workers), so it takes a lock;
- a tqdm progress bar, fed by the batch's ``on_progress`` (``pip install tqdm``);
- OpenTelemetry: every model call is a span ``chat gpt-4o-mini`` under this job's own
  span, printed by the SDK's console exporter (``pip install opentelemetry-sdk``);
  retries show as span events;
- ``--verbose`` turns on llmsync's DEBUG log: one line per HTTP attempt.

With OPENAI_API_KEY set this talks to OpenAI; without it, to a local FakeServer that
rate-limits the first try of every third prompt, so retries show up.
"""
import logging
import sys
import threading
from typing import Any, Dict, List, Optional, Set

import llmsync
from llmsync.batch import BatchResult
from llmsync.testing import ReceivedRequest, Reply, client_or_fake

MODEL = "openai/gpt-4o-mini"

TOPICS = ["tides", "volcanoes", "bees", "glaciers", "comets", "coral", "lightning", "deserts", "owls"]


class CostTracker:
    """A hook: calls, tokens, cost and retries of every reply (thread-safe)."""

    def __init__(self) -> None:
        self.calls = self.tokens = self.retries = self.errors = 0
        self.cost = 0.0
        self.unpriced = 0  # replies whose model has no price in the catalog
        self._lock = threading.Lock()

    def on_response(self, response: llmsync.Response) -> None:
        with self._lock:
            self.calls += 1
            self.tokens += response.usage.total_tokens if response.usage else 0
            if response.cost is None:
                self.unpriced += 1
            else:
                self.cost += response.cost

    def on_retry(self, error: llmsync.LLMError, attempt: int, delay: float) -> None:
        with self._lock:
            self.retries += 1

    def on_error(self, error: llmsync.LLMError) -> None:
        with self._lock:
            self.errors += 1

    def summary(self) -> str:
        unpriced = f" ({self.unpriced} unpriced)" if self.unpriced else ""
        return (f"{self.calls} replies, {self.tokens} tokens, ${self.cost:.6f}{unpriced}, "
                f"{self.retries} retries, {self.errors} errors")


class FlakyModel:
    """The offline stand-in: every third prompt is rate-limited on its first try."""

    def __init__(self) -> None:
        self._seen: Set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, received: ReceivedRequest) -> Reply:
        prompt = received.body["messages"][-1]["content"]
        topic = prompt.rsplit(" ", 1)[-1].rstrip(".")
        with self._lock:
            first_try = prompt not in self._seen
            self._seen.add(prompt)
        if first_try and TOPICS.index(topic) % 3 == 2:
            return Reply.error(429, "rate limited (simulated)", headers={"retry-after-ms": "20"})
        return Reply(text=f"A fact about {topic}.", delay_before=0.02)


def start_tracing() -> Any:
    """Print every finished span on stdout, one line each; None without the OpenTelemetry SDK."""
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
    except ImportError:
        print("(tracing off: pip install opentelemetry-sdk to see spans)")
        return None

    def one_line(span: Any) -> str:
        attributes = dict(span.attributes or {})
        if "gen_ai.operation.name" not in attributes:  # the job's own span
            return f"[span] {span.name}\n"
        tokens = (attributes.get("gen_ai.usage.input_tokens"), attributes.get("gen_ai.usage.output_tokens"))
        retries = sum(1 for event in span.events if event.name == "retry")
        return f"[span] {span.name} provider={attributes['gen_ai.provider.name']} tokens={tokens} " \
               f"retries={retries}\n"

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stdout, formatter=one_line)))
    trace.set_tracer_provider(provider)
    return trace.get_tracer("examples.observability")


def progress_bar(total: int) -> Any:
    """A tqdm bar on stderr, or None without tqdm."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="item", desc="batch", file=sys.stderr)


def main(topics: Optional[List[str]] = None, verbose: bool = False) -> Dict[str, Any]:
    topics = topics or TOPICS
    if verbose:
        logging.basicConfig(format="%(name)s %(levelname)s %(message)s")
        logging.getLogger("llmsync").setLevel(logging.DEBUG)
    tracer = start_tracing()
    tracker = CostTracker()
    bar = progress_bar(len(topics))
    items = [{"model": MODEL, "prompt": f"One short fact about {topic}.", "max_tokens": 40} for topic in topics]

    def on_progress(done: int, result: BatchResult) -> None:
        if bar is not None:
            bar.update(1)

    retry = llmsync.RetryPolicy(max_retries=3, base_delay=0.05)
    with client_or_fake(responder=FlakyModel(), hooks=[tracker], retry=retry) as client:
        job = tracer.start_as_current_span("nightly facts") if tracer is not None else _no_span()
        with job:
            results = list(client.batch(items, max_workers=3, on_progress=on_progress))
    if bar is not None:
        bar.close()
    for result in sorted(results, key=lambda r: r.index):
        answer = result.response.content if result.ok else f"error: {result.error}"
        print(f"{topics[result.index]:>10}: {answer}")
    print(tracker.summary())
    return {"results": results, "tracker": tracker}


class _no_span:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: Any) -> None:
        return None


if __name__ == "__main__":
    main(verbose="--verbose" in sys.argv[1:])
