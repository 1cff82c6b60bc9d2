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
import time
import uuid
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union, cast

from .batch import summarize
from .errors import AuthenticationError, InvalidRequestError, NetworkError
from .jsonl import ItemId, OutputFile, Tally, new_items, parse_item, parse_line, result_line
from .options import Request

__all__ = ["ClusterLimiter", "run_batch_on_dask", "run_file_on_dask"]

MAX_BURST_SECONDS = 2.0  # DESIGN.md: a burst is at most 2 seconds' worth of the rate
# A request that waited this long for its turn asks the scheduler again whether a pause
# began meanwhile, so a 429 elsewhere stops it even when this process sent nothing since.
_RECHECK_AFTER = 0.05
_EXTENSION = "llmsync-limits"
LOW_LEVEL_LOG_LENGTH = 50  # for the clusters and connections run_batch_on_dask makes

Work = Tuple[Any, ItemId, Request]  # (position or None, id, request)


# -- the schedule, kept in the Dask scheduler ----------------------------------------------


class _Bucket:
    """A token bucket kept as the time it is full again, so it can grant future turns."""

    def __init__(self, per_minute: float, burst_seconds: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.full_at = now

    def earliest(self, amount: float) -> float:
        """The first moment ``amount`` is there, after every turn already granted."""
        return self.full_at - (self.capacity - amount) / self.rate

    def take(self, amount: float, at: float) -> None:
        self.full_at = max(self.full_at, at) + amount / self.rate

    def empty_at(self, moment: float) -> None:
        """Start again from empty at ``moment``: no burst right after a pause."""
        self.full_at = max(self.full_at, moment + self.capacity / self.rate)


class _Limits:
    """One limiter's buckets and pause; every method returns at once (no sleeping here)."""

    def __init__(self, requests_per_minute: Optional[float], tokens_per_minute: Optional[float],
                 burst_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        now = clock()
        self.requests = _Bucket(requests_per_minute, burst_seconds, now) if requests_per_minute else None
        self.tokens = _Bucket(tokens_per_minute, burst_seconds, now) if tokens_per_minute else None
        self.paused_until = now
        self.clock = clock

    def reserve(self, tokens: float, settled: float = 0.0) -> Tuple[float, float]:
        """Book the next turn for one request of ``tokens``; ``(delay, pause left)`` in seconds.

        ``settled`` is tokens used beyond estimates since the last call (negative: fewer).
        """
        now = self.clock()
        if self.tokens is not None:
            self.tokens.full_at += settled / self.tokens.rate
        at = max(now, self.paused_until)
        if self.requests is not None:
            at = max(at, self.requests.earliest(1.0))
        if self.tokens is not None:
            # A request larger than the bucket waits for a full bucket and leaves a debt.
            at = max(at, self.tokens.earliest(min(float(tokens), self.tokens.capacity)))
            self.tokens.take(float(tokens), at)
        if self.requests is not None:
            self.requests.take(1.0, at)
        return at - now, max(0.0, self.paused_until - now)

    def pause(self, seconds: float) -> float:
        now = self.clock()
        self.paused_until = max(self.paused_until, now + seconds)
        for bucket in (self.requests, self.tokens):
            if bucket is not None:
                bucket.empty_at(self.paused_until)
        return self.paused_until - now

    def pause_left(self) -> float:
        return max(0.0, self.paused_until - self.clock())


class _LimitService:
    """The scheduler extension: named ``_Limits``, reached through scheduler handlers."""

    def __init__(self) -> None:
        self.limits: Dict[str, _Limits] = {}
        self.lock = threading.Lock()

    def open(self, name: str, requests_per_minute: Optional[float], tokens_per_minute: Optional[float],
             burst_seconds: float) -> None:
        with self.lock:
            self.limits[name] = _Limits(requests_per_minute, tokens_per_minute, burst_seconds)

    def close(self, name: str) -> None:
        with self.lock:
            self.limits.pop(name, None)

    def reserve(self, name: str, tokens: float, settled: float) -> Tuple[float, float]:
        with self.lock:
            return self.limits[name].reserve(tokens, settled)

    def pause(self, name: str, seconds: float) -> float:
        with self.lock:
            return self.limits[name].pause(seconds)

    def pause_left(self, name: str) -> float:
        with self.lock:
            return self.limits[name].pause_left()


def _install_service(dask_scheduler: Any = None) -> None:
    """Run on the scheduler (``Client.run_on_scheduler``): add the handlers, once."""
    if _EXTENSION in dask_scheduler.extensions:
        return
    service = _LimitService()
    dask_scheduler.extensions[_EXTENSION] = service
    dask_scheduler.handlers.update({
        "llmsync_limits_open": service.open, "llmsync_limits_close": service.close,
        "llmsync_limits_reserve": service.reserve, "llmsync_limits_pause": service.pause,
        "llmsync_limits_pause_left": service.pause_left,
    })


# -- the limiter, as workers hold it ---------------------------------------------------------


class _Gate:
    """What the threads of one process share for one limiter: the Dask client, the last
    pause heard of, and token use not yet reported (sent with the next reservation)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dask_client: Any = None
        self.paused_until = 0.0
        self.unsettled = 0.0
        self.lock = threading.Lock()

    def connect(self) -> Any:
        if self.dask_client is None:
            import distributed

            self.dask_client = distributed.get_client()
        return self.dask_client

    def call(self, handler: str, **arguments: Any) -> Any:
        rpc = getattr(self.connect().scheduler, handler)
        return self.dask_client.sync(rpc, name=self.name, **arguments)

    def heard_pause(self, seconds: float) -> None:
        with self.lock:
            self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    def pause_left(self) -> float:
        return self.paused_until - time.monotonic()


def _check_limits(requests_per_minute: Optional[float], tokens_per_minute: Optional[float]) -> None:
    for label, limit in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
        if limit is not None and (isinstance(limit, bool) or not limit > 0):
            raise InvalidRequestError(f"{label} must be positive, got {limit!r}")


_GATES: Dict[str, _Gate] = {}
_GATES_LOCK = threading.Lock()


def _gate(name: str) -> _Gate:
    with _GATES_LOCK:
        return _GATES.setdefault(name, _Gate(name))


class ClusterLimiter:
    """Requests- and tokens-per-minute limits for every worker of a Dask cluster.

    Pass it as ``client.batch(..., limiter=...)`` in Dask tasks (``run_batch_on_dask``
    does). Each ``acquire`` books the request's turn in the scheduler and sleeps until
    it; the bucket's burst is ``burst_seconds`` of the rate (at most 2 s; default 1 s),
    so in any window of T seconds the cluster sends at most ``burst + rate * T``.
    ``pause(seconds)`` (a 429 with Retry-After) holds every worker. Pickles by name:
    the copies in a worker process share one view of the limiter.

    Args:
        dask_client: a ``distributed.Client`` of the cluster.
        requests_per_minute: the request limit, or None.
        tokens_per_minute: the token limit (estimated before, settled after), or None.
        burst_seconds: the bucket's size, in seconds of the rate.

    Raises:
        InvalidRequestError: a limit that is not positive, or a bad ``burst_seconds``.
    """

    def __init__(self, dask_client: Any, requests_per_minute: Optional[float] = None,
                 tokens_per_minute: Optional[float] = None, burst_seconds: float = 1.0) -> None:
        _check_limits(requests_per_minute, tokens_per_minute)
        if not 0 < burst_seconds <= MAX_BURST_SECONDS:
            raise InvalidRequestError(f"burst_seconds must be in (0, {MAX_BURST_SECONDS}], got {burst_seconds!r}")
        self.name = f"llmsync-limits-{uuid.uuid4().hex}"
        dask_client.run_on_scheduler(_install_service)
        self._gate = _gate(self.name)
        self._gate.dask_client = dask_client
        self._gate.call("llmsync_limits_open", requests_per_minute=requests_per_minute,
                        tokens_per_minute=tokens_per_minute, burst_seconds=burst_seconds)

    def __getstate__(self) -> Dict[str, Any]:
        return {"name": self.name}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.name = state["name"]
        self._gate = _gate(self.name)

    def __repr__(self) -> str:
        return f"ClusterLimiter({self.name!r})"

    def bind(self) -> None:
        """Find the Dask client now (call in a task's own thread; later threads reuse it)."""
        self._gate.connect()

    def acquire(self, tokens: int = 0) -> None:
        """Block until this request's turn, and any pause, have come."""
        gate = self._gate
        while True:
            paused = gate.pause_left()
            if paused > 0:
                time.sleep(paused)
            with gate.lock:
                settled, gate.unsettled = gate.unsettled, 0.0
            delay, pause = gate.call("llmsync_limits_reserve", tokens=tokens, settled=settled)
            gate.heard_pause(pause)
            if delay <= 0:
                return
            time.sleep(delay)
            if delay >= _RECHECK_AFTER:
                gate.heard_pause(gate.call("llmsync_limits_pause_left"))
            if gate.pause_left() <= 0:
                return
            # A pause began while this request waited: book a new turn after it.

    def settle(self, estimated: int, used: int) -> None:
        """Account for a reply's real token use (reported with the next reservation)."""
        with self._gate.lock:
            self._gate.unsettled += used - estimated

    def pause(self, seconds: float) -> None:
        """Hold every worker of the cluster for ``seconds`` (a 429 with Retry-After)."""
        self._gate.heard_pause(seconds)
        self._gate.heard_pause(self._gate.call("llmsync_limits_pause", seconds=float(seconds)))

    def close(self) -> None:
        """Drop the limiter from the scheduler."""
        self._gate.call("llmsync_limits_close")
        with _GATES_LOCK:
            _GATES.pop(self.name, None)


# -- running a batch -------------------------------------------------------------------------


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
        _check_limits(requests_per_minute, tokens_per_minute)
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


def _unship(token: str, blob: bytes) -> Any:
    with _GATES_LOCK:
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
