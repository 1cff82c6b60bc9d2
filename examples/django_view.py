"""A Django view that streams a model's reply with ``StreamingHttpResponse``.

    pip install django
    python examples/django_view.py runserver          # then open http://127.0.0.1:8000/chat?prompt=Hi
    python examples/django_view.py --once "Hi"        # print one streamed response and exit

The settings are configured right here so the example is one file; in a project the
view and the shared client live in an app's ``views.py``. One ``llmsync.Client`` is
shared by every request (it is thread-safe). Under WSGI a plain generator is right:
Django iterates it on the request's thread, and closes it if the client disconnects,
which closes the model's HTTP stream.

With OPENAI_API_KEY set this talks to OpenAI; without it, to a local FakeServer.
"""
import json
import os
import sys
import threading
from typing import Iterator, List, Optional

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=True,
        SECRET_KEY="llmsync-example-not-secret",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
    )
    django.setup()

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

import llmsync  # noqa: E402
from llmsync.testing import FakeServer, Reply  # noqa: E402

MODEL = "openai/gpt-4o-mini"

_client: Optional[llmsync.Client] = None
_server: Optional[FakeServer] = None
_lock = threading.Lock()


def get_client() -> llmsync.Client:
    """The process-wide client: real with OPENAI_API_KEY, else aimed at a FakeServer."""
    global _client, _server
    with _lock:
        if _client is None:
            if os.environ.get("OPENAI_API_KEY"):
                _client = llmsync.Client()
            else:
                reply = Reply(text="Hello from Django! Streamed by llmsync's FakeServer.", chunk_size=5)
                _server = FakeServer(default=reply).start()
                _client = _server.client()
        return _client


def reply_events(prompt: str) -> Iterator[str]:
    """The reply as server-sent events: one per text delta, then ``done``."""
    try:
        with get_client().stream(MODEL, prompt, max_tokens=500) as stream:
            for event in stream:
                if isinstance(event, llmsync.TextDelta):
                    yield f"data: {json.dumps({'text': event.text})}\n\n"
    except llmsync.LLMError as error:
        yield f"event: failed\ndata: {json.dumps({'error': str(error)})}\n\n"
        return
    yield f"event: done\ndata: {json.dumps({'finish_reason': str(stream.response.finish_reason)})}\n\n"


def chat(request: HttpRequest) -> HttpResponse:
    """GET /chat?prompt=...: the reply, streamed as server-sent events."""
    prompt = request.GET.get("prompt", "").strip()
    if not prompt:
        return HttpResponse("missing ?prompt=\n", status=400, content_type="text/plain")
    response = StreamingHttpResponse(reply_events(prompt), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # tell nginx not to buffer the stream
    return response


urlpatterns = [path("chat", chat)]


def main(argv: Optional[List[str]] = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--once"]:
        from django.test import Client as BrowserClient

        response = BrowserClient().get("/chat", {"prompt": " ".join(args[1:]) or "Hi"})
        for chunk in response.streaming_content:
            print(chunk.decode(), end="", flush=True)
        return
    from django.core.management import execute_from_command_line

    execute_from_command_line([sys.argv[0]] + (args or ["runserver"]))


if __name__ == "__main__":
    main()
