"""Resumable JSONL batch files: the input and output line formats, and the run that joins them.

An input line is a JSON object with ``id`` (a string or number; the line number when
absent) and either ``prompt`` (a string) or ``messages`` (a list of ``Message`` dicts),
plus an optional ``model`` and any ``Request`` options. An output line is
``{"id": ..., "response": {...}}`` or ``{"id": ..., "error": {"type": ..., "message": ...}}``.

Each result is appended as one ``write`` and fsynced before the next, by one thread, so
after a crash (``kill -9`` included) the output holds whole lines plus at most one torn
last line. A rerun truncates the torn line, skips every id already written, and appends
the rest: nothing is lost and no id is written twice.
"""
import contextlib
import errno
import json
import os
from dataclasses import dataclass
from typing import (IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Set, Tuple,
                    Union)

from .batch import BatchResult, as_request, summarize
from .errors import AuthenticationError, InvalidRequestError
from .options import CacheOptions, ParallelToolConfig, Request
from .types import Response

try:  # advisory lock against two runs appending to one file; POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "parse_item", "parse_line", "result_line", "error_dict", "id_key", "scan_output",
    "OutputFile", "Tally", "count_items", "new_items", "run_file_batch",
]

ItemId = Union[str, int]

_OPTION_TYPES = {"cache": CacheOptions, "parallel_tool_config": ParallelToolConfig}


def id_key(item_id: Any) -> str:
    """The key an id is compared by: its JSON text, so ``"7"`` and ``7`` stay distinct."""
    return json.dumps(item_id, sort_keys=True)


def error_dict(error: BaseException) -> Dict[str, str]:
    """The ``{"type", "message"}`` form of an error in an output line."""
    return {"type": type(error).__name__, "message": str(error)}


def result_line(item_id: ItemId, response: Optional[Response] = None,
                error: Optional[BaseException] = None) -> Dict[str, Any]:
    """One output line: the id and either the response dict or the error."""
    if error is not None:
        return {"id": item_id, "error": error_dict(error)}
    assert response is not None, "a result needs a response or an error"
    return {"id": item_id, "response": response.to_dict(encode_json=True)}  # type: ignore[attr-defined]


def parse_item(item: Any, position: int, model: Optional[str] = None
               ) -> Tuple[ItemId, Union[Request, InvalidRequestError]]:
    """An input item (a dict) as ``(id, Request)``, or ``(id, error)`` when it is malformed.

    Args:
        item: the decoded input line.
        position: the 1-based line number, which is the id when the item has none.
        model: the model for items that do not name one.
    """
    if not isinstance(item, dict):
        return position, InvalidRequestError(f"line {position}: expected a JSON object, got {item!r:.80}")
    fields = dict(item)
    item_id = fields.pop("id", position)
    if isinstance(item_id, bool) or not isinstance(item_id, (str, int)):
        return position, InvalidRequestError(f"line {position}: id must be a string or number, got {item_id!r:.80}")
    try:
        return item_id, _request(fields, position, model)
    except InvalidRequestError as error:
        return item_id, error


def _request(fields: Dict[str, Any], position: int, model: Optional[str]) -> Request:
    if ("prompt" in fields) == ("messages" in fields):
        raise InvalidRequestError(f"line {position}: give exactly one of 'prompt' or 'messages'")
    if "prompt" in fields and not isinstance(fields["prompt"], str):
        raise InvalidRequestError(f"line {position}: 'prompt' must be a string")
    if "messages" in fields and not isinstance(fields["messages"], list):
        raise InvalidRequestError(f"line {position}: 'messages' must be a list of message objects")
    if fields.get("model") is None and model:
        fields["model"] = model
    fields.pop("stream", None)
    for name, option_type in _OPTION_TYPES.items():
        if isinstance(fields.get(name), dict):
            fields[name] = _build(option_type, fields[name], name, position)
    try:
        return as_request(fields)
    except InvalidRequestError as error:
        raise InvalidRequestError(f"line {position}: {error.message}") from None
    except (TypeError, KeyError, ValueError, AttributeError) as error:
        # dataclasses-json reports a malformed message dict with these.
        raise InvalidRequestError(f"line {position}: malformed request: {type(error).__name__}: {error}") from None


def _build(option_type: Any, values: Dict[str, Any], name: str, position: int) -> Any:
    try:
        return option_type(**values)
    except TypeError as error:
        raise InvalidRequestError(f"line {position}: bad {name!r}: {error}") from None


def parse_line(text: Union[str, bytes], position: int, model: Optional[str] = None
               ) -> Tuple[ItemId, Union[Request, InvalidRequestError]]:
    """An input line as ``(id, Request)``, or ``(id, error)`` when it is not usable."""
    try:
        item = json.loads(text)
    except ValueError as error:
        return position, InvalidRequestError(f"line {position}: invalid JSON: {error}")
    return parse_item(item, position, model)


