"""The ``llmsync`` console script (also ``python -m llmsync``).

Commands::

    llmsync chat MODEL [PROMPT]          stream a reply (the prompt from stdin when absent)
    llmsync models [--provider P]        list the model catalog (or the models a server serves)
    llmsync batch IN.jsonl OUT.jsonl     run a JSONL batch, resumably

Keys and base URLs come from the environment as for ``llmsync.Client()``
(``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ...). Errors are one line on stderr and a
non-zero exit status, never a traceback.
"""
import argparse
import dataclasses
import json
import os
import sys
import time
from typing import IO, Any, Dict, List, NoReturn, Optional, Sequence, Union

from .errors import LLMError
from .options import RetryPolicy, ThinkingLevel

__all__ = ["main", "build_parser", "event_dict"]

EXIT_FAILED_ITEMS = 1
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad command-line arguments (argparse's complaint, as one line)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``llmsync`` command."""
    parser = _Parser(prog="llmsync", description="A synchronous, universal LLM client.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"llmsync {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    _add_chat(commands)
    _add_models(commands)
    _add_batch(commands)
    return parser


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url",
                        help="base URL for the model's provider (default: $<PROVIDER>_BASE_URL)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="read timeout in seconds: the longest silence from the server "
                             "(default 600, connect 10)")
    parser.add_argument("--max-retries", type=int, default=3,
                        help="retries of a failed request (3)")


def _add_chat(commands: Any) -> None:
    chat = commands.add_parser(
        "chat", help="stream a reply to the terminal",
        description="Stream a model's reply. Reads the prompt from stdin when none is given. "
                    "Reasoning text goes to stderr, the answer to stdout.")
    chat.add_argument("model", type=_model_chain,
                      help='"provider/model-id", e.g. openai/gpt-4o-mini; "a,b" falls back to b when a fails')
    chat.add_argument("prompt", nargs="?", help="the prompt (default: read stdin)")
    chat.add_argument("--system", help="system prompt")
    chat.add_argument("--thinking", choices=[level.value for level in ThinkingLevel],
                      help="reasoning level")
    chat.add_argument("--max-tokens", type=int, help="cap on the reply's tokens")
    chat.add_argument("--temperature", type=float)
    chat.add_argument("--json", action="store_true", help="print the raw events as JSON lines")
    _add_connection_options(chat)


def _add_models(commands: Any) -> None:
    models = commands.add_parser("models", help="list the model catalog")
    models.add_argument("--provider", help="only this provider id")
    models.add_argument("--json", action="store_true", help="one JSON object per line")
    _add_connection_options(models)


def _add_batch(commands: Any) -> None:
    batch = commands.add_parser(
        "batch", help="run a JSONL batch (resumable)",
        description="Run every line of IN not yet in OUT, appending each result to OUT as it "
                    "finishes. Rerun the same command after a crash to resume. Exits 1 when "
                    "some items failed (their error lines are in OUT).")
    batch.add_argument("input", metavar="IN.jsonl", help='lines like {"id": "a", "prompt": "..."}')
    batch.add_argument("output", metavar="OUT.jsonl", help="results, one line per input line")
    batch.add_argument("--model", type=_model_chain,
                       help='model for lines that name none ("a,b": a, falling back to b)')
    batch.add_argument("--workers", type=int, default=8, help="concurrent requests (8)")
    batch.add_argument("--rpm", type=float, help="requests-per-minute limit")
    batch.add_argument("--tpm", type=float, help="tokens-per-minute limit")
    batch.add_argument("--retry-errors", action="store_true",
                       help="run again the items whose result in OUT is an error")
    batch.add_argument("--no-progress", action="store_true", help="no progress display")
    batch.add_argument("--dask", nargs="?", const="", metavar="SCHEDULER_ADDRESS",
                       help="run on a Dask cluster (a new local one without an address); --rpm and "
                            "--tpm hold for the whole cluster, --workers is threads per task of 2x that many items")
    _add_connection_options(batch)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``llmsync`` command on ``argv`` (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 on an error (or failed batch items), 2 on bad
        arguments, 130 when interrupted.
    """
    try:
        args = build_parser().parse_args(argv)
        return _COMMANDS[args.command](args)
    except UsageError as error:
        return _fail(str(error), EXIT_USAGE)
    except SystemExit as exit_:  # --help and --version
        return exit_.code if isinstance(exit_.code, int) else 0
    except LLMError as error:
        return _fail(f"{type(error).__name__}: {error}", EXIT_ERROR)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_ERROR
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        return _fail(f"cannot use{where}: {error.strerror or error}", EXIT_ERROR)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)


def _fail(message: str, status: int) -> int:
    sys.stderr.write(f"\nllmsync: error: {message}\n" if status == EXIT_INTERRUPTED
                     else f"llmsync: error: {message}\n")
    sys.stderr.flush()
    return status


def _silence_stdout() -> None:
    # After EPIPE (``llmsync models | head``) the interpreter would complain again when
    # flushing stdout at exit; point it at /dev/null instead.
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured, replaced)
        pass


def _model_chain(text: str) -> Union[str, List[str]]:
    """A model argument: "provider/model-id", or "a,b" for a fallback chain (llmsync.fallback)."""
    models = [part.strip() for part in text.split(",")]
    return models if len(models) > 1 else models[0]


def _client(args: argparse.Namespace, model: Union[str, List[str], None]) -> Any:
    from .client import DEFAULT_TIMEOUT, Client
    from .registry import split_model

    base_urls: Dict[str, str] = {}
    if args.base_url:
        if not model:
            raise UsageError("--base-url needs --model, to know which provider it is for")
        providers = {split_model(name)[0] for name in ([model] if isinstance(model, str) else model)}
        if len(providers) > 1:
            raise UsageError("--base-url is for one provider, and the models name several")
        base_urls[providers.pop()] = args.base_url
    if args.max_retries < 0:
        raise UsageError("--max-retries must be 0 or more")
    return Client(base_urls=base_urls, timeout=(10.0, args.timeout) if args.timeout else DEFAULT_TIMEOUT,
                  retry=RetryPolicy(max_retries=args.max_retries))


# -- chat -------------------------------------------------------------------------------------


def event_dict(event: Any) -> Dict[str, Any]:
    """A stream event as a JSON-ready dict: ``{"type": "TextDelta", "text": ...}``."""
    from .events import Completed

    if isinstance(event, Completed):
        body = {"response": event.response.to_dict(encode_json=True)}  # type: ignore[attr-defined]
    else:
        body = dataclasses.asdict(event)
    return {"type": type(event).__name__, **body}


def _chat(args: argparse.Namespace) -> int:
    from .events import ReasoningDelta, TextDelta

    prompt = args.prompt if args.prompt is not None else _read_stdin()
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    options = {"system_prompt": args.system, "thinking": args.thinking,
               "max_tokens": args.max_tokens, "temperature": args.temperature}
    options = {name: value for name, value in options.items() if value is not None}
    out, err = sys.stdout, sys.stderr
    last = ""  # the stream ("text" or "reasoning") written to last
    ends_with_newline = True
    with _client(args, args.model) as client:
        with client.stream(args.model, prompt, **options) as stream:
            for event in stream:
                if args.json:
                    out.write(json.dumps(event_dict(event), ensure_ascii=False) + "\n")
                    out.flush()
                elif isinstance(event, ReasoningDelta):
                    err.write(event.text)
                    err.flush()
                    last = "reasoning"
                elif isinstance(event, TextDelta):
                    if last == "reasoning":
                        err.write("\n")
                    out.write(event.text)
                    out.flush()
                    last, ends_with_newline = "text", event.text.endswith("\n")
    if not args.json and not ends_with_newline:
        out.write("\n")
    return 0


def _read_stdin() -> str:
    if sys.stdin.isatty():
        sys.stderr.write("(reading the prompt from stdin; end it with Ctrl-D)\n")
    return sys.stdin.read().rstrip()


# -- models -----------------------------------------------------------------------------------


def _models(args: argparse.Namespace) -> int:
    from .catalog import models
    from .registry import provider_ids

    if args.base_url and not args.provider:
        raise UsageError("--base-url needs --provider, to know which provider it is for")
    entries = sorted(models(args.provider), key=lambda meta: meta.qualified_id)
    if not entries and args.provider in provider_ids():
        return _served_models(args)
    if not entries:
        known = sorted({meta.provider for meta in models()})
        extra = ("" if args.provider in provider_ids()
                 else f" (not a provider id: {', '.join(provider_ids())})")
        raise UsageError(f"no catalog entries for provider {args.provider!r}{extra}; "
                         f"the catalog covers {', '.join(known)}")
    for meta in entries:
        if args.json:
            line = json.dumps({"model": meta.qualified_id, **dataclasses.asdict(meta)})
        else:
            line = (f"{meta.qualified_id:<44} {_number(meta.context_window):>10} "
                    f"{_number(meta.max_output_tokens):>9} "
                    f"{_price(meta.input_price):>9} {_price(meta.output_price):>9}")
        sys.stdout.write(line + "\n")
    if not args.json:
        sys.stderr.write(f"{len(entries)} models; columns: model, context window, "
                         "max output tokens, input and output USD per million tokens\n")
    return 0


def _served_models(args: argparse.Namespace) -> int:
    """The models the provider's server says it serves (``GET /models``), for servers the
    catalog does not cover (ollama, vllm, an Azure resource, ...)."""
    with _client(args, f"{args.provider}/-") as client:
        names = sorted(client.list_models(args.provider))
    for name in names:
        qualified = f"{args.provider}/{name}"
        line = json.dumps({"model": qualified, "id": name, "provider": args.provider}) if args.json else qualified
        sys.stdout.write(line + "\n")
    if not args.json:
        sys.stderr.write(f"{len(names)} models served by {args.provider} (not in the catalog: no prices)\n")
    return 0


def _number(value: Optional[int]) -> str:
    return "-" if value is None else f"{value:,}"


def _price(value: Optional[float]) -> str:
    return "-" if value is None else f"${value:g}"


# -- batch ------------------------------------------------------------------------------------


class Progress:
    """Progress of a batch on a stream: a tqdm bar when tqdm is installed, else one ``\\r`` line."""

    def __init__(self, total: int, stream: IO[str], enabled: bool = True) -> None:
        self.total = total
        self.stream = stream
        self.enabled = enabled
        self._bar: Any = None
        self._last = 0.0
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, file=stream, unit="item", desc="llmsync batch")

    def update(self, position: int, failed: int) -> None:
        if self._bar is not None:
            self._bar.set_postfix(failed=failed, refresh=False)
            self._bar.update(position - self._bar.n)
        elif self.enabled and (time.monotonic() - self._last > 0.1 or position >= self.total):
            self._last = time.monotonic()
            self.stream.write(f"\rllmsync batch: {position}/{self.total} ({failed} failed)")
            self.stream.flush()

    def close(self, position: int, failed: int) -> None:
        if self._bar is not None:
            self.update(position, failed)
            self._bar.close()
        elif self.enabled:
            self._last = 0.0
            self.update(position, failed)
            self.stream.write("\n")


def _batch(args: argparse.Namespace) -> int:
    from .jsonl import Tally, count_items, run_file_batch

    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    for name in ("rpm", "tpm"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise UsageError(f"--{name} must be positive")
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        raise UsageError("IN and OUT must be different files")
    total = count_items(args.input)
    progress = Progress(total, sys.stderr, enabled=not args.no_progress)

    def on_result(line: Dict[str, Any], tally: Tally) -> None:
        progress.update(tally.done + tally.failed + tally.skipped, tally.failed)

    def on_skip(warning: str) -> None:
        sys.stderr.write(f"llmsync: warning: {warning}\n")

    tally = Tally()
    try:
        with _client(args, args.model) as client:
            run_file = run_file_batch if args.dask is None else _dask_runner(args.dask)
            run_file(client, args.input, args.output, model=args.model,
                     max_workers=args.workers, requests_per_minute=args.rpm,
                     tokens_per_minute=args.tpm, retry_errors=args.retry_errors,
                     on_result=on_result, on_skip=on_skip, tally=tally)
    finally:
        progress.close(tally.done + tally.failed + tally.skipped, tally.failed)
    sys.stderr.write(_summary(tally, args.output) + "\n")
    return EXIT_FAILED_ITEMS if tally.failed else 0


def _dask_runner(address: str) -> Any:
    """``run_file_batch``'s twin on the Dask cluster at ``address`` ("": a new local one)."""
    try:
        from .dask import run_file_on_dask
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError("--dask needs the dask extra: pip install 'llmsync[dask]'") from None

    def run(client: Any, in_path: str, out_path: str, **options: Any) -> Any:
        # Lines reach OUT as tasks complete: keep tasks small, two items per thread.
        options["chunk_size"] = 2 * options["max_workers"]
        return run_file_on_dask(client, in_path, out_path, address or None, **options)
    return run


def _summary(tally: Any, output: str) -> str:
    cost = "cost unknown" if tally.cost is None else f"cost ${tally.cost:.6f}"
    return (f"llmsync batch: {tally.done} done, {tally.failed} failed, {tally.skipped} already in "
            f"{output}; {tally.tokens:,} tokens, {cost}")


_COMMANDS = {"chat": _chat, "models": _models, "batch": _batch}
