"""Content parts of a message: ``Text``, ``Image`` and ``Document``.

Attachments take bytes (base64-encoded for you) or base64 text, checked at construction
(``llmsync.media``); a local path given as a URL is refused, naming the fix.
"""
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from dataclasses_json import dataclass_json

from . import media
from .errors import InvalidRequestError

__all__ = ["Text", "Image", "Document", "Part", "encode_content", "decode_content"]


@dataclass_json
@dataclass
class Text:
    """A text part of a message."""

    text: str
    type: str = field(default="text", init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise InvalidRequestError(f"Text takes a str, got {type(self.text).__name__}")


@dataclass_json
@dataclass
class Image:
    """An image, by URL (``https:`` or ``data:``) or as ``data`` with its media type.

    ``data`` takes bytes (base64-encoded for you) or base64 text; ``media_type`` is
    sniffed from PNG, JPEG, GIF and WebP data when not given.

    Raises:
        InvalidRequestError: a local path as ``url``, a value of the wrong type, text
            that is not base64, both or neither of ``url`` and ``data``.
    """

    url: Optional[str] = None
    data: Optional[str] = None
    media_type: Optional[str] = None
    type: str = field(default="image", init=False, repr=False)

    def __post_init__(self) -> None:
        media.check_attachment(self, "Image", media.sniff_image_type)

    @classmethod
    def from_bytes(cls, data: bytes, media_type: Optional[str] = None) -> "Image":
        """An image from its bytes; the media type is sniffed unless given.

        Raises:
            InvalidRequestError: not bytes, or the type cannot be told from the bytes.
        """
        encoded, kind = media.typed_base64(data, media_type, None, media.sniff_image_type, "Image.from_bytes")
        return cls(data=encoded, media_type=kind)

    @classmethod
    def from_path(cls, path: Any, media_type: Optional[str] = None) -> "Image":
        """An image read from a local file; the media type from its bytes or its name.

        Raises:
            InvalidRequestError: the file cannot be read or its type cannot be told.
        """
        data, name = media.read_file(path, "Image")
        encoded, kind = media.typed_base64(data, media_type, name, media.sniff_image_type, "Image.from_path")
        return cls(data=encoded, media_type=kind)


@dataclass_json
@dataclass
class Document:
    """A document such as a PDF, as ``data`` (bytes or base64 text) or a ``url``.

    ``filename`` is sent where a provider takes one (OpenAI ``file`` parts).

    Raises:
        InvalidRequestError: as for ``Image``.
    """

    data: Optional[str] = None
    media_type: str = "application/pdf"
    url: Optional[str] = None
    filename: Optional[str] = None
    type: str = field(default="document", init=False, repr=False)

    def __post_init__(self) -> None:
        media.check_attachment(self, "Document", media.sniff_document_type)
        if self.filename is not None and not isinstance(self.filename, str):
            raise InvalidRequestError(f"Document filename must be a str, got {type(self.filename).__name__}")

    @classmethod
    def from_bytes(cls, data: bytes, media_type: Optional[str] = None,
                   filename: Optional[str] = None) -> "Document":
        """A document from its bytes; ``media_type`` is needed unless they are a PDF.

        Raises:
            InvalidRequestError: not bytes, or no media type given for bytes not a PDF.
        """
        encoded, kind = media.typed_base64(data, media_type, filename, media.sniff_document_type,
                                           "Document.from_bytes")
        return cls(data=encoded, media_type=kind, filename=filename)

    @classmethod
    def from_path(cls, path: Any, media_type: Optional[str] = None) -> "Document":
        """A document read from a local file; the media type from its bytes or its name.

        Raises:
            InvalidRequestError: the file cannot be read or its type cannot be told.
        """
        data, name = media.read_file(path, "Document")
        encoded, kind = media.typed_base64(data, media_type, name, media.sniff_document_type, "Document.from_path")
        return cls(data=encoded, media_type=kind, filename=name)


Part = Union[Text, Image, Document]


def encode_content(content: Any) -> Any:
    """``Message.content`` as JSON: a string, or a list of part dicts."""
    if content is None or isinstance(content, str):
        return content
    return [part if isinstance(part, dict) else part.to_dict() for part in content]


def decode_content(content: Any) -> Any:
    """``Message.content`` from JSON (llmsync's own part dicts or OpenAI's)."""
    from .openai_format import content_from_dict

    return content_from_dict(content, "content")
