"""Attachments in the shapes users have: bytes, base64 text, files; bad values refused early."""
import base64
import json
import pathlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmsync
from llmsync import Document, Image, InvalidRequestError, LLMError, Message, Text

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
JPEG = b"\xff\xd8\xff\xe0" + bytes(40)
GIF = b"GIF89a" + bytes(40)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(40)
PDF = b"%PDF-1.7\n" + bytes(40)
B64 = {raw: base64.b64encode(raw).decode() for raw in (PNG, JPEG, PDF)}

MODELS = ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash",
          "openai-responses/gpt-5-mini", "groq/meta-llama/llama-4-scout-17b-16e-instruct"]
_CLIENT = []


def client():
    if not _CLIENT:  # one for the module: hypothesis runs many examples
        _CLIENT.append(llmsync.Client(api_keys={m.split("/")[0]: "sk-test" for m in MODELS}))
    return _CLIENT[0]


def body(model, parts):
    return client().explain(model, [Message.user([Text("Look:")] + parts)], max_tokens=50).body


class TestImageData:
    def test_bytes_are_encoded_at_construction_and_the_type_sniffed(self):
        image = Image(data=PNG)
        assert image.data == B64[PNG] and image.media_type == "image/png"

    def test_bytearray_and_memoryview_work_as_bytes(self):
        assert Image(data=bytearray(JPEG)).data == Image(data=memoryview(JPEG)).data == B64[JPEG]

    def test_a_given_media_type_is_kept(self):
        assert Image(data=PNG, media_type="image/x-custom").media_type == "image/x-custom"

    def test_base64_text_is_checked_and_its_type_sniffed(self):
        image = Image(data=B64[JPEG])
        assert image.data == B64[JPEG] and image.media_type == "image/jpeg"

    def test_base64_with_line_breaks_is_accepted_without_them(self):
        wrapped = base64.encodebytes(PNG * 4).decode()
        assert "\n" in wrapped
        assert Image(data=wrapped).data == base64.b64encode(PNG * 4).decode()

    @pytest.mark.parametrize("value, problem", [
        ("not base64!", "not standard base64"),
        ("aGk-_w==", "not standard base64"),
        ("", "empty"),
        (b"", "empty"),
        (f"data:image/png;base64,{B64[PNG]}", r"pass the data URL as Image\(url=...\)"),
        (pathlib.Path("/tmp/pic.png"), r"bytes or base64 text, got PosixPath; for a file use Image.from_path"),
        (12, "bytes or base64 text, got int"),
    ])
    def test_bad_data_is_refused_naming_the_fix(self, value, problem):
        with pytest.raises(InvalidRequestError, match=problem):
            Image(data=value)

    def test_a_message_with_byte_data_round_trips_through_json(self):
        message = Message.user([Image(data=PNG), Document(data=PDF)])
        assert Message.from_json(message.to_json()) == message


class TestImageUrl:
    @pytest.mark.parametrize("url", ["/tmp/pic.png", "pic.png", "file:///tmp/pic.png",
                                     "C:\\pics\\pic.png", "./pic.png"])
    def test_a_local_path_is_refused_naming_from_path(self, url):
        with pytest.raises(InvalidRequestError, match=r"Image.from_path\("):
            Image(url=url)

    def test_a_path_object_is_refused_naming_from_path(self):
        with pytest.raises(InvalidRequestError, match=r"Image.from_path\('/tmp/pic.png'\)"):
            Image(url=pathlib.Path("/tmp/pic.png"))

    @pytest.mark.parametrize("url", ["https://example.com/a.png", "http://example.com/a.png",
                                     "gs://bucket/a.png", f"data:image/png;base64,{B64[PNG]}"])
    def test_urls_with_a_scheme_are_kept(self, url):
        assert Image(url=url).url == url

    def test_url_and_data_together_are_refused(self):
        with pytest.raises(InvalidRequestError, match="not both"):
            Image(url="https://example.com/a.png", data=PNG)

    def test_neither_url_nor_data_is_refused(self):
        with pytest.raises(InvalidRequestError, match="needs url= or data="):
            Image()

    def test_a_wrong_media_type_type_is_refused(self):
        with pytest.raises(InvalidRequestError, match="media_type must be a str"):
            Image(data=PNG, media_type=b"image/png")


