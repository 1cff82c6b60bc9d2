"""Scale a batch out to a Dask cluster (the optional ``dask`` extra: ``dask[distributed]``).

The ``Client`` is shipped to the workers pickled: its configuration travels, its
connections and threads are rebuilt on each worker, and its explicit keys travel only
with ``ship_keys=True`` (by default each worker finds its own key in its environment
or auth file). Every task runs a chunk of items on the client's thread pool and returns
output lines in the format of ``llmsync batch`` (see ``llmsync.jsonl``).

Rate limits hold for the whole cluster: ``ClusterLimiter`` keeps one schedule per limit
in the Dask scheduler (a small extension installed with ``run_on_scheduler``, as Dask's
own ``Semaphore`` lives there), so it outlives any worker, and every request of every
worker reserves its send time there: one round trip, about a millisecond. A 429 that
names a wait pauses the schedule, so every worker on every node waits. (The scheduler
must be able to import llmsync, as the workers must.)

With ``output=`` the driver appends each line as its task completes and resumes like
``llmsync batch``; it reads the input lazily and keeps a bounded window of tasks in
flight. Import this module explicitly; ``import llmsync`` never imports Dask.
"""
import functools
import itertools
import pickle
import threading
import uuid
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union, cast

from .batch import summarize
from .errors import AuthenticationError, NetworkError
from .jsonl import ItemId, OutputFile, Tally, new_items, parse_item, parse_line, result_line
from .dask_limits import ClusterLimiter, check_limits
from .options import Request

__all__ = ["ClusterLimiter", "run_batch_on_dask", "run_file_on_dask"]

LOW_LEVEL_LOG_LENGTH = 50  # for the clusters and connections run_batch_on_dask makes
Work = Tuple[Any, ItemId, Request]  # (position or None, id, request)


def run_batch_on_dask(client: Any, items: Iterable[Any], cluster_or_client: Any = None, *,
                      model: Optional[str] = None, chunk_size: int = 16, max_workers: int = 4,
                      requests_per_minute: Optional[float] = None, tokens_per_minute: Optional[float] = None,
                      output: Optional[str] = None, retry_errors: bool = False, ship_keys: bool = False,
                      max_in_flight: Optional[int] = None,
                      on_result: Optional[Callable[[Dict[str, Any], Tally], None]] = None,
                      on_skip: Optional[Callable[[str], None]] = None,
                      tally: Optional[Tally] = None) -> Union[List[Dict[str, Any]], Tally]:
    """Run ``items`` on Dask workers under limits that hold for the whole cluster.

    Args:
        client: the ``llmsync.Client`` to use on the workers (pickled).
        items: dicts like the lines of a batch input file (``id``, ``prompt`` or
            ``messages``, ``model``, options), ``Request`` objects, or JSONL lines
            (``bytes`` or ``str``, as read from a file); read lazily.
        cluster_or_client: a ``distributed.Client``, a cluster (e.g. ``LocalCluster``), a
            scheduler address, or None for a new local cluster (closed afterwards).
        model: the model for items that name none.
        chunk_size: items per Dask task.
        max_workers: threads per task (``client.batch``'s ``max_workers``).
        requests_per_minute: the request limit of the whole cluster.
        tokens_per_minute: the token limit of the whole cluster.
        output: a JSONL file to append each line to as its task completes; a rerun
            skips the ids already there (as ``llmsync batch`` does).
        retry_errors: with ``output``, run again the items whose line is an error.
        ship_keys: send the client's explicit ``api_keys`` to the workers; by default
            each worker resolves keys from its own environment or auth file.
        max_in_flight: tasks submitted at once (default: twice the cluster's threads).
        on_result: with ``output``, called with each written line and the totals.
        on_skip: with ``output``, called with a warning about a duplicate id.
        tally: with ``output``, the totals to update (readable after an error).

    Returns:
        Without ``output``: the lines (``{"id", "response"}`` or ``{"id", "error"}``) in
        input order. With ``output``: the ``Tally`` of this run.

    Raises:
        InvalidRequestError: a limit that is not positive.
        NetworkError: the scheduler cannot be reached.
        AuthenticationError: with ``output``, a worker has no key or it is refused.
    """
    with _Session(client, cluster_or_client, requests_per_minute, tokens_per_minute, ship_keys) as session:
        run = functools.partial(session.run, chunk_size=chunk_size, max_workers=max_workers,
                                max_in_flight=max_in_flight)
        if output is None:
            return _run_to_list(run, items, model)
        return _run_to_file(run, session, items, output, model, retry_errors, on_result, on_skip, tally)


