"""``FakeServer``: a real loopback HTTP server that speaks the providers' wire formats.

It runs on 127.0.0.1 in a background thread, answers each request with the next
scripted ``Reply`` (rendered in the format the request path asks for), records what it
received, and counts connections, so tests and offline demos exercise real sockets,
real chunking and real timeouts.
"""
import gzip
import json
import socket
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterable, List, Optional

from .reply import Reply
from .wire import format_for

__all__ = ["FakeServer", "ReceivedRequest"]

FAKE_KEY = "fake-key-for-FakeServer"


@dataclass
class ReceivedRequest:
    """A request as the fake server received it."""

    method: str
    path: str
    headers: Dict[str, str]
    body: Any


class FakeServer:
    """A scripted loopback server for tests and offline examples.

    Example::

        with FakeServer() as server:
            server.add(Reply(text="Hello!"))
            client = server.client()
            client.generate("openai/gpt-4o-mini", "Hi").content   # "Hello!"

    Args:
        replies: replies to give, in order; then ``default`` (or ``responder``'s).
        default: the reply when the queue is empty.
        responder: a function ``ReceivedRequest -> Reply`` used when the queue is empty.
    """

    def __init__(self, replies: Iterable[Reply] = (), default: Optional[Reply] = None,
                 responder: Optional[Callable[[ReceivedRequest], Reply]] = None) -> None:
        self._queue = deque(replies)
        self.default = default or Reply(text="Hello from llmsync's FakeServer! Set an API key to talk to a real model.")
        self.responder = responder
        self.requests: List[ReceivedRequest] = []
        self.connections_opened = 0
        self.open_connections = 0
        self.max_open_connections = 0
        self._lock = threading.Lock()
        self._httpd: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> "FakeServer":
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.fake = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="llmsync-fake-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the server first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def base_urls(self) -> Dict[str, str]:
        """Base URLs that point every built-in provider at this server."""
        from ..registry import provider_ids

        urls = {provider_id: f"{self.url}/v1" for provider_id in provider_ids()}
        urls["gemini"] = f"{self.url}/v1beta"
        return urls

    def client(self, **options: Any):
        """A ``Client`` aimed at this server, with a fake key for every provider."""
        from ..client import Client
        from ..registry import provider_ids

        options.setdefault("api_keys", {provider_id: FAKE_KEY for provider_id in provider_ids()})
        options.setdefault("base_urls", self.base_urls())
        return Client(**options)

    # -- scripting --------------------------------------------------------------------------

    def add(self, *replies: Reply) -> None:
        """Queue replies, answered in order."""
        with self._lock:
            self._queue.extend(replies)

    def _next_reply(self, received: ReceivedRequest) -> Reply:
        with self._lock:
            self.requests.append(received)
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(received)
        return self.default

    def _connection(self, delta: int) -> None:
        with self._lock:
            self.open_connections += delta
            if delta > 0:
                self.connections_opened += 1
                self.max_open_connections = max(self.max_open_connections, self.open_connections)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog of 5 resets connections when many threads connect at once.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up mid-reply are expected here; stay quiet."""

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # Counted open until its socket is shut down (socketserver does that after the
        # handler's finish()), so a test that waits for open_connections == 0 knows the
        # client's pooled connection is really dead.
        self.fake._connection(+1)  # type: ignore[attr-defined]
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.fake._connection(-1)  # type: ignore[attr-defined]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        fake: FakeServer = self.server.fake  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = raw.decode("utf-8", "replace")
        received = ReceivedRequest("POST", self.path, dict(self.headers.items()), body)
        reply = fake._next_reply(received)
        if reply.delay_before:
            time.sleep(reply.delay_before)
        path = self.path.split("?", 1)[0]
        wire = format_for(path)
        model = body.get("model", "") if isinstance(body, dict) else ""
        if wire is None:
            self._send_whole(404, {"error": {"message": f"FakeServer has no route {path}"}}, reply)
        elif reply.status >= 300:
            self._send_whole(reply.status, reply.body or wire.error_body(reply), reply, wire.error_headers(reply))
        elif wire.is_stream(self.path, body if isinstance(body, dict) else {}):
            if model == "" and ":" in path:  # Gemini names the model in the path
                model = path.rsplit("/", 1)[-1].split(":", 1)[0]
            events = [reply.body] if reply.body is not None else wire.stream_events(reply, model)
            self._send_stream(events, reply, wire.stream_content_type)
        else:
            if model == "" and ":" in path:
                model = path.rsplit("/", 1)[-1].split(":", 1)[0]
            self._send_whole(200, reply.body if reply.body is not None else wire.body(reply, model), reply)
        if reply.close_after:  # without saying so: the client's pooled connection goes stale
            self.close_connection = True

    # -- writing ------------------------------------------------------------------------------

    def _send_whole(self, status: int, payload: Any, reply: Reply,
                    extra_headers: Optional[Dict[str, str]] = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        content_type = reply.content_type or "application/json"
        if reply.gzip:
            data = gzip.compress(data)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if reply.gzip:
            self.send_header("Content-Encoding", "gzip")
        for name, value in {**(extra_headers or {}), **reply.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.disconnect_after == 0:
            self._drop()
            return
        self._write_pieces(data, reply, chunked=False)

    def _send_stream(self, events: List[bytes], reply: Reply,
                     content_type: str = "text/event-stream; charset=utf-8") -> None:
        chunked = not reply.unchunked
        self.send_response(200)
        self.send_header("Content-Type", reply.content_type or content_type)
        self.send_header("Transfer-Encoding" if chunked else "Connection", "chunked" if chunked else "close")
        self.send_header("Cache-Control", "no-cache")
        if reply.gzip:
            self.send_header("Content-Encoding", "gzip")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        compressor = zlib.compressobj(wbits=31) if reply.gzip else None
        for position, event in enumerate(events):
            if reply.disconnect_after is not None and position >= reply.disconnect_after:
                self._drop()
                return
            if position and reply.delay_between:
                time.sleep(reply.delay_between)
            if position == reply.stall_after:
                time.sleep(reply.stall)
            if compressor is not None:
                event = compressor.compress(event) + compressor.flush(zlib.Z_SYNC_FLUSH)
            self._write_pieces(event, reply, chunked)
        if compressor is not None:
            self._write_pieces(compressor.flush(), reply, chunked)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        else:  # the end of the body is the end of the connection
            self.close_connection = True

    def _write_pieces(self, data: bytes, reply: Reply, chunked: bool) -> None:
        size = reply.split_bytes or len(data) or 1
        for start in range(0, len(data), size):
            if start and reply.delay_between:
                time.sleep(reply.delay_between)
            piece = data[start:start + size]
            if chunked:
                piece = b"%x\r\n%s\r\n" % (len(piece), piece)
            self.wfile.write(piece)
            self.wfile.flush()

    def _drop(self) -> None:
        """Close the connection abruptly, mid-body."""
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
