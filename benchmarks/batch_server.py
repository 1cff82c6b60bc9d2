"""A loopback Chat Completions server with a fixed rate limit, for ``batch_throughput.py``.

It runs in its own process (so it never competes with the measured driver for the
GIL), answers ``POST .../chat/completions`` after ``latency`` seconds with a small
reply, and enforces ``rpm`` the way a provider does: a token bucket holding at most
two seconds' worth of the rate (the burst DESIGN.md allows a client), full at start.
A request over the limit gets a 429 with ``Retry-After: 1``; such a 429 is one our own
burst caused. ``GET /stats`` returns the accepted requests' arrival times
(``time.monotonic``, which every process of the machine shares) and the 429 count.
"""
import json
import multiprocessing
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional

__all__ = ["RateLimitedServer"]

BURST_SECONDS = 2.0
REPLY = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}).encode()
LIMITED = json.dumps({"error": {"message": "rate limit", "type": "requests", "code": "rate_limit_exceeded"}}).encode()


class _Limit:
    def __init__(self, rpm: Optional[float]) -> None:
        self.rate = rpm / 60.0 if rpm else None
        self.capacity = max(1.0, (self.rate or 0) * BURST_SECONDS)
        self.level = self.capacity
        self.updated = time.monotonic()
        self.accepted: List[float] = []
        self.limited = 0
        self.lock = threading.Lock()

    def admit(self) -> bool:
        with self.lock:
            now = time.monotonic()
            if self.rate is not None:
                self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
                self.updated = now
                if self.level < 1.0:
                    self.limited += 1
                    return False
                self.level -= 1.0
            self.accepted.append(now)
            return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server: Any = self.server
        if server.limit.admit():
            time.sleep(server.latency)
            self._send(200, REPLY)
        else:
            self._send(429, LIMITED, {"Retry-After": "1"})

    def do_GET(self) -> None:
        limit = self.server.limit  # type: ignore[attr-defined]
        with limit.lock:
            stats = {"accepted": list(limit.accepted), "limited": limit.limited}
        self._send(200, json.dumps(stats).encode())

    def _send(self, status: int, body: bytes, headers: Optional[Dict[str, str]] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


def _serve(rpm: Optional[float], latency: float, ports: Any) -> None:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.limit = _Limit(rpm)  # type: ignore[attr-defined]
    httpd.latency = latency  # type: ignore[attr-defined]
    ports.put(httpd.server_address[1])
    httpd.serve_forever(poll_interval=0.05)


class RateLimitedServer:
    """The server process: ``with RateLimitedServer(rpm=1200) as server: server.url``."""

    def __init__(self, rpm: Optional[float], latency: float = 0.2) -> None:
        self.rpm = rpm
        self.latency = latency

    def __enter__(self) -> "RateLimitedServer":
        context = multiprocessing.get_context("spawn")
        ports = context.Queue()
        self._process = context.Process(target=_serve, args=(self.rpm, self.latency, ports), daemon=True)
        self._process.start()
        self.url = f"http://127.0.0.1:{ports.get(timeout=30)}"
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._process.terminate()
        self._process.join()

    def stats(self) -> Dict[str, Any]:
        import requests

        return requests.get(f"{self.url}/stats", timeout=30).json()