def run_file_on_dask(client: Any, in_path: str, out_path: str, cluster_or_client: Any = None,
                     **options: Any) -> Tally:
    """``llmsync batch IN OUT --dask``: the lines of ``in_path`` not yet in ``out_path``, run
    on Dask, each result appended as its task completes; a line that is not JSON gets an
    error line, as with the local batch. Options are those of ``run_batch_on_dask``."""
    with open(in_path, "rb") as source:
        return cast(Tally, run_batch_on_dask(client, source, cluster_or_client, output=out_path, **options))


def _parse_any(item: Any, position: int, model: Optional[str]) -> Tuple[ItemId, Any]:
    if isinstance(item, Request):
        return position, item
    if isinstance(item, (bytes, str)):
        return parse_line(item, position, model)
    return parse_item(item, position, model)


def _run_to_list(run: Callable[..., None], items: Iterable[Any], model: Optional[str]) -> List[Dict[str, Any]]:
    lines: Dict[int, Dict[str, Any]] = {}

    def work() -> Iterator[Work]:
        for position, item in enumerate(items):
            item_id, parsed = _parse_any(item, position + 1, model)
            if isinstance(parsed, Request):
                yield position, item_id, parsed
            else:
                lines[position] = result_line(item_id, error=parsed)

    def record(position: Any, line: Dict[str, Any], totals: Dict[str, Any]) -> None:
        lines[position] = line

    run(work(), record)
    return [lines[position] for position in sorted(lines)]


def _run_to_file(run: Callable[..., None], session: "_Session", items: Iterable[Any], out_path: str,
                 model: Optional[str], retry_errors: bool,
                 on_result: Optional[Callable[[Dict[str, Any], Tally], None]],
                 on_skip: Optional[Callable[[str], None]], tally: Optional[Tally]) -> Tally:
    tally = tally if tally is not None else Tally()
    with OutputFile(out_path, keep_errors=not retry_errors) as out:

        def record(_: Any, line: Dict[str, Any], totals: Dict[str, Any]) -> None:
            if line.get("error", {}).get("type") == AuthenticationError.__name__:
                raise AuthenticationError(session.key_advice(line["error"]["message"]))
            out.write(line)
            tally.done += totals["done"]
            tally.failed += totals["failed"]
            tally.tokens += totals["tokens"]
            if totals["done"]:
                tally.cost = None if tally.cost is None or totals["cost"] is None else tally.cost + totals["cost"]
            if on_result is not None:
                on_result(line, tally)

        def work() -> Iterator[Work]:
            for item_id, parsed in new_items(items, out.done, model, tally, on_skip, parse=_parse_any):
                if isinstance(parsed, Request):
                    yield None, item_id, parsed
                else:
                    record(None, result_line(item_id, error=parsed), {"done": 0, "failed": 1, "tokens": 0})

        run(work(), record)
    return tally


