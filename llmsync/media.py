"""Attachment bytes: base64 in and out, media types sniffed from magic bytes, files read.

``Image`` and ``Document`` check their fields here at construction, so every provider
receives the same thing: standard base64 text with a media type, or a URL it can fetch.
A local path, a value of the wrong type or text that is not base64 is an
``InvalidRequestError`` naming the fix, raised before any request is built.
"""
import base64
import binascii
import mimetypes
import os
import re
from typing import Any, Optional, Tuple

from .errors import InvalidRequestError

__all__ = ["sniff_image_type", "sniff_document_type", "encode_data", "check_url", "read_file",
           "split_data_url"]

_BYTES = (bytes, bytearray, memoryview)
_WHITESPACE = re.compile(r"\s+")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


def sniff_image_type(head: bytes) -> Optional[str]:
    """The media type of PNG, JPEG, GIF or WebP bytes, from their first 12 bytes; else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def sniff_document_type(head: bytes) -> Optional[str]:
    """``application/pdf`` for bytes starting with the PDF header; else None."""
    return "application/pdf" if head.startswith(b"%PDF-") else None


def encode_data(value: Any, owner: str) -> Tuple[Optional[str], bytes]:
    """``data=`` as base64 text, and the first decoded bytes (for sniffing the media type).

    Bytes are encoded; text must already be standard base64 (line breaks are removed).

    Raises:
        InvalidRequestError: the value is empty, not bytes or text, or not base64.
    """
    if value is None:
        return None, b""
    if isinstance(value, _BYTES):
        raw = bytes(value)
        if not raw:
            raise InvalidRequestError(f"{owner} data is empty")
        return base64.b64encode(raw).decode("ascii"), raw[:16]
    if not isinstance(value, str):
        raise InvalidRequestError(
            f"{owner} data must be bytes or base64 text, got {type(value).__name__}; "
            f"for a file use {owner}.from_path(path)")
    text = _WHITESPACE.sub("", value)
    if text.startswith("data:"):
        raise InvalidRequestError(f"{owner} data takes base64 text, not a data: URL; "
                                  f"pass the data URL as {owner}(url=...)")
    if not text:
        raise InvalidRequestError(f"{owner} data is empty")
    try:
        head = base64.b64decode(text[:24], validate=True)
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError(
            f"{owner} data is not standard base64 text ({text[:20]!r}...); pass the raw bytes "
            f"instead (data=b'...' or {owner}.from_bytes(...)) and llmsync encodes them") from None
    return text, head


def check_url(url: Any, owner: str) -> None:
    """Accept a URL with a scheme (``https:``, ``data:``, ``gs:``, ...); refuse local paths.

    Raises:
        InvalidRequestError: ``url`` is not text, is empty, has no scheme, or names a
            local file (a ``file:`` URL, ``C:\\...``).
    """
    if url is None:
        return
    if isinstance(url, os.PathLike):
        raise InvalidRequestError(f"{owner} url must be a URL, got the path {os.fspath(url)!r}; "
                                  f"for a local file use {owner}.from_path({os.fspath(url)!r})")
    if not isinstance(url, str):
        raise InvalidRequestError(f"{owner} url must be a URL string, got {type(url).__name__}")
    match = _SCHEME.match(url)
    if match is None or len(match.group(1)) == 1 or match.group(1).lower() == "file":
        path = url[len("file://"):] if url.lower().startswith("file://") else url
        raise InvalidRequestError(
            f"{owner} url {url[:80]!r} is not a URL the provider can fetch; for a local file use "
            f"{owner}.from_path({path[:80]!r}), for bytes {owner}.from_bytes(...)")


def split_data_url(url: str) -> Optional[Tuple[str, str]]:
    """(media type, base64 data) of a base64 ``data:`` URL; None for any other URL."""
    head, comma, data = url.partition(",")
    if not comma or not head.startswith("data:") or not head.endswith(";base64"):
        return None
    return head[len("data:"):-len(";base64")] or "application/octet-stream", data


def read_file(path: Any, owner: str) -> Tuple[bytes, str]:
    """The bytes of a local file and its base name.

    Raises:
        InvalidRequestError: ``path`` is not a path, or the file cannot be read.
    """
    try:
        name = os.fspath(path)
    except TypeError:
        raise InvalidRequestError(f"{owner}.from_path takes a file path, got {type(path).__name__}") from None
    try:
        with open(name, "rb") as handle:
            return handle.read(), os.path.basename(name)
    except OSError as exc:
        raise InvalidRequestError(f"{owner}.from_path cannot read {name!r}: {exc.strerror or exc}") from exc


def guess_type(filename: Any) -> Optional[str]:
    """The media type a file name's extension suggests, or None."""
    if not isinstance(filename, (str, os.PathLike)):
        return None
    return mimetypes.guess_type(os.fspath(filename))[0]
