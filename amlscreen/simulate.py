"""``amlscreen simulate``: the synthetic generator as a load source for a file, Kafka or HTTP.

The generator (``simulator.generate``) streams labelled wire-format v1 reports of a world (the
default one, or one drawn from the priors by ``--world SEED``); this module sends them to
exactly one sink and writes the labels to a side file, never into a message:

* ``--out FILE.jsonl`` — one report per line, the labels in ``--labels`` (default
  ``FILE.labels.jsonl``). Both files are written under temporary names in the target directory
  and renamed at the end (labels first, reports last), so an interrupted run leaves nothing
  under the final names.
* ``--kafka`` — produced to ``AMLSCREEN_TOPIC_REPORTS`` on ``AMLSCREEN_KAFKA_BOOTSTRAP``, keyed
  by the subject key exactly as HTTP ingest keys them (``refdata.wire``), acks=all.
* ``--http [URL]`` — ``POST /v1/reports`` in batches, with retries on connection errors, 429
  and 5xx, and the batch shrunk to what a 413 says the server takes.

Everything streams: memory is bounded by the generator's population, one HTTP batch and the
producer's buffer, never by the run. ``--rate`` paces Kafka and HTTP output evenly. Ctrl-C (or
SIGTERM) stops generating, delivers what was already handed to the sink, and prints the
counts; a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol

import orjson
from pydantic import TypeAdapter, ValidationError

from refdata.subject import subject_key
from refdata.wire import Identifier, Subject
from services.config import Settings
from simulator.generate import GeneratorConfig, Labelled, generate, label_line
from simulator.population import institutions
from simulator.world import TypologyParams, World

if TYPE_CHECKING:
    import httpx
    from kafka import KafkaProducer

# The training default (models.train.DEFAULT_START), so `simulate` and `train` agree by default.
DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)
DEFAULT_DAYS = GeneratorConfig.days
DEFAULT_LAUNDERING_SHARE = GeneratorConfig.laundering_share
DEFAULT_BATCH_SIZE = 500  # the API takes 1000 per request by default (AMLSCREEN_INGEST_MAX_ITEMS)
TOKEN_ENV = "AMLSCREEN_TOKEN"  # noqa: S105 - the name of a variable, not a secret
REGIMES: dict[str, Callable[[], TypologyParams]] = {
    "training": TypologyParams.training,
    "evaluation": TypologyParams.evaluation,
}
PROGRESS_INTERVAL_S = 2.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _emit(line: str, stream: IO[str] | None = None) -> None:
    """One line to ``stream`` (stderr by default), flushed at once."""
    target = stream or sys.stderr
    target.write(line + "\n")
    target.flush()


class SimulateError(Exception):
    """The sink refused or failed; the message says what happened and what to do."""


# ---------------------------------------------------------------------------------------------
# Command line


def _count(text: str) -> int:
    """A positive count: ``10000``, ``10_000``, ``200k`` or ``10M``."""
    factors = {"k": 1_000, "m": 1_000_000}
    raw = text.strip().lower()
    factor = factors.get(raw[-1:], 1)
    digits = raw[:-1] if factor > 1 else raw
    try:
        value = int(digits) * factor
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a count: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= 3650:
        raise argparse.ArgumentTypeError(f"must be between 1 and 3650: {text!r}")
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text!r}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def _world(text: str) -> World:
    """``default`` or a non-negative world seed."""
    if text.strip().lower() == "default":
        return World.default()
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a world seed or 'default': {text!r}") from None
    if seed < 0:
        raise argparse.ArgumentTypeError(f"a world seed must be >= 0: {text!r}")
    return World.draw(seed)


def _start(text: str) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is taken as UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date or date-time: {text!r} (e.g. 2026-01-05 or 2026-01-05T00:00Z)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declares the options of ``amlscreen simulate`` on its subparser."""
    parser.set_defaults(simulate_parser=parser)
    what = parser.add_argument_group("what to generate (simulator.generate)")
    what.add_argument("--seed", type=_non_negative, required=True, help="generator seed (>= 0)")
    what.add_argument(
        "--reports", type=_count, required=True, metavar="N", help="reports to emit (10000, 10M)"
    )
    what.add_argument(
        "--days",
        type=_days,
        default=DEFAULT_DAYS,
        help=f"days the stream spans; sizes the population (default {DEFAULT_DAYS})",
    )
    what.add_argument(
        "--start",
        type=_start,
        default=DEFAULT_START,
        metavar="ISO",
        help=f"first simulated day, UTC if no offset (default {DEFAULT_START.date()})",
    )
    what.add_argument(
        "--world",
        type=_world,
        default=None,
        metavar="SEED|default",
        help=(
            "the population's world: 'default', or a world drawn from the priors with this"
            " seed (docs/detection.md, Worlds); default: default"
        ),
    )
    what.add_argument(
        "--regime",
        choices=sorted(REGIMES),
        default=None,
        help="laundering parameter regime of the default world (default training)",
    )
    what.add_argument(
        "--laundering-share",
        type=_share,
        default=DEFAULT_LAUNDERING_SHARE,
        metavar="X",
        help=(
            "laundering schemes per subject, 0..1 (default"
            f" {DEFAULT_LAUNDERING_SHARE}: ~7%% of subjects, ~0.5%% of reports)"
        ),
    )
    what.add_argument(
        "--id-prefix",
        metavar="P",
        help=(
            "put P before every report_id and transaction_id (e.g. run2- gives"
            " run2-US-FI-0001-R0000000001), so that another run into the same deployment"
            " does not repeat ids; letters, digits and . _ : - (default: none)"
        ),
    )
    where = parser.add_argument_group("where to (exactly one)")
    sink = where.add_mutually_exclusive_group(required=True)
    sink.add_argument("--out", metavar="FILE.jsonl", help="write the reports to a JSONL file")
    sink.add_argument(
        "--kafka",
        action="store_true",
        help="produce to AMLSCREEN_TOPIC_REPORTS on AMLSCREEN_KAFKA_BOOTSTRAP, keyed by subject",
    )
    sink.add_argument(
        "--http",
        nargs="?",
        const="",
        metavar="URL",
        help="POST /v1/reports on URL (default http://AMLSCREEN_API_HOST:AMLSCREEN_API_PORT)",
    )
    where.add_argument(
        "--labels",
        metavar="FILE",
        help="labels side file (default with --out: FILE.labels.jsonl; else none)",
    )
    how = parser.add_argument_group("how")
    how.add_argument(
        "--rate",
        type=_rate,
        metavar="R",
        help="steady reports per second (Kafka, HTTP); default as fast as possible",
    )
    how.add_argument(
        "--token", help=f"bearer token for --http (default: ${TOKEN_ENV}); needs the admin role"
    )
    how.add_argument(
        "--batch-size",
        type=_count,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"reports per HTTP request (default {DEFAULT_BATCH_SIZE}; shrunk on 413)",
    )
    how.add_argument(
        "--retries",
        type=_non_negative,
        default=8,
        metavar="N",
        help="HTTP retries of one request on connection errors, 429 and 5xx (default 8)",
    )
    how.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


