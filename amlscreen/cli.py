"""The ``amlscreen`` command line: composition root that wires services, streaming, models."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
from pydantic import ValidationError

from services.auth.enums import Role
from services.config import Settings
from services.filings.profile import ProfileInvalid, parse_profile
from services.filings.readiness import profile_status, template
from services.kit.logs import install_redaction

log = logging.getLogger("amlscreen")


def _settings() -> Settings:
    return Settings()


def cmd_up(_args: argparse.Namespace) -> int:
    from amlscreen.up import run_all

    return run_all(_settings())


def cmd_api(_args: argparse.Namespace) -> int:
    import uvicorn

    from services.app import create_app
    from streaming.producer import KafkaReportPublisher

    settings = _settings()

    def publisher_factory(current: Settings) -> KafkaReportPublisher:
        return KafkaReportPublisher.from_settings(current)

    app = create_app(settings, publisher_factory)
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_level="info")
    return 0


def cmd_worker(_args: argparse.Namespace) -> int:
    from amlscreen.runtime import run_worker

    return run_worker(_settings())


# Installed whatever the inherited disposition: a launcher that started us with SIGINT
# ignored (a background job of a script) still stops the broker with kill -INT.
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _BrokerStopRequested(Exception):
    """Raised by the SIGTERM/SIGINT handler of ``amlscreen broker`` to unwind to its cleanup."""


def cmd_broker(_args: argparse.Namespace) -> int:
    """Runs the embedded broker until SIGTERM/SIGINT stops it (exit 0) or it dies (exit 1).

    The handlers are installed before the broker child starts, so a signal at any point
    terminates the child instead of leaving it orphaned and holding the port.
    """
    from streaming.broker import EmbeddedBroker, ensure_topics

    settings = _settings()
    broker = EmbeddedBroker(settings.embedded_broker_port)
    stopping = False

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        # Raising (rather than stopping the broker here) unwinds the main thread out of
        # Popen.wait(), whose waitpid lock a handler must not take again. Only the first
        # signal raises: a second one must not interrupt the stop in the finally below.
        nonlocal stopping
        if not stopping:
            stopping = True
            raise _BrokerStopRequested

    previous = {signum: signal.signal(signum, request_stop) for signum in _STOP_SIGNALS}
    try:
        broker.start()
        ensure_topics(broker.bootstrap, _topics(settings))
        print(f"embedded broker on {broker.bootstrap} (memory only); Ctrl-C stops it", flush=True)
        how = broker.describe_exit(broker.wait())
        # Nobody asked it to stop: whatever the broker held (memory only) is gone.
        print(
            f"error: the embedded broker exited unexpectedly ({how}); its topics and"
            " messages are lost (memory only)",
            file=sys.stderr,
            flush=True,
        )
        return 1
    except _BrokerStopRequested:
        return 0
    finally:
        stopping = True
        broker.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _topics(settings: Settings) -> dict[str, int]:
    return {
        settings.topic_reports: settings.topic_partitions,
        settings.topic_dlq: settings.topic_partitions,
        settings.topic_alerts: settings.topic_partitions,
        **dict.fromkeys(settings.format_topics, settings.topic_partitions),
    }


def cmd_profile_init(args: argparse.Namespace) -> int:
    """Writes the commented filing-profile template (never over an existing file)."""
    path = Path(args.out) if args.out else _settings().filing_profile_path
    if path.exists() and not args.force:
        print(f"error: {path} exists (use --force to overwrite it)", file=sys.stderr)
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(template(), option=orjson.OPT_INDENT_2) + b"\n")
    print(f"wrote {path}: replace every CHANGE-ME, then run: amlscreen profile check {path}")
    return 0


def cmd_profile_check(args: argparse.Namespace) -> int:
    """Validates a filing profile and says what each export still needs.

    Exit status: 0 every export of every institution is ready, 1 the file is missing or
    invalid, 2 valid but some export still needs something.
    """
    path = Path(args.file) if args.file else _settings().filing_profile_path
    if not path.is_file():
        print(f"{path}: no such file (amlscreen profile init writes a template)")
        return 1
    try:
        profile = parse_profile(path, path.read_bytes())
    except ProfileInvalid as error:
        print(f"{path}: invalid")
        for problem in error.problems:
            print(f"  {problem['field']}: {problem['message']}")
        return 1
    status = profile_status(profile)
    print(f"{path}: valid")
    for need in status["needs"]:
        print(f"  needs {need}")
    for institution_id, exports in status["institutions"].items():
        print(f"institution {institution_id}")
        for export, state in exports.items():
            if state["ready"]:
                print(f"  {export}: ready")
            else:
                print(f"  {export}: not ready, needs:")
                for need in state["needs"]:
                    print(f"    - {need}")
    return 0 if status["ready"] else 2


def cmd_rules_init(args: argparse.Namespace) -> int:
    """Writes a commented rule file holding the shipped rules (never over an existing file)."""
    from models.rule_file import render_rule_file
    from models.rules import RuleConfig

    path = Path(args.out)
    if path.exists() and not args.force:
        print(f"error: {path} exists (use --force to overwrite it)", file=sys.stderr)
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_rule_file(RuleConfig()), encoding="utf-8")
    print(
        f"wrote {path}: edit it, run amlscreen rules check {path}, then set"
        f" AMLSCREEN_RULES_FILE={path} for the workers and amlscreen score"
    )
    return 0


def cmd_rules_check(args: argparse.Namespace) -> int:
    """Validates a rule file and prints the rules it gives (exit 1 when it cannot be used)."""
    from models.rule_file import RuleFileError, load_rule_file

    path = Path(args.file) if args.file else _settings().rules_file
    if path is None:
        print("AMLSCREEN_RULES_FILE is not set: the shipped rules apply")
        return 0
    try:
        rules = load_rule_file(path)
    except RuleFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{path}: valid")
    for key, value in rules.describe().items():
        print(f"  {key} = {value}")
    return 0


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    from services.migrate import upgrade

    settings = _settings()
    upgrade(settings.effective_database_url)
    print("database is at the latest revision", file=sys.stderr)
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from services.auth.service import create_token
    from services.db import make_engine, transaction
    from services.errors import ServiceError
    from services.kit.time import utc_now
    from services.orm_registry import make_sessionmaker

    settings = _settings()
    engine = make_engine(settings.effective_database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            token = create_token(
                session,
                role=Role(args.role),
                institution_id=args.institution,
                label=args.label,
                expires_at=(
                    utc_now() + timedelta(days=args.expires_in_days)
                    if args.expires_in_days is not None
                    else None
                ),
            )
    except ServiceError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(token)
    return 0


def cmd_token_list(_args: argparse.Namespace) -> int:
    """One tab-separated line per token: id, role, institution, label, created, revoked."""
    from services.auth.service import list_tokens
    from services.db import make_engine, transaction
    from services.orm_registry import make_sessionmaker

    engine = make_engine(_settings().effective_database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            rows = [
                (
                    str(token.id),
                    token.role,
                    token.institution_id or "-",
                    token.label or "-",
                    token.created_at.isoformat(),
                    token.revoked_at.isoformat() if token.revoked_at else "-",
                )
                for token in list_tokens(session)
            ]
    finally:
        engine.dispose()
    print("id\trole\tinstitution\tlabel\tcreated_at\trevoked_at")
    for row in rows:
        print("\t".join(row))
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from services.auth.service import PrincipalCache, revoke_token
    from services.db import make_engine, transaction
    from services.orm_registry import make_sessionmaker

    engine = make_engine(_settings().effective_database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            found = revoke_token(session, args.token_id)
    finally:
        engine.dispose()
    if not found:
        message = f"error: no token with id {args.token_id} (see amlscreen token list)"
        print(message, file=sys.stderr)
        return 1
    print(
        f"token {args.token_id} revoked; API processes that used it in the last"
        f" {PrincipalCache.DEFAULT_TTL_S:g} s accept it until their cache entry expires",
        file=sys.stderr,
    )
    return 0


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    """Replays the ledger; exit 0 if consistent, 1 (naming the first bad entry) if not."""
    from services.db import make_engine
    from services.ledger.schemas import VerifyRead
    from services.ledger.service import verify
    from services.orm_registry import make_sessionmaker

    settings = _settings()
    engine = make_engine(settings.effective_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            report = verify(session, expect_seq=args.expect_seq, expect_hash=args.expect_hash)
            session.rollback()
    finally:
        engine.dispose()
    result = VerifyRead.of(report)
    print(result.model_dump_json(indent=2, exclude=None if args.balances else {"balances"}))
    if not report.ok and report.first_error is not None:
        where = f" at entry {report.first_error.seq}" if report.first_error.seq else ""
        print(f"ledger verification FAILED{where}: {report.first_error.reason}", file=sys.stderr)
        return 1
    print(
        f"ledger OK: {report.entries} entries, head {report.head_seq} {report.head_hash}",
        file=sys.stderr,
    )
    return 0


def cmd_watchlist_load(args: argparse.Namespace) -> int:
    """Loads a list file as the list's next version, then rescreens the stored reports."""
    from services.db import make_engine, transaction
    from services.errors import ServiceError
    from services.orm_registry import make_sessionmaker
    from services.watchlists.formats import ListFormat, guess_format
    from services.watchlists.service import load_version, loaded_by_cli, parse_file

    path = Path(args.file)
    engine = make_engine(_settings().effective_database_url)
    try:
        list_format = ListFormat(args.format) if args.format else guess_format(path)
        parsed = parse_file(path, list_format)
        with transaction(make_sessionmaker(engine)) as session:
            outcome = load_version(
                session,
                name=args.list,
                parsed=parsed,
                list_format=list_format,
                loaded_by=loaded_by_cli(),
            )
    except (ServiceError, ValueError) as error:
        print(f"error: {getattr(error, 'message', error)}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if not outcome.created:
        print(
            f"{outcome.watchlist}: unchanged, version {outcome.version} has the same content"
            f" ({outcome.content_sha256[:12]}…)",
            file=sys.stderr,
        )
        return 0
    print(
        f"{outcome.watchlist} version {outcome.version}: {outcome.entries} entries"
        f" (+{outcome.added} -{outcome.removed} ~{outcome.changed}),"
        f" sha256 {outcome.content_sha256[:12]}…; rescreen job {outcome.rescreen_id} queued",
        file=sys.stderr,
    )
    return 0 if args.no_rescreen else cmd_watchlist_rescreen(args)


def cmd_watchlist_rescreen(args: argparse.Namespace) -> int:
    """Runs the queued rescreen jobs, printing their progress."""
    from services.db import make_engine
    from services.orm_registry import make_sessionmaker
    from services.watchlists.service import IndexHolder, RescreenProgress, run_rescreens

    def show(state: RescreenProgress) -> None:
        print(
            f"rescreen {state.job_id}: {state.reports_done}/{state.reports_total} reports,"
            f" {state.matches} new matches, {state.alerts} alerts raised or joined"
            f" ({state.status})",
            file=sys.stderr,
        )

    engine = make_engine(_settings().effective_database_url)
    try:
        run_rescreens(
            make_sessionmaker(engine),
            IndexHolder(refresh_s=0.0),
            chunk=args.chunk,
            max_reports=args.max_reports,
            progress=show,
        )
    finally:
        engine.dispose()
    return 0


def cmd_report_programme(args: argparse.Namespace) -> int:
    """Writes the programme results report of a period to a CSV or JSON file."""
    from services.db import make_engine
    from services.errors import ServiceError
    from services.orm_registry import make_sessionmaker
    from services.programme.service import Period, build_report, to_csv

    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".json"):
        print("error: --out must end in .csv or .json", file=sys.stderr)
        return 2
    try:
        period = Period.of(args.date_from, args.date_to)
    except ServiceError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    engine = make_engine(_settings().effective_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            report = build_report(session, period)
            session.rollback()
    finally:
        engine.dispose()
    if out.suffix.lower() == ".csv":
        out.write_text(to_csv(report), encoding="utf-8")
    else:
        out.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    print(f"programme report {period.first} to {period.last} written to {out}", file=sys.stderr)
    return 0


def _model_path(args: argparse.Namespace) -> Path:
    return Path(args.model) if getattr(args, "model", None) else _settings().effective_model_path


def _at_least_one(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def cmd_train(args: argparse.Namespace) -> int:
    """Trains a model (synthetic worlds, or labelled JSONL) and writes the artefact and card."""
    from amlscreen.synthetic import synthetic_dataset, worlds_dataset
    from models.train import (
        DEFAULT_REPORTS_PER_TRAINING_WORLD,
        DEFAULT_TRAINING_WORLDS,
        InsufficientLabelsError,
        TrainConfig,
        labelled_dataset,
        train,
    )

    out = Path(args.out) if args.out else _settings().effective_model_path
    worlds = DEFAULT_TRAINING_WORLDS if args.worlds is None else args.worlds
    n_reports = args.n_reports or (
        DEFAULT_REPORTS_PER_TRAINING_WORLD if worlds else TrainConfig.n_reports
    )
    config = TrainConfig(seed=args.seed, n_reports=n_reports, fits=args.fits)
    if args.data:
        if not args.labels:
            print("error: --data needs --labels", file=sys.stderr)
            return 2
        dataset = labelled_dataset(Path(args.data), Path(args.labels))
    elif worlds:
        # Domain randomisation (the default): many populations drawn from wide priors, so
        # that the model learns laundering rather than one population's habits.
        seeds = range(args.world_seed, args.world_seed + worlds)
        dataset = worlds_dataset(seeds, config.n_reports, start=config.start, days=config.days)
    else:
        dataset = synthetic_dataset(config.seed, config.n_reports, start=config.start)
    extra = _dispositions() if args.with_dispositions else None
    from services.alerts.policy import AlertPolicy

    policy = AlertPolicy.from_settings(_settings()).describe()
    try:
        bundle = train(config, out, dataset=dataset, extra=extra, alert_policy=policy)
    except InsufficientLabelsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    validation = bundle.card["metrics"]["validation"]
    print(
        f"{bundle.version} written to {out} (card {out.name.removesuffix('.skops')}.card.json)\n"
        f"threshold {bundle.threshold:.3f}; validation PR-AUC {validation['pr_auc']},"
        f" at threshold {validation['at_threshold']}"
    )
    return 0


def _dispositions() -> Any:
    """Investigators' decisions (filed / closed as not laundering) as extra training rows."""
    from sqlalchemy import func, select

    from models.train import dispositions_dataset
    from services.alerts.service import labelled_outcomes
    from services.db import make_engine
    from services.orm_registry import make_sessionmaker
    from services.reports.orm import Report

    settings = _settings()
    engine = make_engine(settings.effective_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            outcomes = labelled_outcomes(session)
            subjects = sorted({row["subject_key"] for row in outcomes})
            documents: list[dict[str, Any]] = []
            for start in range(0, len(subjects), 1000):
                statement = (
                    select(Report.document)
                    .where(Report.subject_key.in_(subjects[start : start + 1000]))
                    .order_by(func.coalesce(Report.txn_at, Report.filed_at), Report.id)
                )
                documents.extend(session.scalars(statement))
    finally:
        engine.dispose()
    print(f"{len(outcomes)} investigator decisions as extra labels", file=sys.stderr)
    return dispositions_dataset(documents, outcomes)


def cmd_score(args: argparse.Namespace) -> int:
    """Scores a JSONL file of reports with the worker's feature and model code."""
    from amlscreen.backtest import score_reports
    from models.registry import ModelArtefactError, load_bundle
    from refdata.fx import FxRatesError, load_rates

    try:
        bundle = load_bundle(_model_path(args))
    except ModelArtefactError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rates_file = Path(args.fx_rates) if args.fx_rates else _settings().fx_rates_file
    try:
        rates = load_rates(rates_file)
    except FxRatesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from services.alerts.policy import AlertPolicy

    # The worker's alert policy (AMLSCREEN_ALERT_*), unless the command line overrides it.
    overrides: dict[str, Any] = {}
    if args.budget_per_day is not None:
        overrides.update(alert_budget_per_day=args.budget_per_day, alert_budget_share=None)
    if args.budget_share is not None:
        overrides.update(alert_budget_share=args.budget_share, alert_budget_per_day=None)
    if args.no_budget:
        overrides.update(alert_budget=False)
    policy = AlertPolicy.from_settings(_settings().model_copy(update=overrides))
    from models.rule_file import RuleFileError, load_rule_file

    # The worker's rules (AMLSCREEN_RULES_FILE), unless --rules names another file.
    try:
        rules = load_rule_file(Path(args.rules) if args.rules else _settings().rules_file)
    except RuleFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary = score_reports(
        Path(args.input),
        Path(args.output),
        bundle,
        threshold=args.threshold,
        policy=policy,
        rates=rates,
        rules=rules,
    )
    reports = max(summary["reports"], 1)
    print(
        f"{summary['reports']} reports scored with {bundle.version}: {summary['alerts']} reports"
        f" alerted ({1000 * summary['alerts'] / reports:.1f} per 1,000) into"
        f" {summary['episodes']} subject alerts ({1000 * summary['episodes'] / reports:.1f} per"
        f" 1,000), {summary['alerts_per_day']:.2f} alerts/day over {summary['days']:.1f} days"
        f" (model threshold {summary['threshold']:.3f}) → {args.output}",
        file=sys.stderr,
    )
    print(f"alerts/day by institution: {summary['alerts_per_day_by_institution']}", file=sys.stderr)
    print(f"alert policy: {summary['policy']}", file=sys.stderr)
    print(f"rules: {rules.describe()}", file=sys.stderr)
    if summary["threshold_versions"]:
        print(f"budget threshold versions: {summary['threshold_versions']}", file=sys.stderr)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluates the model on a held-out stream, or on shifted worlds (``--worlds N``)."""
    import json

    from amlscreen.evaluation import held_out
    from models.evaluate import EvaluationConfig, SeedReuseError, render
    from models.registry import ModelArtefactError, load_bundle
    from models.scoring import Scorer

    if args.challenger is not None:
        return _champion_challenger(args)
    if args.worlds is not None:
        return _evaluate_worlds(args)
    try:
        bundle = load_bundle(_model_path(args))
    except ModelArtefactError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    defaults = EvaluationConfig()
    config = EvaluationConfig(
        seed=defaults.seed if args.seed is None else args.seed,
        n_reports=args.n_reports or defaults.n_reports,
        budget_share=defaults.budget_share if args.budget is None else args.budget,
    )
    try:
        result = held_out(Scorer(bundle, threshold=args.threshold), config)
    except SeedReuseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(render(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


def _champion_challenger(args: argparse.Namespace) -> int:
    """``amlscreen evaluate --challenger NEW --data X --labels Y``: before promoting NEW."""
    import json

    from amlscreen.evaluation import champion_challenger, render_champion_challenger
    from models.registry import ModelArtefactError, load_bundle
    from services.alerts.policy import AlertPolicy

    if not args.data or not args.labels:
        print(
            "error: --challenger needs --data and --labels (the same recent data)", file=sys.stderr
        )
        return 2
    try:
        champion = load_bundle(_model_path(args))
        challenger = load_bundle(Path(args.challenger))
    except ModelArtefactError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = champion_challenger(
        champion,
        challenger,
        Path(args.data),
        Path(args.labels),
        policy=AlertPolicy.from_settings(_settings()),
    )
    print(render_champion_challenger(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


def _evaluate_worlds(args: argparse.Namespace) -> int:
    """``amlscreen evaluate --worlds N``: the shifted-world harness (amlscreen.evaluation)."""
    import json

    from amlscreen.evaluation import WorldOverlapError, WorldsConfig, evaluate_model_on_worlds
    from models.evaluate import render_worlds
    from models.registry import ModelArtefactError
    from services.alerts.policy import AlertPolicy

    if args.seed is not None or args.n_reports is not None or args.budget is not None:
        print("error: --seed, --n-reports and --budget apply without --worlds", file=sys.stderr)
        return 2
    if args.worlds < 1:
        print("error: --worlds must be at least 1", file=sys.stderr)
        return 2
    if args.worlds < 10:
        print(f"note: {args.worlds} worlds; acceptance figures need 10 or more", file=sys.stderr)
    config = WorldsConfig(
        worlds=args.worlds,
        first_seed=args.world_seed,
        reports_per_world=args.reports_per_world,
        days=args.days,
        cold_start_days=args.cold_start_days,
        short_world_days=args.short_world_days,
    )
    model = Path(args.model) if args.model else None
    if not args.train_worlds:
        model = model or _settings().effective_model_path
    try:
        result = evaluate_model_on_worlds(
            config,
            model=model,
            train_worlds=args.train_worlds,
            train_first_seed=args.train_world_seed,
            train_reports=args.train_reports,
            threshold=args.threshold,
            policy=AlertPolicy.from_settings(_settings()),
        )
    except (ModelArtefactError, WorldOverlapError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(render_worlds(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Synthetic labelled reports to a file, Kafka or HTTP (amlscreen.simulate)."""
    from amlscreen.simulate import run_command

    return run_command(args)


def _add_worlds_arguments(parser: argparse.ArgumentParser) -> None:
    from amlscreen.evaluation import FIRST_EVALUATION_WORLD, FIRST_TRAINING_WORLD, WorldsConfig

    worlds = parser.add_argument_group("shifted worlds (--worlds N; docs/detection.md)")
    worlds.add_argument(
        "--worlds", type=int, metavar="N", help="evaluate on N drawn worlds (10 or more)"
    )
    worlds.add_argument(
        "--world-seed",
        type=int,
        default=FIRST_EVALUATION_WORLD,
        metavar="S",
        help=(
            f"first evaluation world seed (default {FIRST_EVALUATION_WORLD:,}): worlds S..S+N-1,"
            " the short world S+N"
        ),
    )
    worlds.add_argument(
        "--reports-per-world",
        type=int,
        default=WorldsConfig.reports_per_world,
        metavar="R",
        help=f"reports of each world (default {WorldsConfig.reports_per_world:,})",
    )
    worlds.add_argument(
        "--days", type=int, default=WorldsConfig.days, help="days each world spans (default 60)"
    )
    worlds.add_argument(
        "--cold-start-days",
        type=int,
        default=WorldsConfig.cold_start_days,
        metavar="D",
        help="figures for the first D days apart from the rest (default 30)",
    )
    worlds.add_argument(
        "--short-world-days",
        type=int,
        default=WorldsConfig.short_world_days,
        metavar="D",
        help="one more world of D days (default 30; 0: none)",
    )
    worlds.add_argument(
        "--train-worlds",
        type=int,
        default=0,
        metavar="M",
        help="first train a model on M drawn worlds (written to --model if given)",
    )
    worlds.add_argument(
        "--train-world-seed",
        type=int,
        default=FIRST_TRAINING_WORLD,
        metavar="T",
        help=f"first training world seed (default {FIRST_TRAINING_WORLD})",
    )
    worlds.add_argument(
        "--train-reports",
        type=int,
        metavar="R",
        help="reports per training world (default: --reports-per-world)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amlscreen",
        description="Screen money-laundering risk in streams of financial reports.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Callable[[argparse.Namespace], int], text: str) -> Any:
        command = sub.add_parser(name, help=text, description=text)
        command.set_defaults(handler=handler)
        return command

    add("up", cmd_up, "API + worker (+ embedded broker, SQLite, default model) on one machine")
    add("api", cmd_api, "one API process")
    add("worker", cmd_worker, "one consumer worker (the scale-out unit)")
    add("broker", cmd_broker, "the embedded Kafka-compatible broker alone")

    from models.evaluate import EvaluationConfig
    from models.train import (
        DEFAULT_REPORTS_PER_TRAINING_WORLD,
        DEFAULT_TRAINING_WORLDS,
        TrainConfig,
    )

    train = add(
        "train", cmd_train, "train a model (synthetic or labelled data), write artefact + card"
    )
    train.add_argument("--data", help="reports JSONL (wire format) to train on")
    train.add_argument("--labels", help="labels JSONL: institution_id, report_id, typology")
    train.add_argument(
        "--seed",
        type=int,
        default=TrainConfig.seed,
        help="generator seed of the default world (--worlds 0)",
    )
    train.add_argument(
        "--n-reports",
        type=int,
        help=f"reports per world (default {DEFAULT_REPORTS_PER_TRAINING_WORLD:,}; with"
        f" --worlds 0, {TrainConfig.n_reports:,})",
    )
    train.add_argument("--out", help="artefact path (default: AMLSCREEN_MODEL_PATH)")
    train.add_argument(
        "--worlds",
        type=int,
        metavar="N",
        help=f"train on N worlds drawn from the priors, --n-reports each (default"
        f" {DEFAULT_TRAINING_WORLDS}; 0: the default world alone, the former default)",
    )
    train.add_argument(
        "--world-seed",
        type=int,
        default=1,
        metavar="S",
        help="first training world seed with --worlds (default 1: worlds 1..N)",
    )
    train.add_argument(
        "--fits",
        type=_at_least_one,
        default=1,
        metavar="K",
        help="average K complete fits with seeds SEED..SEED+K-1 (steadier ranking on"
        " populations never seen, K times the fitting and scoring cost; default 1)",
    )
    train.add_argument(
        "--with-dispositions",
        action="store_true",
        help="add investigators' filed / false-positive decisions from the database as labels",
    )
    score = add("score", cmd_score, "score a JSONL file of reports like the worker (backtest)")
    score.add_argument("input", metavar="IN.jsonl")
    score.add_argument("output", metavar="OUT.jsonl")
    score.add_argument("--model", help="artefact path (default: AMLSCREEN_MODEL_PATH)")
    score.add_argument("--threshold", type=float, help="alert threshold (default: the card's)")
    score.add_argument(
        "--fx-rates",
        metavar="FILE",
        help="exchange-rate table, CSV currency,units_per_usd"
        " (default: AMLSCREEN_FX_RATES_FILE, else the shipped approximate table)",
    )
    score.add_argument(
        "--rules",
        metavar="FILE",
        help="rule file (default: AMLSCREEN_RULES_FILE, else the shipped rules)",
    )
    budget = score.add_mutually_exclusive_group()
    budget.add_argument(
        "--budget-per-day",
        type=float,
        help="alert budget: alerts/day per institution (default AMLSCREEN_ALERT_BUDGET_PER_DAY)",
    )
    budget.add_argument(
        "--budget-share",
        type=float,
        help="alert budget: share of active subjects (default AMLSCREEN_ALERT_BUDGET_SHARE,"
        " else 0.005)",
    )
    budget.add_argument(
        "--no-budget",
        action="store_true",
        help="no alert budget: the model's threshold alone (AMLSCREEN_ALERT_BUDGET=false)",
    )
    evaluation = add(
        "evaluate",
        cmd_evaluate,
        "PR-AUC, recall per typology, vs rules-only, on a held-out seed; or, with --worlds N,"
        " subject-level figures on N shifted worlds the model never saw",
    )
    held = evaluation.add_argument_group("held-out stream (without --worlds)")
    held.add_argument("--seed", type=int, help=f"generator seed (default {EvaluationConfig.seed})")
    held.add_argument(
        "--n-reports", type=int, help=f"reports (default {EvaluationConfig.n_reports:,})"
    )
    held.add_argument(
        "--budget",
        type=float,
        help=f"alert budget as a share of reports (default {EvaluationConfig.budget_share})",
    )
    _add_worlds_arguments(evaluation)
    contest = evaluation.add_argument_group(
        "champion/challenger: a retrained model against the current one on the same data"
    )
    contest.add_argument(
        "--challenger", metavar="NEW.skops", help="the retrained model (the champion: --model)"
    )
    contest.add_argument("--data", help="recent reports JSONL (wire format)")
    contest.add_argument("--labels", help="their labels JSONL: institution_id, report_id, typology")
    evaluation.add_argument("--model", help="artefact path (default: AMLSCREEN_MODEL_PATH)")
    evaluation.add_argument("--threshold", type=float, help="alert threshold (default: the card's)")
    evaluation.add_argument("--json", help="also write every figure to this JSON file")
    from amlscreen.simulate import add_arguments as add_simulate_arguments

    add_simulate_arguments(
        add("simulate", cmd_simulate, "synthetic labelled reports to a file, Kafka or HTTP")
    )

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    upgrade = db.add_parser("upgrade", help="apply migrations")
    upgrade.set_defaults(handler=cmd_db_upgrade)

    token = sub.add_parser("token", help="API tokens").add_subparsers(
        dest="token_command", required=True
    )
    create = token.add_parser("create", help="print a new API token")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--institution", help="institution id (reporter tokens only)")
    create.add_argument("--label", help="free text to recognise the token by")
    create.add_argument(
        "--expires-in-days",
        type=float,
        metavar="DAYS",
        help="the token stops working after this many days (default: never)",
    )
    create.set_defaults(handler=cmd_token_create)
    listing = token.add_parser("list", help="list issued tokens (ids, roles, never the secrets)")
    listing.set_defaults(handler=cmd_token_list)
    revoke = token.add_parser("revoke", help="revoke a token by its id (see token list)")
    revoke.add_argument("token_id", type=int, metavar="ID")
    revoke.set_defaults(handler=cmd_token_revoke)

    watchlist = sub.add_parser("watchlist", help="sanctions and own watchlists").add_subparsers(
        dest="watchlist_command", required=True
    )
    load = watchlist.add_parser(
        "load",
        help="load a list file as the list's next version, then rescreen stored reports",
    )
    load.add_argument(
        "file", metavar="FILE", help="list file (for sdn-csv: sdn.csv or its directory)"
    )
    load.add_argument("--list", required=True, help="the list's name, e.g. ofac-sdn")
    load.add_argument(
        "--format",
        choices=["sdn-csv", "sdn-xml", "ftm", "csv"],
        help="default: from the file name (sdn.csv or a directory: sdn-csv; .xml: sdn-xml;"
        " .json/.jsonl: ftm; .csv: csv)",
    )
    load.add_argument("--no-rescreen", action="store_true", help="only queue the rescreen job")
    rescreen = watchlist.add_parser(
        "rescreen", help="run queued rescreen jobs (stored reports against the current lists)"
    )
    for command in (load, rescreen):
        command.add_argument(
            "--chunk", type=int, default=2000, help="reports per transaction (default 2000)"
        )
        command.add_argument(
            "--max-reports", type=int, help="stop after this many reports (resume later)"
        )
    load.set_defaults(handler=cmd_watchlist_load)
    rescreen.set_defaults(handler=cmd_watchlist_rescreen)
    profile = sub.add_parser("profile", help="the filing profile").add_subparsers(
        dest="profile_command", required=True
    )
    init = profile.add_parser("init", help="write a commented filing-profile template")
    init.add_argument("out", nargs="?", help="path (default: AMLSCREEN_FILING_PROFILE)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(handler=cmd_profile_init)
    profile_check = profile.add_parser(
        "check", help="validate a filing profile and say what each export still needs"
    )
    profile_check.add_argument("file", nargs="?", help="path (default: AMLSCREEN_FILING_PROFILE)")
    profile_check.set_defaults(handler=cmd_profile_check)
    rules = sub.add_parser("rules", help="the rule file").add_subparsers(
        dest="rules_command", required=True
    )
    rules_init = rules.add_parser(
        "init", help="write a commented rule file holding the shipped rules"
    )
    rules_init.add_argument("out", help="path of the new file")
    rules_init.add_argument("--force", action="store_true", help="overwrite an existing file")
    rules_init.set_defaults(handler=cmd_rules_init)
    rules_check = rules.add_parser(
        "check", help="validate a rule file and print the rules it gives"
    )
    rules_check.add_argument("file", nargs="?", help="path (default: AMLSCREEN_RULES_FILE)")
    rules_check.set_defaults(handler=cmd_rules_check)
    report = sub.add_parser("report", help="reports on the programme").add_subparsers(
        dest="report_command", required=True
    )
    programme = report.add_parser(
        "programme", help="the programme results report of a period (memorandum section 13)"
    )
    programme.add_argument(
        "--from", dest="date_from", required=True, type=date.fromisoformat, help="first day"
    )
    programme.add_argument(
        "--to", dest="date_to", required=True, type=date.fromisoformat, help="last day, included"
    )
    programme.add_argument("--out", required=True, help="FILE.csv or FILE.json")
    programme.set_defaults(handler=cmd_report_programme)

    ledger = sub.add_parser("ledger", help="the forfeiture-sharing ledger").add_subparsers(
        dest="ledger_command", required=True
    )
    check = ledger.add_parser("verify", help="verify the hash chain and balances")
    check.add_argument("--expect-seq", type=int, help="anchor: an entry seq from an earlier run")
    check.add_argument("--expect-hash", help="anchor: that entry's hash from the earlier run")
    check.add_argument("--balances", action="store_true", help="also print every balance")
    check.set_defaults(handler=cmd_ledger_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    install_redaction()  # database errors in logs: their kind only, never their values
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except ValidationError as error:
        if error.title != Settings.__name__:
            raise
        # A bad AMLSCREEN_* variable (or a file one names): say which, without a traceback.
        print("error: invalid AMLSCREEN_* settings:", file=sys.stderr)
        for problem in error.errors():
            field = ".".join(str(part) for part in problem["loc"])
            name = f"AMLSCREEN_{field.upper()}" if field else "settings"
            print(f"  {name}: {problem['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
