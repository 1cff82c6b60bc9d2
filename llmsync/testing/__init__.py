"""Test helpers: ``FakeServer``, a real loopback server speaking the providers' formats."""
from .guard import block_real_requests
from .offline import client_or_fake
from .reply import Reply
from .server import FAKE_KEY, FakeServer, ReceivedRequest
from .wire import FORMATS, WireFormat, sse

__all__ = ["FakeServer", "Reply", "block_real_requests", "client_or_fake", "ReceivedRequest", "WireFormat",
           "FORMATS", "sse", "FAKE_KEY"]