@dataclass(frozen=True)
class Options:
    """A checked ``amlscreen simulate`` invocation."""

    config: GeneratorConfig
    sink: Literal["file", "kafka", "http"]
    out: Path | None = None
    labels: Path | None = None
    url: str = ""
    token: str = ""
    rate: float | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    retries: int = 8
    progress: bool = True
    id_prefix: str = ""


def default_labels_path(out: Path) -> Path:
    """``x.jsonl`` → ``x.labels.jsonl``; any other name gets ``.labels.jsonl`` appended."""
    if out.suffix == ".jsonl":
        return out.with_name(out.name.removesuffix(".jsonl") + ".labels.jsonl")
    return out.with_name(out.name + ".labels.jsonl")


# refdata.wire.Identifier: ^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$ (checked below too).
MAX_REPORT_ID_LENGTH = 64
_PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")


def longest_report_id(config: GeneratorConfig) -> str:
    """The longest report id the generator can give ``config``: ``<institution>-R<number>``.

    Numbers count each institution's reports from 1 (zero-padded to 10 digits), so none
    exceeds ``n_reports``; transaction ids (``<institution>-T<number>``) are as long.
    """
    institution = max((item.institution_id for item in institutions()), key=len)
    return f"{institution}-R{'9' * max(10, len(str(config.n_reports)))}"


