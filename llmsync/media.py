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
from typing import Any, Callable, Optional, Tuple

from .errors import InvalidRequestError

__all__ = ["sniff_image_type", "sniff_document_type", "encode_data", "check_url", "check_attachment",
           "typed_base64", "read_file", "guess_type", "split_data_url"]

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


def check_attachment(part: Any, owner: str, sniff: Callable[[bytes], Optional[str]]) -> None:
    """Check an ``Image``'s or ``Document``'s fields at construction; bytes become base64 text.

    Raises:
        InvalidRequestError: a bad url, data or media type, or both/neither of url and data.
    """
    check_url(part.url, owner)
    if part.media_type is not None and not isinstance(part.media_type, str):
        raise InvalidRequestError(f"{owner} media_type must be a str such as 'image/png', "
                                  f"got {type(part.media_type).__name__}")
    part.data, head = encode_data(part.data, owner)
    if part.url is not None and part.data is not None:
        raise InvalidRequestError(f"give an {owner} url or data, not both")
    if part.url is None and part.data is None:
        raise InvalidRequestError(f"an {owner} needs url= or data= (bytes or base64 text); "
                                  f"for a file use {owner}.from_path(path)")
    if part.media_type is None and head:
        part.media_type = sniff(head)


def typed_base64(data: Any, media_type: Optional[str], filename: Optional[str],
                 sniff: Callable[[bytes], Optional[str]], owner: str) -> Tuple[str, str]:
    """(base64 text, media type) of bytes: the type given, else sniffed, else the file name's.

    Raises:
        InvalidRequestError: not bytes, or no way to tell the type.
    """
    if not isinstance(data, _BYTES):
        raise InvalidRequestError(f"{owner} takes bytes, got {type(data).__name__}")
    media_type = media_type or sniff(bytes(data[:16])) or guess_type(filename)
    if media_type is None:
        what = repr(filename) if filename else "these bytes"
        raise InvalidRequestError(f"{owner} cannot tell the type of {what} (PNG, JPEG, GIF, WebP "
                                  "and PDF are recognised); pass media_type=")
    return base64.b64encode(bytes(data)).decode("ascii"), media_type


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
