"""A Flask app that streams a model's reply to the browser as server-sent events.

    pip install flask
    python examples/flask_app.py              # then open http://127.0.0.1:5000/
    python examples/flask_app.py --once "Hi"  # print one streamed response and exit

One ``llmsync.Client`` serves every request: it is safe to share across Flask's worker
threads. When the browser goes away, the WSGI server closes the response generator,
which leaves the ``with`` block and closes the model's HTTP stream at once.

With OPENAI_API_KEY set this talks to OpenAI; without it, to a local FakeServer.
"""
import argparse
import json
import os
from typing import Iterator, List, Optional

from flask import Flask, Response, request, stream_with_context

import llmsync
from llmsync.testing import FakeServer, Reply

MODEL = "openai/gpt-4o-mini"

PAGE = """<!doctype html>
<title>llmsync + Flask</title>
<form id="ask"><input name="prompt" size="60" value="Tell me a joke"> <button>Ask</button></form>
<pre id="reply"></pre>
<script>
document.getElementById("ask").onsubmit = (e) => {
  e.preventDefault();
  const out = document.getElementById("reply");
  out.textContent = "";
  const source = new EventSource("/chat?prompt=" + encodeURIComponent(e.target.prompt.value));
  source.onmessage = (m) => { out.textContent += JSON.parse(m.data).text; };
  source.addEventListener("done", () => source.close());
  source.addEventListener("failed", (m) => {
    out.textContent += "\\n[" + JSON.parse(m.data).error + "]";
    source.close();
  });
};
</script>
"""


def sse(data: dict, event: Optional[str] = None) -> str:
    """One server-sent event carrying ``data`` as JSON."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


def reply_events(client: llmsync.Client, prompt: str) -> Iterator[str]:
    """The reply to ``prompt`` as SSE text: a message per text delta, then ``done``."""
    try:
        with client.stream(MODEL, prompt, max_tokens=500) as stream:
            for event in stream:
                if isinstance(event, llmsync.TextDelta):
                    yield sse({"text": event.text})
    except llmsync.LLMError as error:
        # The status line is already sent; report the failure in the stream itself.
        yield sse({"error": str(error)}, event="failed")
        return
    yield sse({"finish_reason": str(stream.response.finish_reason)}, event="done")


def create_app(client: llmsync.Client) -> Flask:
    """The Flask app, answering with ``client``."""
    app = Flask(__name__)

    @app.get("/")
    def index() -> str:
        return PAGE

    @app.get("/chat")
    def chat() -> Response:
        prompt = request.args.get("prompt", "").strip()
        if not prompt:
            return Response("missing ?prompt=\n", status=400, mimetype="text/plain")
        events = stream_with_context(reply_events(client, prompt))
        return Response(events, mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return app


def offline_server() -> FakeServer:
    """A FakeServer that streams a friendly stand-in reply."""
    reply = Reply(text="Hello from Flask! This reply was streamed by llmsync's FakeServer.",
                  chunk_size=5, delay_between=0.02)
    return FakeServer(default=reply).start()


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--once", metavar="PROMPT", help="print the SSE response to PROMPT and exit")
    args = parser.parse_args(argv)
    server = None if os.environ.get("OPENAI_API_KEY") else offline_server()
    client = server.client() if server else llmsync.Client()
    try:
        app = create_app(client)
        if args.once:
            with app.test_client() as browser:
                response = browser.get("/chat", query_string={"prompt": args.once})
                for chunk in response.response:
                    print(chunk.decode() if isinstance(chunk, bytes) else chunk, end="", flush=True)
        else:
            if server:
                print("(offline: OPENAI_API_KEY is not set, so llmsync's FakeServer answers)")
            app.run(port=args.port, threaded=True)
    finally:
        client.close()
        if server:
            server.stop()


if __name__ == "__main__":
    main()