def check_id_prefix(prefix: str, config: GeneratorConfig) -> str:
    """``prefix`` if every prefixed report id is a valid wire id; else ``ValueError``."""
    if not prefix:
        raise ValueError("--id-prefix needs at least one character (leave it out for none)")
    if not _PREFIX_PATTERN.match(prefix):
        raise ValueError(
            f"--id-prefix {prefix!r}: report ids take only letters, digits and . _ : -,"
            " and start with a letter or a digit"
        )
    longest = longest_report_id(config)
    if len(prefix) + len(longest) > MAX_REPORT_ID_LENGTH:
        raise ValueError(
            f"--id-prefix {prefix!r} is {len(prefix)} characters: report ids may have"
            f" {MAX_REPORT_ID_LENGTH} and the generated ones have up to {len(longest)}"
            f" ({longest}), so the prefix may have at most"
            f" {MAX_REPORT_ID_LENGTH - len(longest)}"
        )
    try:
        TypeAdapter(Identifier).validate_python(prefix + longest)
    except ValidationError:
        raise ValueError(
            f"--id-prefix {prefix!r} makes report ids the wire format refuses"
            f" (e.g. {prefix + longest!r})"
        ) from None
    return prefix


def options_from_args(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> Options:
    """Checks the combination of options; raises ``ValueError`` with a usage message."""
    env = os.environ if environ is None else environ
    world = args.world or World.default()
    if args.regime is not None:
        if world.seed is not None:
            raise ValueError("--regime applies to the default world (a drawn world has its own)")
        world = replace(world, typology=REGIMES[args.regime]())
    config = GeneratorConfig(
        seed=args.seed,
        n_reports=args.reports,
        start=args.start,
        days=args.days,
        laundering_share=args.laundering_share,
        world=world,
    )
    progress = not args.quiet
    id_prefix = check_id_prefix(args.id_prefix, config) if args.id_prefix is not None else ""
    labels = Path(args.labels) if args.labels else None
    if args.http is None and (args.token is not None or args.batch_size != DEFAULT_BATCH_SIZE):
        raise ValueError("--token and --batch-size apply to --http only")
    if labels is not None:
        _check_target(labels, "--labels")
    if args.out is not None:
        if args.rate is not None:
            raise ValueError("--rate applies to --kafka and --http (a file is written at once)")
        out = Path(args.out)
        labels = labels or default_labels_path(out)
        _check_target(out, "--out")
        if out.resolve() == labels.resolve():
            raise ValueError("--labels must differ from --out")
        return Options(
            config, "file", out=out, labels=labels, progress=progress, id_prefix=id_prefix
        )
    if args.kafka:
        return Options(
            config,
            "kafka",
            labels=labels,
            rate=args.rate,
            progress=progress,
            id_prefix=id_prefix,
        )
    token = args.token if args.token is not None else env.get(TOKEN_ENV, "")
    if not token:
        raise ValueError(f"--http needs a token: --token TOKEN or ${TOKEN_ENV}")
    url = args.http
    if url and not re.match(r"^https?://[^/\s]+", url):
        raise ValueError(f"--http wants an http(s):// URL, got {url!r}")
    return Options(
        config,
        "http",
        labels=labels,
        url=url,
        token=token,
        rate=args.rate,
        batch_size=args.batch_size,
        retries=args.retries,
        progress=progress,
        id_prefix=id_prefix,
    )


def _check_target(path: Path, option: str) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{option}: directory {str(parent)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"{option}: {str(path)!r} is a directory")


def reports_endpoint(url: str) -> str:
    """The ``POST /v1/reports`` URL for a base URL (a full endpoint URL is kept as is)."""
    base = url.rstrip("/")
    return base if base.endswith("/v1/reports") else f"{base}/v1/reports"


def run_command(args: argparse.Namespace) -> int:
    """Entry point of ``amlscreen simulate``: checks the options, runs, returns the exit code."""
    parser: argparse.ArgumentParser = args.simulate_parser
    try:
        options = options_from_args(args)
    except ValueError as error:
        parser.error(str(error))  # exits 2, argparse style
    if options.sink == "kafka":
        settings = Settings()
        return run(options, lambda: KafkaSink.from_settings(settings))
    if options.sink == "http" and not options.url:
        settings = Settings()
        options = replace(options, url=f"http://{settings.api_host}:{settings.api_port}")
    return run(options)


# ---------------------------------------------------------------------------------------------
# Tally, progress, pacing, stopping


@dataclass
class Tally:
    """What was generated: reports by type, laundering reports and cases by typology."""

    reports: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    laundering_reports: Counter[str] = field(default_factory=Counter)
    cases: dict[str, set[str]] = field(default_factory=dict)

    def add(self, item: Labelled) -> None:
        self.reports += 1
        self.by_type[item.report["report_type"]] += 1
        if item.typology is not None:
            self.laundering_reports[item.typology] += 1
            if item.case_id is not None:
                self.cases.setdefault(item.typology, set()).add(item.case_id)

    def describe(self) -> str:
        types = ", ".join(f"{name} {count}" for name, count in sorted(self.by_type.items()))
        total = sum(self.laundering_reports.values())
        n_cases = sum(len(ids) for ids in self.cases.values())
        typologies = ", ".join(
            f"{name} {len(self.cases.get(name, ()))}/{count}"
            for name, count in sorted(self.laundering_reports.items())
        )
        laundering = f"laundering {total} reports in {n_cases} cases"
        if typologies:
            laundering += f" (cases/reports: {typologies})"
        return f"{self.reports} reports ({types or 'none'}); {laundering}"


class Progress:
    """Throttled progress lines on stderr."""

    def __init__(self, total: int, enabled: bool, stream: IO[str] | None = None) -> None:
        self.total = total
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.next_at = self.started + PROGRESS_INTERVAL_S

    def tick(self, done: int, extra: Callable[[], str]) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self.next_at:
            return
        self.next_at = now + PROGRESS_INTERVAL_S
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        note = extra()
        _emit(
            f"simulate: {done:,}/{self.total:,} reports ({100 * done / self.total:.1f}%),"
            f" {rate:,.0f}/s, ETA {_duration(eta)}" + (f"; {note}" if note else ""),
            self.stream,
        )


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Stop:
    """A stop request: the first SIGINT/SIGTERM asks politely, the second aborts at once."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name
        _emit(
            f"simulate: {self.signal_name}: stopping, delivering what was generated"
            " (again to abort)"
        )

    @contextmanager
    def installed(self) -> Iterator[Stop]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class Pacer:
    """Spaces items evenly at ``rate`` per second: item ``i`` is due ``i / rate`` after item 0."""

    def __init__(self, rate: float | None, stop: Stop) -> None:
        self.rate = rate
        self.stop = stop
        self.started = 0.0

    def wait(self, index: int) -> None:
        """Sleeps until item ``index`` (0-based) is due, or a stop is requested.

        The clock starts at item 0, once the generator has built its population.
        """
        if self.rate is None:
            return
        if index == 0:
            self.started = time.monotonic()
            return
        due = self.started + index / self.rate
        while not self.stop.requested:
            ahead = due - time.monotonic()
            if ahead <= 0:
                return
            time.sleep(min(ahead, 0.1))


# ---------------------------------------------------------------------------------------------
# Sinks


class Sink(Protocol):
    """Where reports go. ``write`` may block (pacing, batching); ``close`` delivers the rest."""

    name: str

    def write(self, report: dict[str, Any], line: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def failure(self) -> str | None:
        """Why the sink cannot go on (checked between reports), or None."""
        ...

    def progress(self) -> str: ...

    def summary(self) -> str: ...


class AtomicFile:
    """A file written under a temporary name in its directory and renamed at ``commit``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.handle: IO[bytes] = self.temp.open("wb", buffering=1 << 20)

    def write(self, data: bytes) -> None:
        self.handle.write(data)

    def commit(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.temp, self.path)
        _fsync_directory(self.path.parent)

    def abort(self) -> None:
        if not self.handle.closed:
            self.handle.close()
        self.temp.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory if str(directory) else ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # not every filesystem syncs directories
    finally:
        os.close(fd)


class FileSink:
    """Reports to a JSONL file, one per line, renamed into place once complete."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = AtomicFile(path)
        self.written = 0

    def write(self, report: dict[str, Any], line: bytes) -> None:
        self.file.write(line)
        self.written += 1

    def close(self) -> None:
        self.file.commit()

    def abort(self) -> None:
        self.file.abort()

    def failure(self) -> str | None:
        return None

    def progress(self) -> str:
        return ""

    def summary(self) -> str:
        return f"→ {self.path}"


class SubjectKeys:
    """The subject key of a report, as HTTP ingest computes it, cached per subject."""

    LIMIT = 1_000_000

    def __init__(self) -> None:
        self.cache: dict[tuple[Any, ...], str] = {}

    def __call__(self, report: dict[str, Any]) -> str:
        subject = report["subject"]
        identifiers = tuple(
            (item.get("type"), item.get("value"), item.get("country"))
            for item in subject.get("identifiers") or ()
        )
        cache_key = (report["institution_id"], subject.get("subject_id"), identifiers)
        key = self.cache.get(cache_key)
        if key is None:
            if len(self.cache) >= self.LIMIT:
                self.cache.clear()
            validated = Subject.model_validate(subject)
            key = subject_key(report["institution_id"], validated.subject_id, validated.identifiers)
            self.cache[cache_key] = key
        return key


def _reachable(bootstrap: str, timeout: float) -> bool:
    """True if a TCP connection to one of the bootstrap servers opens (fails fast and quietly)."""
    for server in bootstrap.split(","):
        host, colon, port = server.strip().rpartition(":")
        if not colon or host.endswith(":"):  # "kafka" or a bare IPv6 address: the default port
            host, port = server.strip(), "9092"
        try:
            with socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout):
                return True
        except (OSError, ValueError):
            continue
    return False


class CachedPartitioner:
    """kafka-python's default partitioner (murmur2 of the key) with the hash cached per key.

    Subjects recur all through a stream, and the pure-Python murmur2 is a fifth of the cost of a
    send; the partition chosen is exactly the default one, as HTTP ingest's producer chooses.
    """

    LIMIT = 1_000_000

    def __init__(self) -> None:
        from kafka.partitioner.default import DefaultPartitioner, murmur2

        self.default = DefaultPartitioner()
        self.murmur2 = murmur2
        self.hashes: dict[bytes, int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return int(self.default(key, all_partitions, available))
        hashed = self.hashes.get(key)
        if hashed is None:
            if len(self.hashes) >= self.LIMIT:
                self.hashes.clear()
            hashed = self.hashes[key] = self.murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]


class KafkaSink:
    """Produces each report keyed by its subject key; counts acknowledgements (acks=all)."""

    name = "kafka"
    CONNECT_TIMEOUT_S = 10.0
    FLUSH_TIMEOUT_S = 120.0
    ABORT_TIMEOUT_S = 2.0

    def __init__(self, producer: KafkaProducer, topic: str, bootstrap: str) -> None:
        self.producer = producer
        self.topic = topic
        self.bootstrap = bootstrap
        self.keys = SubjectKeys()
        self.sent = 0
        self.acked = 0
        self.failed = 0
        self.first_error: str | None = None
        self.closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaSink:
        from kafka.errors import KafkaError

        from streaming.broker import ensure_topics
        from streaming.producer import make_producer

        bootstrap = settings.bootstrap_servers
        if not _reachable(bootstrap, cls.CONNECT_TIMEOUT_S):
            raise SimulateError(
                f"cannot reach Kafka at {bootstrap}: is the broker up (amlscreen up /"
                " amlscreen broker) and AMLSCREEN_KAFKA_BOOTSTRAP right?"
            )
        try:
            security = settings.kafka_security()
            ensure_topics(
                bootstrap,
                {settings.topic_reports: settings.topic_partitions},
                timeout=cls.CONNECT_TIMEOUT_S,
                security=security,
            )
            producer = make_producer(
                bootstrap,
                security=security,
                client_id="amlscreen-simulate",
                partitioner=CachedPartitioner(),
            )
        except KafkaError as error:
            raise SimulateError(
                f"cannot reach Kafka at {bootstrap} ({type(error).__name__}: {error});"
                " is the broker up (amlscreen up / amlscreen broker) and"
                " AMLSCREEN_KAFKA_BOOTSTRAP right?"
            ) from error
        return cls(producer, settings.topic_reports, bootstrap)

    def _ok(self, _metadata: Any) -> None:
        self.acked += 1

    def _error(self, error: BaseException) -> None:
        self.failed += 1
        if self.first_error is None:
            self.first_error = f"{type(error).__name__}: {error}"

    def write(self, report: dict[str, Any], line: bytes) -> None:
        from kafka.errors import KafkaError

        key = self.keys(report).encode()
        try:
            future = self.producer.send(self.topic, key=key, value=line.rstrip(b"\n"))
        except KafkaError as error:
            self._error(error)
            return
        self.sent += 1
        future.add_callback(self._ok)
        future.add_errback(self._error)

    def close(self) -> None:
        from kafka.errors import KafkaError

        if self.closed:
            return
        try:
            self.producer.flush(timeout=self.FLUSH_TIMEOUT_S)
        except KafkaError as error:
            self._error(error)
        self._shutdown(10.0)

    def abort(self) -> None:
        # Not 0: kafka-python's close(0) cannot stop a producer with batches in flight cleanly.
        self._shutdown(self.ABORT_TIMEOUT_S)

    def _shutdown(self, timeout: float) -> None:
        from kafka.errors import KafkaError

        if self.closed:
            return
        self.closed = True
        try:
            self.producer.close(timeout=timeout)
        except KafkaError:
            # kafka-python's close() flushes first and raises while batches are still pending,
            # leaving its sender thread (not a daemon) running: stop it without sending.
            sender = getattr(self.producer, "_sender", None)
            if sender is not None:
                sender.force_close()
                sender.join(5.0)

    def failure(self) -> str | None:
        if self.first_error is None:
            return None
        return f"Kafka refused a message: {self.first_error}"

    def progress(self) -> str:
        return f"acked {self.acked:,}"

    def summary(self) -> str:
        return (
            f"→ Kafka {self.topic} at {self.bootstrap}: {self.sent} sent, {self.acked} acked,"
            f" {self.failed} failed"
        )


class HttpSink:
    """Batches of reports to ``POST /v1/reports``, retried on connection errors, 429 and 5xx."""

    name = "http"
    MAX_BACKOFF_S = 10.0
    SHOWN_REJECTIONS = 5

    def __init__(
        self,
        url: str,
        token: str,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        retries: int = 8,
        backoff_s: float = 0.25,
        client: httpx.Client | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        import httpx

        self.url = reports_endpoint(url)
        self.batch = batch_size
        self.retries = retries
        self.backoff_s = backoff_s
        self.should_stop = should_stop
        self.client = client or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        }
        self.pending: list[bytes] = []
        self.requests = 0
        self.retried = 0
        self.accepted = 0
        self.rejected = 0
        self.first_rejection: str | None = None

    def write(self, report: dict[str, Any], line: bytes) -> None:
        self.pending.append(line.rstrip(b"\n"))
        if len(self.pending) >= self.batch:
            self._send_pending()

    def close(self) -> None:
        try:
            self._send_pending()
        finally:
            self.client.close()

    def abort(self) -> None:
        self.pending.clear()
        self.client.close()

    def failure(self) -> str | None:
        return None

    def progress(self) -> str:
        return f"accepted {self.accepted:,}" + (
            f", rejected {self.rejected:,}" if self.rejected else ""
        )

    def summary(self) -> str:
        return (
            f"→ {self.url}: {self.accepted} accepted, {self.rejected} rejected,"
            f" {self.requests} requests ({self.retried} retried), batch {self.batch}"
        )

    def _send_pending(self) -> None:
        while self.pending:
            chunk = self.pending[: self.batch]
            if self._post(chunk):
                del self.pending[: len(chunk)]

    def _post(self, chunk: list[bytes]) -> bool:
        """Sends one batch; False when a 413 shrank the batch size and it must be re-cut."""
        import httpx

        body = b"[" + b",".join(chunk) + b"]"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
            delay = min(self.MAX_BACKOFF_S, self.backoff_s * 2**attempt)
            try:
                response = self.client.post(self.url, content=body, headers=self.headers)
            except httpx.TransportError as error:
                last = f"{type(error).__name__}: {error}"
                self._retry_later(attempt, last, delay)
                continue
            self.requests += 1
            status = response.status_code
            if status == 202:
                self._count(response, len(chunk))
                return True
            if status in RETRY_STATUSES:
                last = f"HTTP {status}: {_detail(response)}"
                self._retry_later(attempt, last, _retry_after(response, delay))
                continue
            if status == 413:
                self._shrink(response, len(chunk))
                return False
            if status == 422:
                self._count_unprocessable(response, len(chunk))
                return True
            if status in (401, 403):
                hint = (
                    "check --token / $AMLSCREEN_TOKEN (amlscreen token create --role admin)"
                    if status == 401
                    else "simulated reports come from many institutions (US-FI-0001 … MX-FI-0008):"
                    " use an admin token, not a reporter's"
                )
                raise SimulateError(
                    f"the API refused the token (HTTP {status}: {_detail(response)}); {hint}"
                )
            raise SimulateError(f"POST {self.url} failed: HTTP {status}: {_detail(response)}")
        raise SimulateError(
            f"POST {self.url} failed after {self.retries + 1} attempts; last: {last}"
        )

    def _retry_later(self, attempt: int, reason: str, seconds: float) -> None:
        if attempt >= self.retries:
            return
        _emit(
            f"simulate: POST {self.url}: {reason}; retry {attempt + 1}/{self.retries}"
            f" in {seconds:.2f} s"
        )
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            if self.should_stop():
                raise SimulateError(f"stopped while waiting to retry POST {self.url}: {reason}")
            time.sleep(min(left, 0.1))

    def _shrink(self, response: httpx.Response, size: int) -> None:
        detail = _detail(response)
        match = re.search(r"at most (\d+) reports", detail)
        limit = int(match.group(1)) if match else 0
        new = limit if 0 < limit < size else size // 2
        if new < 1:
            raise SimulateError(f"the API refuses even a single report as too large: {detail}")
        _emit(f"simulate: HTTP 413 ({detail}); batch size {self.batch} → {new}")
        self.batch = new

    def _count(self, response: httpx.Response, size: int) -> None:
        try:
            body = response.json()
        except ValueError:
            raise SimulateError(f"HTTP 202 without a JSON body: {response.text[:200]!r}") from None
        accepted = body.get("accepted") or []
        rejected = body.get("rejected") or []
        self.accepted += len(accepted)
        self._reject(rejected)
        if len(accepted) + len(rejected) != size:
            _emit(f"simulate: the API answered for {len(accepted) + len(rejected)} of {size} items")

    def _count_unprocessable(self, response: httpx.Response, size: int) -> None:
        try:
            rejected = response.json().get("errors", {}).get("rejected") or []
        except (ValueError, AttributeError):
            rejected = []
        self._reject(rejected)
        self.rejected += size - len(rejected)
        if not rejected:
            self._note(f"HTTP 422: {_detail(response)}")

    def _reject(self, rejected: list[dict[str, Any]]) -> None:
        for item in rejected:
            self.rejected += 1
            errors = "; ".join(
                f"{error.get('field')}: {error.get('message')}"
                for error in item.get("errors", [])[:3]
            )
            self._note(f"item {item.get('index')}: {errors}")

    def _note(self, text: str) -> None:
        if self.first_rejection is None:
            self.first_rejection = text
        if self.rejected <= self.SHOWN_REJECTIONS:
            _emit(f"simulate: rejected {text}")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    return str(body)[:300]


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("retry-after", "")
    try:
        return min(HttpSink.MAX_BACKOFF_S, max(0.0, float(value)))
    except ValueError:
        return default


# ---------------------------------------------------------------------------------------------
# The run


def open_sink(options: Options, stop: Stop) -> Sink:
    """The file or HTTP sink of the options (the Kafka sink needs settings: see run_command)."""
    if options.sink == "file":
        assert options.out is not None
        return FileSink(options.out)
    if options.sink == "http":
        return HttpSink(
            options.url,
            options.token,
            batch_size=paced_batch(options.batch_size, options.rate),
            retries=options.retries,
            should_stop=lambda: stop.requested,
        )
    raise ValueError(f"no default sink for {options.sink!r}: pass a factory")


def paced_batch(batch_size: int, rate: float | None) -> int:
    """With a rate, at most about 20 requests a second, so that paced HTTP load stays steady."""
    if rate is None:
        return batch_size
    return max(1, min(batch_size, math.ceil(rate / 20)))


def run(
    options: Options,
    sink_factory: Callable[[], Sink] | None = None,
    *,
    out: IO[str] | None = None,
) -> int:
    """Generates, sends, prints the summary line; returns the exit code (0, 1 or 130).

    A file output is renamed into place only when complete. Kafka and HTTP deliver what was
    generated before a stop or failure, and their labels file covers exactly the reports
    handed to the sink. A second Ctrl-C aborts: nothing more is delivered, no labels file.
    """
    stdout = out or sys.stdout
    started = time.monotonic()
    stop = Stop()
    try:
        sink = sink_factory() if sink_factory else open_sink(options, stop)
    except (SimulateError, OSError) as refused:
        _emit(f"error: {refused}")
        return EXIT_FAILED
    try:
        labels = AtomicFile(options.labels) if options.labels else None
    except OSError as refused:
        sink.abort()
        _emit(f"error: {refused}")
        return EXIT_FAILED
    tally = Tally()
    error: str | None = None
    aborted = False
    settled = False
    keep = False
    try:
        with stop.installed():
            try:
                error = _pump(options, sink, labels, tally, stop)
            except SimulateError as failure:
                error = str(failure)
            except OSError as failure:
                error = f"cannot write: {failure}"
            keep = options.sink != "file" or (error is None and not stop.requested)
            # Labels first: a reports file under its final name means both are complete.
            if labels is not None:
                if keep:
                    labels.commit()
                else:
                    labels.abort()
            if keep and error is None:
                try:
                    sink.close()
                except SimulateError as failure:
                    error = str(failure)
                    sink.abort()
                error = error or sink.failure()
            else:
                sink.abort()
            settled = True
    except KeyboardInterrupt:
        aborted = True
        keep = False
    finally:
        if not settled:
            sink.abort()
            if labels is not None:
                labels.abort()
    elapsed = time.monotonic() - started
    rate = tally.reports / elapsed if elapsed > 0 else 0.0
    if aborted:
        state = " ABORTED"
    elif stop.requested:
        state = f" STOPPED by {stop.signal_name}"
    else:
        state = " FAILED" if error else ""
    if options.labels is None:
        labels_note = ""
    elif keep:
        labels_note = f", labels {options.labels}"
    else:
        labels_note = ", labels not written"
    if options.sink == "file" and not keep:
        labels_note = ", nothing written"
    config = options.config
    _emit(
        f"simulate{state}: {tally.describe()}; {elapsed:.2f} s, {rate:,.0f} reports/s;"
        f" seed {config.seed}, {config.world.name} world, {config.world.typology.name} regime;"
        f" {sink.summary()}{labels_note}",
        stdout,
    )
    if error:
        _emit(f"error: {error}")
        return EXIT_FAILED
    if aborted or stop.requested:
        return EXIT_INTERRUPTED
    if isinstance(sink, HttpSink) and sink.rejected:
        _emit(f"error: the API rejected {sink.rejected} reports; first: {sink.first_rejection}")
        return EXIT_FAILED
    return EXIT_OK


def _pump(
    options: Options, sink: Sink, labels: AtomicFile | None, tally: Tally, stop: Stop
) -> str | None:
    """Moves generated reports into the sink until done, stopped or the sink fails."""
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    pacer = Pacer(options.rate, stop)
    progress = Progress(options.config.n_reports, options.progress)
    paced = options.rate is not None  # slow enough to look at the clock after every report
    prefix = options.id_prefix
    index = 0
    for item in generate(options.config):
        pacer.wait(index)
        if stop.requested:
            break
        report = item.report
        if prefix:
            report["report_id"] = prefix + report["report_id"]
            transaction = report.get("transaction")
            if transaction is not None:
                transaction["transaction_id"] = prefix + transaction["transaction_id"]
        line = dumps(report, option=newline)
        sink.write(report, line)
        if labels is not None:
            labels.write(dumps(label_line(item), option=newline))
        tally.add(item)
        index += 1
        if index & 1023 == 0:
            failure = sink.failure()
            if failure is not None:
                return failure
            progress.tick(index, sink.progress)
        elif paced:
            progress.tick(index, sink.progress)
    return None
