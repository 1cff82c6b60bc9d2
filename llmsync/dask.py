"""Scale a batch out to a Dask cluster (the optional ``dask`` extra: ``dask[distributed]``).

The ``Client`` is shipped to the workers pickled: its configuration travels, its
connections and threads are rebuilt on each worker. Every worker runs its share of the
items on the client's own thread pool and returns output lines in the same format as
``llmsync batch`` (see ``llmsync.jsonl``). Rate limits (``requests_per_minute``...)
hold per task, not across the cluster: divide them by the number of concurrent tasks.

Import this module explicitly (``from llmsync.dask import run_batch_on_dask``);
``import llmsync`` never imports Dask.
"""
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .jsonl import ItemId, parse_item, result_line
from .options import Request

__all__ = ["run_batch_on_dask"]


def run_batch_on_dask(client: Any, items: Iterable[Any], cluster_or_client: Any = None, *,
                      model: Optional[str] = None, chunk_size: int = 16, max_workers: int = 4,
                      requests_per_minute: Optional[float] = None,
                      tokens_per_minute: Optional[float] = None) -> List[Dict[str, Any]]:
    """Run ``items`` on Dask workers and return one output line per item, in input order.

    Args:
        client: the ``llmsync.Client`` to use on the workers (pickled; keys travel with it).
        items: dicts like the lines of a batch input file (``id``, ``prompt`` or
            ``messages``, ``model``, options) or ``Request`` objects.
        cluster_or_client: a ``distributed.Client``, a cluster (e.g. ``LocalCluster``), a
            scheduler address, or None for a new local cluster (closed afterwards).
        model: the model for items that name none.
        chunk_size: items per Dask task.
        max_workers: threads per task (``client.batch``'s ``max_workers``).
        requests_per_minute: the rate limit of each task.
        tokens_per_minute: the token limit of each task.

    Returns:
        ``{"id", "response"}`` or ``{"id", "error": {"type", "message"}}`` dicts.
    """
    import distributed

    lines: Dict[int, Dict[str, Any]] = {}
    work: List[Tuple[int, ItemId, Request]] = []
    for position, item in enumerate(items):
        if isinstance(item, Request):
            work.append((position, position + 1, item))
            continue
        item_id, parsed = parse_item(item, position + 1, model)
        if isinstance(parsed, Request):
            work.append((position, item_id, parsed))
        else:
            lines[position] = result_line(item_id, error=parsed)
    dask_client, owned = _connect(distributed, cluster_or_client)
    try:
        shipped = dask_client.scatter(client, broadcast=True, hash=False)
        options = dict(max_workers=max_workers, requests_per_minute=requests_per_minute,
                       tokens_per_minute=tokens_per_minute)
        chunks = [work[start:start + max(chunk_size, 1)] for start in range(0, len(work), max(chunk_size, 1))]
        futures = [dask_client.submit(_run_chunk, shipped, chunk, options, pure=False) for chunk in chunks]
        for chunk_lines in dask_client.gather(futures):
            lines.update(chunk_lines)
    finally:
        if owned:
            dask_client.close()
    return [lines[position] for position in sorted(lines)]


def _connect(distributed: Any, target: Any) -> Tuple[Any, bool]:
    """A ``distributed.Client`` for ``target``, and whether this function owns it."""
    if isinstance(target, distributed.Client):
        return target, False
    if target is None:
        return distributed.Client(processes=True), True
    return distributed.Client(target), True


def _run_chunk(client: Any, chunk: List[Tuple[int, ItemId, Request]],
               options: Dict[str, Any]) -> Dict[int, Dict[str, Any]]:
    """On a worker: run one chunk on the client's thread pool; output lines by position."""
    lines: Dict[int, Dict[str, Any]] = {}
    for result in client.batch([request for _, _, request in chunk], **options):
        position, item_id, _ = chunk[result.index]
        lines[position] = result_line(item_id, result.response, result.error)
    return lines