def scan_output(path: str, keep_errors: bool = True) -> Set[str]:
    """Prepare ``path`` for appending and return the ``id_key``s already done in it.

    A torn last line (no trailing newline, or not valid JSON) is truncated away. With
    ``keep_errors=False`` error lines are removed (the file is rewritten atomically) so
    their items run again.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return set()
    lines = data.splitlines(keepends=True)
    if lines and not _is_record(lines[-1]):
        torn = lines.pop()
        with open(path, "r+b") as handle:
            handle.truncate(len(data) - len(torn))
            os.fsync(handle.fileno())
    records = [(line, json.loads(line)) for line in lines if _is_record(line)]
    if not keep_errors and any("error" in record for _, record in records):
        records = [(line, record) for line, record in records if "error" not in record]
        _rewrite(path, [line for line, _ in records])
    return {id_key(record["id"]) for _, record in records}


def _is_record(line: bytes) -> bool:
    if not line.endswith(b"\n"):
        return False
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "id" in record


def _rewrite(path: str, lines: List[bytes]) -> None:
    temporary = path + ".tmp"
    with open(temporary, "wb") as handle:
        handle.writelines(lines)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class OutputFile:
    """An output JSONL file opened for appending: one line per ``write``, fsynced.

    Opening it takes an exclusive advisory lock (POSIX), so a second run on the same
    file fails at once instead of interleaving lines, then prepares the file with
    ``scan_output``; ``done`` holds the id keys already written.
    """

    def __init__(self, path: str, keep_errors: bool = True) -> None:
        self.path = path
        self._handle = self._open_locked()
        self.done = scan_output(path, keep_errors)
        if os.fstat(self._handle.fileno()).st_ino != os.stat(path).st_ino:  # rewritten
            self._handle.close()
            self._handle = self._open_locked()

    def _open_locked(self) -> IO[bytes]:
        handle: IO[bytes] = open(self.path, "ab", buffering=0)
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise OSError(errno.EAGAIN, "being written by another llmsync batch run", self.path) from None
        return handle

    def write(self, record: Dict[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            written = self._handle.write(view)
            view = view[written or 0:]
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "OutputFile":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


@dataclass
class Tally:
    """Running totals of a batch run."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    tokens: int = 0
    cost: Optional[float] = 0.0

    def add(self, result: BatchResult) -> None:
        totals = summarize([result])
        self.done += totals["done"]
        self.failed += totals["failed"]
        self.tokens += totals["tokens"]
        if result.ok:
            self.cost = None if self.cost is None or totals["cost"] is None else self.cost + totals["cost"]


def count_items(path: str) -> int:
    """The number of non-blank lines of ``path``."""
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def run_file_batch(client: Any, in_path: str, out_path: str, model: Optional[str] = None,
                   max_workers: int = 8, requests_per_minute: Optional[float] = None,
                   tokens_per_minute: Optional[float] = None, retry_errors: bool = False,
                   on_result: Optional[Callable[[Dict[str, Any], Tally], None]] = None,
                   on_skip: Optional[Callable[[str], None]] = None,
                   tally: Optional[Tally] = None) -> Tally:
    """Run the items of ``in_path`` not yet in ``out_path``, appending each result.

    Args:
        client: the ``Client``.
        model: the model for lines that do not name one.
        retry_errors: run again the items whose earlier result was an error.
        on_result: called with each written line and the totals so far.
        on_skip: called with a warning about a line that is skipped (a duplicate id).
        tally: the totals to update (default: a new ``Tally``), readable after an error.

    Returns:
        The totals of this run (``skipped`` counts items already done).

    Raises:
        OSError: a file cannot be read or written.
        AuthenticationError: a key is missing or refused; the run stops rather than
            record the same error for every item.
    """
    tally = tally if tally is not None else Tally()
    ids: Dict[int, ItemId] = {}
    with open(in_path, "rb") as source, OutputFile(out_path, keep_errors=not retry_errors) as out:
        done = out.done

        def record(line: Dict[str, Any]) -> None:
            out.write(line)
            if on_result is not None:
                on_result(line, tally)

        def requests() -> Iterator[Request]:
            # client.batch numbers the requests it is given, from 0; map those back to ids.
            index = 0
            for item_id, parsed in new_items(source, done, model, tally, on_skip):
                if isinstance(parsed, Request):
                    ids[index] = item_id
                    index += 1
                    yield parsed
                else:
                    tally.failed += 1
                    record(result_line(item_id, error=parsed))

        results = client.batch(requests(), max_workers=max_workers, requests_per_minute=requests_per_minute,
                               tokens_per_minute=tokens_per_minute)
        with contextlib.closing(results):  # on an early exit, stop the pool now
            for result in results:
                if isinstance(result.error, AuthenticationError):
                    raise result.error
                tally.add(result)
                record(result_line(ids.pop(result.index), result.response, result.error))
    return tally


def new_items(lines: Iterable[Any], done: Set[str], model: Optional[str], tally: Tally,
              on_skip: Optional[Callable[[str], None]], parse: Callable[..., Any] = parse_line
              ) -> Iterator[Tuple[ItemId, Union[Request, InvalidRequestError]]]:
    """The ``(id, Request or error)`` of each input not yet done, skipping duplicate ids.

    ``lines`` are input lines (blank ones skipped) read by ``parse(line, position, model)``
    (``parse_line``; ``parse_item`` for decoded items); ``done`` holds ``id_key``s.
    """
    seen: Set[str] = set()
    for position, line in enumerate(lines, 1):
        if isinstance(line, (bytes, str)) and not line.strip():
            continue
        item_id, parsed = parse(line, position, model)
        key = id_key(item_id)
        if key in done:
            tally.skipped += 1
            continue
        if key in seen:
            tally.skipped += 1
            if on_skip is not None:
                on_skip(f"line {position}: duplicate id {item_id!r} skipped")
            continue
        seen.add(key)
        yield item_id, parsed