class TestFromBytesAndPath:
    @pytest.mark.parametrize("raw, media_type", [(PNG, "image/png"), (JPEG, "image/jpeg"),
                                                 (GIF, "image/gif"), (WEBP, "image/webp")])
    def test_image_from_bytes_sniffs_the_magic_bytes(self, raw, media_type):
        image = Image.from_bytes(raw)
        assert image.media_type == media_type and base64.b64decode(image.data) == raw

    def test_unknown_bytes_need_a_media_type(self):
        with pytest.raises(InvalidRequestError, match="pass media_type="):
            Image.from_bytes(b"BM\x00\x00 a bitmap")
        assert Image.from_bytes(b"BM\x00\x00", media_type="image/bmp").media_type == "image/bmp"

    def test_from_bytes_takes_bytes_only(self):
        with pytest.raises(InvalidRequestError, match="takes bytes, got str"):
            Image.from_bytes(B64[PNG])

    def test_image_from_path(self, tmp_path):
        path = tmp_path / "photo.bin"
        path.write_bytes(JPEG)
        image = Image.from_path(path)
        assert (image.media_type, image.data) == ("image/jpeg", B64[JPEG])
        assert Image.from_path(str(path)) == image

    def test_image_from_path_falls_back_on_the_extension(self, tmp_path):
        path = tmp_path / "vector.svg"
        path.write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
        assert Image.from_path(path).media_type == "image/svg+xml"

    def test_a_missing_file_names_the_path(self, tmp_path):
        with pytest.raises(InvalidRequestError, match=r"cannot read .*missing\.png"):
            Image.from_path(tmp_path / "missing.png")

    def test_document_from_path_keeps_the_file_name(self, tmp_path):
        path = tmp_path / "report.pdf"
        path.write_bytes(PDF)
        document = Document.from_path(path)
        assert (document.media_type, document.filename, document.data) == ("application/pdf", "report.pdf", B64[PDF])

    def test_document_from_path_of_text(self, tmp_path):
        path = tmp_path / "notes.txt"
        path.write_bytes(b"hello")
        assert Document.from_path(path).media_type == "text/plain"

    def test_document_from_bytes(self):
        assert Document.from_bytes(PDF).media_type == "application/pdf"
        assert Document.from_bytes(b"hello", media_type="text/plain").data == "aGVsbG8="
        with pytest.raises(InvalidRequestError, match="pass media_type="):
            Document.from_bytes(b"hello")

    def test_document_data_takes_bytes(self):
        assert Document(data=PDF).data == B64[PDF]


class TestBodies:
    """Every provider receives base64 text, never the repr of bytes."""

    @pytest.mark.parametrize("model", MODELS)
    def test_image_bytes_reach_the_wire_as_base64(self, model):
        sent = json.dumps(body(model, [Image.from_bytes(JPEG)]))
        assert B64[JPEG] in sent
        assert "b'" not in sent and "\\\\x" not in sent
        assert "image/jpeg" in sent

    @pytest.mark.parametrize("model", [m for m in MODELS if not m.startswith("groq/")])
    def test_pdf_bytes_reach_the_wire_as_base64(self, model):
        sent = json.dumps(body(model, [Document(data=PDF)]))
        assert B64[PDF] in sent and "application/pdf" in sent

    def test_openai_sends_the_document_filename(self):
        sent = body("openai/gpt-4o-mini", [Document.from_bytes(PDF, filename="q3.pdf")])
        part = sent["messages"][0]["content"][1]
        assert part["file"]["file_data"] == f"data:application/pdf;base64,{B64[PDF]}"


# -- fuzz: no part value escapes as anything but an LLMError ----------------------------------

URLS = st.one_of(st.none(), st.text(max_size=30), st.sampled_from([
    "https://example.com/a.png", "http://x", "data:image/png;base64,aGk=", "data:image/png,raw",
    "data:;base64,", "gs://b/o", "/tmp/a.png", "file:///a", "C:\\a.png", "mailto:x", "https://"]))
DATA = st.one_of(st.none(), st.binary(max_size=40), st.text(max_size=30), st.integers(),
                 st.sampled_from(["aGk=", "aGk", "====", B64[PNG], B64[PDF], "aGVsbG8=", "//79/g=="]),
                 st.builds(lambda b: base64.b64encode(b).decode(), st.binary(max_size=30)))
MEDIA = st.one_of(st.none(), st.text(max_size=20), st.integers(), st.sampled_from(
    ["image/png", "image/jpeg", "application/pdf", "text/plain", "audio/wav", "", "x"]))


def build(kind, url, data, media_type, text):
    if kind == "image":
        return Image(url=url, data=data, media_type=media_type)
    if kind == "document":
        options = {} if media_type is None else {"media_type": media_type}
        return Document(url=url, data=data, **options)
    if kind == "text":
        return Text(text)
    if kind == "dict":
        return {"type": text, "url": url, "data": data}
    return text


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["image", "document", "text", "dict", "raw"]), url=URLS, data=DATA,
       media_type=MEDIA, text=st.one_of(st.text(max_size=10), st.integers(), st.none(),
                                        st.sampled_from(["image", "document", "text", "image_url"])))
def test_no_part_value_raises_anything_but_an_llm_error(kind, url, data, media_type, text):
    try:
        part = build(kind, url, data, media_type, text)
        message = Message.user([part])
    except LLMError:
        return
    for model in MODELS:
        try:
            plan = client().explain(model, [message], max_tokens=20)
        except LLMError:
            continue
        json.dumps(plan.body)  # what would be sent must be JSON
