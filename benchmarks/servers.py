"""A minimal, fast HTTP/1.1 loopback server for the benchmarks, run in its own process.

It is deliberately not ``llmsync.testing.FakeServer`` (built for faults and scripts):
every reply is rendered once at start-up, streams are sent as one HTTP chunk per SSE
event, connections are kept alive, and the server runs in a separate process so it
never competes with the measured code for the GIL.

A request for ``/s/<scenario>/<anything>`` gets the scenario's pre-rendered reply,
whatever the rest of the path, the method or the body; anything else gets a 404.

Run by ``BenchServer`` (the parent side); as a script it reads the scenario table (JSON)
on stdin and prints ``PORT <n>`` once it is listening.
"""
import json
import os
import socket
import subprocess
import sys
import threading
from typing import Dict, List, Optional, Tuple

__all__ = ["BenchServer", "Scenario", "render_response"]

# (name, wire format, kind, events): kind is "text" or "tool" (streams) or "small".
Scenario = Tuple[str, str, str, int]

_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot found"


def _chunked(events: List[bytes]) -> bytes:
    """One HTTP chunk per SSE event, then the terminating zero-size chunk."""
    parts = []
    for event in events:
        parts.append(b"%x\r\n" % len(event))
        parts.append(event)
        parts.append(b"\r\n")
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


def render_response(wire_format: str, kind: str, events: int) -> bytes:
    """The full HTTP response (status line, headers, body) of one scenario."""
    import wire  # benchmarks/wire.py, next to this file

    if kind == "small":
        body = wire.render_small(wire_format)
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"x-request-id: req_bench\r\nContent-Length: %d\r\n\r\n" % len(body))
        return head + body
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
            b"Cache-Control: no-cache\r\nx-request-id: req_bench\r\nTransfer-Encoding: chunked\r\n\r\n")
    return head + _chunked(wire.render_stream(wire_format, kind, events))


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _serve_connection(conn: socket.socket, replies: Dict[bytes, bytes]) -> None:
    """Answer requests on one kept-alive connection until the client closes it."""
    buffer = b""
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            end = buffer.find(b"\r\n\r\n")
            while end < 0:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
                end = buffer.find(b"\r\n\r\n")
            total = end + 4 + _content_length(buffer[:end])
            while len(buffer) < total:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            path = buffer[:buffer.find(b"\r\n")].split(b" ")[1]
            buffer = buffer[total:]
            parts = path.split(b"/", 3)
            key = parts[2] if len(parts) > 2 and parts[1] == b"s" else b""
            conn.sendall(replies.get(key, _NOT_FOUND))
    except OSError:  # the client hung up mid-stream (a closed stream): nothing to do
        return
    finally:
        conn.close()


def serve(scenarios: List[Scenario]) -> None:
    """Render every scenario, listen on a free loopback port, print it, serve forever."""
    replies = {name.encode(): render_response(fmt, kind, n) for name, fmt, kind, n in scenarios}
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_serve_connection, args=(conn, replies), daemon=True).start()


class BenchServer:
    """The parent's handle on a server process: ``with BenchServer(scenarios) as s: s.url(name)``."""

    def __init__(self, scenarios: List[Scenario]) -> None:
        self.scenarios = scenarios
        self.port: Optional[int] = None
        self._process: Optional[subprocess.Popen] = None

    def start(self) -> "BenchServer":
        here = os.path.dirname(os.path.abspath(__file__))
        self._process = subprocess.Popen([sys.executable, os.path.join(here, "servers.py")],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=here)
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(self.scenarios).encode())
        self._process.stdin.close()
        line = self._process.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"benchmark server failed to start (said {line!r})")
        self.port = int(line.split()[1])
        return self

    def url(self, scenario: str) -> str:
        """The base URL whose every path is answered with ``scenario``'s reply."""
        return f"http://127.0.0.1:{self.port}/s/{scenario}"

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def __enter__(self) -> "BenchServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


if __name__ == "__main__":
    serve([tuple(item) for item in json.load(sys.stdin)])