class _Session:
    """A connection to the cluster for one run: the shipped client and the limiter."""

    def __init__(self, client: Any, cluster_or_client: Any, requests_per_minute: Optional[float],
                 tokens_per_minute: Optional[float], ship_keys: bool) -> None:
        check_limits(requests_per_minute, tokens_per_minute)
        self.client = client
        self.limits = (requests_per_minute, tokens_per_minute)
        self.ship_keys = ship_keys
        self.target = cluster_or_client

    def __enter__(self) -> "_Session":
        import distributed

        self.dask_client, self.owned = _connect(distributed, self.target)
        self.limiter: Optional[ClusterLimiter] = None
        try:
            if any(self.limits):
                self.limiter = ClusterLimiter(self.dask_client, *self.limits)
            self.shipped = _Shipped(self.client if self.ship_keys else _without_keys(self.client))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        try:
            if self.limiter is not None:
                self.limiter.close()
        finally:
            if self.owned:
                self.dask_client.close()

    def key_advice(self, message: str) -> str:
        if self.ship_keys or not getattr(self.client._auth, "explicit_providers", None):
            return message
        return (f"{message} (on a Dask worker: the client's api_keys are not shipped unless "
                "ship_keys=True; set the key in each worker's environment or auth file)")

    def run(self, work: Iterator[Work], record: Callable[[Any, Dict[str, Any], Dict[str, Any]], None],
            chunk_size: int, max_workers: int, max_in_flight: Optional[int]) -> None:
        """Submit chunks of ``work`` in a bounded window; ``record`` each line as it lands."""
        import distributed

        chunks = _chunks(work, max(chunk_size, 1))
        window = max_in_flight or max(2, 2 * sum(self.dask_client.nthreads().values()))
        options = {"max_workers": max_workers, "limiter": self.limiter}
        running = distributed.as_completed()

        def submit(chunk: List[Work]) -> None:
            # One opaque blob per task: the scheduler keeps recent messages to workers
            # (``distributed.admin.low-level-log-length``), and bytes are the least of it.
            payload = pickle.dumps((self.shipped, chunk, options), protocol=pickle.HIGHEST_PROTOCOL)
            running.add(self.dask_client.submit(_run_chunk, payload, pure=False))

        for chunk in itertools.islice(chunks, window):
            submit(chunk)
        for future in running:
            results = future.result()
            future.release()
            for position, line, totals in results:
                record(position, line, totals)
            for chunk in itertools.islice(chunks, 1):
                submit(chunk)


class _Shipped:
    """The client as each task carries it; a worker process unpickles it once per run and
    shares it between tasks, so connections and threads are reused. (Not ``scatter``:
    scattered data dies with a worker, while task arguments survive to the rerun.)"""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.token = uuid.uuid4().hex
        self.blob = pickle.dumps(client)

    def __reduce__(self) -> Tuple[Any, Tuple[str, bytes]]:
        return _unship, (self.token, self.blob)


_CLIENTS: "OrderedDict[str, Any]" = OrderedDict()
_CLIENTS_LOCK = threading.Lock()


def _unship(token: str, blob: bytes) -> Any:
    with _CLIENTS_LOCK:
        if token not in _CLIENTS:
            _CLIENTS[token] = pickle.loads(blob)
            while len(_CLIENTS) > 4:  # clients of runs long finished
                _CLIENTS.popitem(last=False)
        return _CLIENTS[token]


def _chunks(work: Iterator[Work], size: int) -> Iterator[List[Work]]:
    while True:
        chunk = list(itertools.islice(work, size))
        if not chunk:
            return
        yield chunk


def _without_keys(client: Any) -> Any:
    """A copy of ``client`` with its explicit ``api_keys`` left out (the rest of its settings kept)."""
    state = client.__getstate__()
    state["api_keys"] = {}
    cls: Any = type(client)
    clone = cls.__new__(cls)
    clone.__setstate__(state)
    return clone


def _connect(distributed: Any, target: Any) -> Tuple[Any, bool]:
    """A ``distributed.Client`` for ``target``, and whether this function owns it."""
    import dask

    if isinstance(target, distributed.Client):
        return target, False
    # Dask keeps the last 1000 messages of each connection for debugging, task arguments
    # included: for a long batch that is 1000 chunks of items held in the driver.
    quiet = dask.config.set({"distributed.admin.low-level-log-length": LOW_LEVEL_LOG_LENGTH})
    try:  # waits up to the ``distributed.comm.timeouts.connect`` setting (30 s by default)
        with quiet:
            return distributed.Client(target, processes=True) if target is None else distributed.Client(target), True
    except (OSError, ValueError) as error:
        where = target if isinstance(target, str) else type(target).__name__
        raise NetworkError(f"cannot reach the Dask scheduler at {where}: {error}") from None


def _run_chunk(payload: bytes) -> List[Tuple[Any, Dict[str, Any], Dict[str, Any]]]:
    """On a worker: run one chunk on the client's thread pool; ``(position, line, totals)``s."""
    client, chunk, options = pickle.loads(payload)
    options = dict(options)
    if options.get("limiter") is None:
        options.pop("limiter", None)
    else:
        options["limiter"].bind()
    lines = []
    for result in client.batch([request for _, _, request in chunk], **options):
        position, item_id, _ = chunk[result.index]
        lines.append((position, result_line(item_id, result.response, result.error), summarize([result])))
    return lines
