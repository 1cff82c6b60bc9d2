"""A batch job: many prompts on a thread pool, under rate limits, with progress.

    python examples/batch_job.py

``client.batch`` yields each result as it finishes (not in input order; ``result.index``
says which item it is). A failed item is a result with ``.error``, never an exception
that stops the batch. For files, the ``llmsync batch IN.jsonl OUT.jsonl`` command does
the same and resumes after a crash.

With OPENAI_API_KEY set this talks to OpenAI; without it, to a local FakeServer that
answers each prompt after a short, random delay.
"""
import random
import sys
from typing import Callable, ContextManager, List, Optional

import llmsync
from llmsync.batch import BatchResult, summarize
from llmsync.testing import ReceivedRequest, Reply, client_or_fake

MODEL = "openai/gpt-4o-mini"

CITIES = ["Lisbon", "Oslo", "Nairobi", "Lima", "Hanoi", "Perth", "Quito", "Tunis", "Riga", "Accra"]


def fake_model(received: ReceivedRequest) -> Reply:
    """The offline stand-in: answers each prompt after 20-80 ms."""
    prompt = received.body["messages"][-1]["content"]
    city = prompt.rsplit(" ", 1)[-1].rstrip("?")
    return Reply(text=f"{city} is a fine city.", delay_before=random.uniform(0.02, 0.08))


def open_client() -> ContextManager[llmsync.Client]:
    """A real client when OPENAI_API_KEY is set, else one aimed at a local FakeServer."""
    return client_or_fake(responder=fake_model)


def progress_printer(total: int) -> Callable[[int, BatchResult], None]:
    """An ``on_progress`` callback; it is called after each result, on the consuming thread."""

    def show_progress(done: int, result: BatchResult) -> None:
        mark = "ok" if result.ok else "FAILED"
        sys.stderr.write(f"\r{done}/{total} finished (last: item {result.index}, {mark})   ")
        sys.stderr.flush()

    return show_progress


def main(cities: Optional[List[str]] = None) -> List[BatchResult]:
    cities = cities or CITIES
    items = [{"model": MODEL, "prompt": f"One sentence about {city}?", "max_tokens": 60} for city in cities]
    with open_client() as client:
        results = list(client.batch(items, max_workers=4, requests_per_minute=600,
                                    on_progress=progress_printer(len(items))))
    sys.stderr.write("\n")
    for result in sorted(results, key=lambda r: r.index):
        answer = result.response.content if result.ok else f"error: {result.error}"
        print(f"{cities[result.index]:>8}: {answer}")
    totals = summarize(results)
    cost = "unknown" if totals["cost"] is None else f"${totals['cost']:.6f}"
    print(f"{totals['done']} done, {totals['failed']} failed, {totals['tokens']} tokens, cost {cost}")
    return results


if __name__ == "__main__":
    main()
