"""The `talapker` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from bot.config import Settings, SettingsError, load_settings


def _configure_logging(level: str, *, one_line: bool = False, fmt: str = "text") -> None:
    from observability.logs import configure_logging

    configure_logging(level, fmt, one_line=one_line)


def _cmd_start(settings: Settings, args: argparse.Namespace) -> int:
    if settings.bot_token is None:
        print("BOT_TOKEN is not set, so this is the console chat. Set BOT_TOKEN to go to Telegram.")
        return _cmd_chat(settings, args)
    return _cmd_run(settings, args)


def _cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    if settings.bot_token is None:
        print(
            "talapker: BOT_TOKEN is not set (try `talapker chat` for the console)", file=sys.stderr
        )
        return 2
    from bot.app import run

    role = getattr(args, "role", "all")
    if role == "web" and settings.is_sqlite:
        print(
            "talapker: --role web needs PostgreSQL (several web workers share one database);"
            " with SQLite use the default role",
            file=sys.stderr,
        )
        return 2
    _configure_logging(settings.log_level, fmt=settings.log_format)
    asyncio.run(run(settings, role))
    return 0


def _cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    from bot.console import run_console

    _configure_logging("WARNING", one_line=True)
    asyncio.run(run_console(settings, args.user_id, args.lang))
    return 0


def _cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    from storage.db import Database

    async def upgrade() -> str | None:
        database = Database(settings.database_url)
        try:
            await database.upgrade()
            return await database.current_revision()
        finally:
            await database.dispose()

    async def current() -> str | None:
        database = Database(settings.database_url)
        try:
            return await database.current_revision()
        finally:
            await database.dispose()

    if args.db_command == "upgrade":
        print(f"database at revision {asyncio.run(upgrade())}")
    elif args.db_command == "current":
        revision = asyncio.run(current())
        head = Database.head_revision()
        print(
            f"current {revision}, head {head}"
            + ("" if revision == head else " (run `talapker db upgrade`)")
        )
    elif args.db_command == "revision":
        from alembic import command

        from storage.db import alembic_config

        command.revision(
            alembic_config(settings.database_url), message=args.message, autogenerate=True
        )
    return 0


def _answer_json(route: Any, answer: Any) -> dict[str, Any]:
    return {
        "topic": route.topic,
        "confidence": route.confidence,
        # Which layer answered (rule, semantic, none) and why: the similarity to the nearest
        # labelled example and the runner-up topics, so a wrong answer can be explained.
        "layer": route.layer,
        "similarity": route.similarity,
        "runners_up": route.alternatives(),
        "lang": answer.lang,
        "entities": route.entities.as_dict(),
        "answer": answer.text,
        "sources": answer.sources(),
        "public_sources": answer.public_sources_json(),
    }


def _cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    import json
    from datetime import datetime

    from knowledge.base import KnowledgeError
    from knowledge.semantic import SemanticModelError
    from knowledge.service import Knowledge

    try:
        knowledge = Knowledge()
    except KnowledgeError as exc:
        print(f"talapker: knowledge data: {exc}", file=sys.stderr)
        return 1
    except SemanticModelError as exc:
        print(f"talapker: {exc}", file=sys.stderr)
        return 1
    today = datetime.now(settings.tz).date()
    questions = [args.question] if args.question else (line.strip() for line in sys.stdin)
    out = sys.stdout
    for question in questions:
        if not question:
            continue
        route = knowledge.route(question, default_lang="ru")
        answer = knowledge.renderer.answer(route, today, lang=args.lang)
        if args.json:
            out.write(json.dumps(_answer_json(route, answer), ensure_ascii=False) + "\n")
        else:
            out.write(f"[{route.topic} {route.confidence:.2f} {answer.lang}]\n{answer.text}\n\n")
    return 0


def _cmd_keleshek(settings: Settings, args: argparse.Namespace) -> int:
    import json
    from datetime import date, datetime

    from knowledge.base import KnowledgeError, load_knowledge
    from knowledge.keleshek import keleshek_projection
    from knowledge.rules import RuleInputError

    try:
        birth = date.fromisoformat(args.birth)
        as_of = date.fromisoformat(args.as_of) if args.as_of else datetime.now(settings.tz).date()
        kb = load_knowledge()
        projection = keleshek_projection(
            kb,
            birth=birth,
            as_of=as_of,
            monthly_mci=None if args.monthly_kzt is not None else args.monthly_mci,
            monthly_kzt=args.monthly_kzt,
            orphan=args.orphan,
            vulnerable=args.vulnerable,
            insurance=args.insurance,
            rate=args.rate,
            balance=args.balance,
            mci_growth=args.mci_growth,
        )
    except ValueError as exc:
        message = f"{exc.code} {exc.params}" if isinstance(exc, RuleInputError) else str(exc)
        print(f"talapker: {message}", file=sys.stderr)
        return 2
    except KnowledgeError as exc:
        print(f"talapker: knowledge data: {exc}", file=sys.stderr)
        return 1
    if args.chart:
        from charts.keleshek import projection_chart

        with open(args.chart, "wb") as handle:
            handle.write(projection_chart(projection, args.lang))
    if args.json:
        print(json.dumps(projection.as_json(), ensure_ascii=False))
        return 0
    columns = ("year", 4), ("age", 3), ("contributed", 12), ("interest", 12), ("bonus", 10)
    columns += ("capital", 10), ("balance", 13)
    print(" ".join(f"{name:>{width}}" for name, width in columns))
    for r in projection.rows:
        amounts = f"{r.contributed:>12,.0f} {r.interest:>12,.0f} {r.bonus:>10,.0f} "
        amounts += f"{r.start_capital:>10,.0f} {r.balance:>13,.0f}"
        print(f"{r.year:>4} {r.age:>3} {amounts}" + (" *" if r.below_minimum else ""))
    for name, value in projection.totals.items():
        print(f"{name}: {value:,.0f}")
    assumed = projection.assumptions["assumed_start_capital"]
    if assumed:
        credited = date(assumed["year"], assumed["month"], 1).strftime("%B %Y")
        print(
            f"includes the {assumed['mci']:g} MCI start capital ({assumed['amount']:,.0f} KZT)"
            f" credited in {credited}; enter your real balance (--balance) for an exact figure"
        )
    if projection.warnings:
        print("warnings: " + ", ".join(projection.warnings) + " (* = below 12 MCI in that year)")
    return 0


def _sender_stop_event() -> asyncio.Event:
    """Set on SIGTERM/SIGINT: the sender finishes the messages in flight and returns."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _drain(settings: Settings, campaign_id: int | None) -> int:
    from bot.app import create_bot
    from delivery.outbox import DeliveryWorker, campaign_stats, finish_campaigns
    from storage.db import Database

    database = Database(settings.database_url)
    await database.upgrade()
    bot = create_bot(settings)
    worker = DeliveryWorker(
        bot,
        database,
        rate=settings.delivery_rate,
        concurrency=settings.delivery_concurrency,
        max_attempts=settings.delivery_max_attempts,
    )
    stop = _sender_stop_event()
    try:
        await worker.run(stop, until_idle=True)
        await finish_campaigns(database)
        if campaign_id is not None:
            stats = await campaign_stats(database, campaign_id)
            print(
                f"campaign {campaign_id}: delivered {stats.sent}, blocked {stats.blocked}, "
                f"failed {stats.failed}, pending {stats.pending} of {stats.total}; "
                f"{stats.duration:.0f} s, {stats.rate:.1f} messages/s"
            )
        return 130 if stop.is_set() else 0
    finally:
        await bot.session.close()
        await database.dispose()


def _cmd_broadcast(settings: Settings, args: argparse.Namespace) -> int:
    from delivery.outbox import Audience, count_audience, enqueue
    from storage.db import Database

    audience = Audience(
        language=args.lang, role=args.role, region=args.region, settlement=args.settlement
    )

    async def main() -> int:
        database = Database(settings.database_url)
        await database.upgrade()
        try:
            count = await count_audience(database, audience)
            print(f"recipients: {count}")
            if args.dry_run or count == 0:
                return 0
            campaign, _ = await enqueue(
                database, kind="broadcast", texts={"*": args.text}, audience=audience
            )
            print(f"campaign {campaign.id} queued")
        finally:
            await database.dispose()
        if args.enqueue_only:
            return 0
        if settings.bot_token is None:
            print("talapker: BOT_TOKEN is not set; the running bot will send it", file=sys.stderr)
            return 0
        return await _drain(settings, campaign.id)

    _configure_logging("WARNING")
    return asyncio.run(main())


def _cmd_outbox(settings: Settings, args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from storage.db import Database
    from storage.models import OutboxMessage

    _configure_logging("WARNING")
    if args.outbox_command == "drain":
        if settings.bot_token is None:
            print("talapker: BOT_TOKEN is not set", file=sys.stderr)
            return 2
        return asyncio.run(_drain(settings, None))

    async def status() -> None:
        database = Database(settings.database_url)
        try:
            async with database.session() as session:
                rows = (
                    await session.exec(
                        sa.select(OutboxMessage.status, sa.func.count()).group_by(
                            OutboxMessage.status
                        )
                    )
                ).all()
            print(" ".join(f"{name}={count}" for name, count in sorted(rows)) or "empty")
        finally:
            await database.dispose()

    asyncio.run(status())
    return 0


def _cmd_calendar(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import datetime
    from pathlib import Path

    import sqlalchemy as sa

    from i18n import I18n
    from knowledge.base import load_knowledge
    from scheduler.calendar_io import CalendarFileError, export_calendar, import_calendar
    from scheduler.reminders import seed_calendar
    from storage.db import Database
    from storage.models import CalendarEntry

    async def main() -> int:
        database = Database(settings.database_url)
        await database.upgrade()
        try:
            await seed_calendar(database, load_knowledge(settings.knowledge_dir))
            if args.calendar_command == "import":
                try:
                    result = await import_calendar(database, Path(args.file), I18n())
                except (CalendarFileError, OSError) as exc:
                    print(f"talapker: {exc}", file=sys.stderr)
                    return 1
                print(f"imported: {result.added} added, {result.updated} updated")
                for key in result.confirmed:
                    print(f"confirmed: {key} (its watchers are told once)")
                print("a running bot reschedules its reminders within a minute")
                return 0
            async with database.session() as session:
                entries = list(
                    (
                        await session.exec(
                            sa.select(CalendarEntry).order_by(CalendarEntry.starts_on)
                        )
                    ).scalars()
                )
            if args.calendar_command == "export":
                print(export_calendar(entries), end="")
                return 0
            lang = args.lang or settings.default_language
            i18n = I18n()
            for e in entries:
                when = e.starts_on.isoformat() + (
                    f" – {e.ends_on.isoformat()}" if e.ends_on else ""
                )
                past = (e.ends_on or e.starts_on) < datetime.now(settings.tz).date()
                status = i18n.plain(
                    lang,
                    "fixes.calendar."
                    + ("confirmed" if e.confirmed else "unconfirmed" if past else "expected"),
                )
                line = f"{when:<25} {e.type:<18} {status:<30} {e.titles.get(lang, e.key)}"
                if e.basis.get(lang):
                    line += " · " + i18n.plain(lang, "fixes.calendar.basis", basis=e.basis[lang])
                print(line)
            return 0
        finally:
            await database.dispose()

    return asyncio.run(main())


def _cmd_kb(settings: Settings, args: argparse.Namespace) -> int:
    from collections import Counter
    from pathlib import Path

    from knowledge.base import KnowledgeError, load_knowledge

    if args.kb_command == "eval":
        from knowledge.evaluation import evaluate, format_report
        from knowledge.router import Router
        from knowledge.semantic import SemanticModelError
        from knowledge.service import Knowledge

        try:
            if args.rules_only:
                router = Router(load_knowledge())
                report = evaluate(router.route, Path(args.file))
            else:
                knowledge = Knowledge()
                report = evaluate(lambda q: knowledge.route(q, default_lang="ru"), Path(args.file))
        except (KnowledgeError, SemanticModelError, OSError, ValueError) as exc:
            print(f"talapker: {exc}", file=sys.stderr)
            return 1
        print(format_report(report, show_errors=args.errors))
        return 0
    if args.kb_command == "check":
        try:
            kb = load_knowledge(Path(args.data) if args.data else None)
        except KnowledgeError as exc:
            print(exc, file=sys.stderr)
            return 1
        counts = Counter(fact.confidence.value for _, fact in kb.facts())
        summary = ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))
        print(f"OK: {sum(counts.values())} facts in {kb.source_dir} ({summary})")
    return 0


def _cmd_scores(settings: Settings, args: argparse.Namespace) -> int:
    """`talapker scores GROUP …` looks up passing scores; `talapker scores import FILE` adds a
    year. The logic is in knowledge.scores_report; this only parses and prints."""
    import json
    from pathlib import Path

    from knowledge.base import KnowledgeError, data_dir, load_knowledge
    from knowledge.scores import ScoresError
    from knowledge.scores_report import StaffQuery, format_text, resolve, rows_as_dicts, run_import

    try:
        if args.target == "import":
            if not args.file or args.year is None:
                print("talapker: usage: talapker scores import FILE --year YYYY", file=sys.stderr)
                return 2
            report = run_import(
                data_dir(), Path(args.file), args.year, dry_run=args.dry_run, section=args.section
            )
            print(report)
            return 0
        kb = load_knowledge()
        query = StaffQuery(args.target, args.university, args.year, args.quota)
        view = resolve(kb.grant_scores, query)
    except (ScoresError, KnowledgeError) as exc:
        print(f"talapker: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows_as_dicts(kb.grant_scores, view), ensure_ascii=False, indent=1))
    else:
        print(format_text(view))
    return 0


def _cmd_examples(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from knowledge.base import DEFAULT_DATA_DIR
    from knowledge.schema import TOPICS
    from knowledge.semantic import (
        EXAMPLES_FILE,
        VECTORS_FILE,
        SemanticModelError,
        VectorStore,
        keyword_examples,
        read_examples,
        shared_embedder,
        vector_store,
        write_examples,
    )

    if args.examples_command == "export":
        from storage.db import Database
        from storage.taught import taught_examples

        async def load() -> list[Any]:
            database = Database(settings.database_url)
            await database.upgrade()
            try:
                async with database.session() as session:
                    return await taught_examples(session)
            finally:
                await database.dispose()

        taught = asyncio.run(load())
        target = Path(args.file)
        try:
            kept = read_examples(target, TOPICS) if target.exists() else []
        except (OSError, ValueError, KeyError) as exc:
            print(f"talapker: {target}: {exc}", file=sys.stderr)
            return 1
        written = write_examples(target, [*kept, *taught])
        print(f"taught examples: {len(taught)}; examples in {target}: {written}")
        if target.resolve().parent == DEFAULT_DATA_DIR.resolve():
            print("run `talapker examples embed` before committing (it refreshes the vectors)")
        return 0
    # embed: the vectors shipped beside the examples, so a process does not embed them at start
    from knowledge.base import load_knowledge

    directory = Path(args.data) if args.data else DEFAULT_DATA_DIR
    try:
        examples = read_examples(directory / EXAMPLES_FILE, TOPICS)
        examples += keyword_examples(load_knowledge(directory).router.topics)
        embedder = shared_embedder()
    except (OSError, ValueError, KeyError, SemanticModelError) as exc:
        print(f"talapker: {exc}", file=sys.stderr)
        return 1
    texts = list(dict.fromkeys(e.text for e in examples))
    matrix = vector_store(None).matrix(texts, embedder)
    VectorStore.save(directory / VECTORS_FILE, texts, matrix)
    print(f"{len(texts)} example vectors written to {directory / VECTORS_FILE}")
    return 0


def _cmd_tickets(settings: Settings, args: argparse.Namespace) -> int:
    """The admissions office's queue without Telegram (see handlers/handoff.py)."""
    from datetime import UTC, datetime

    from delivery import tickets
    from handlers.handoff import reply_without_telegram
    from i18n import I18n
    from storage.db import Database
    from storage.models import Ticket

    def stamp(moment: datetime) -> str:
        return moment.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")

    async def main() -> int:
        database = Database(settings.database_url)
        await database.upgrade()
        try:
            if args.tickets_command == "reply":
                outcome = await reply_without_telegram(
                    database, I18n(), args.id, args.text, close=args.close
                )
                messages = {
                    "sent": f"reply to ticket #{args.id} queued",
                    "closed": f"ticket #{args.id} closed (the applicant is told)",
                    "missing": f"talapker: no ticket #{args.id}",
                    "not_open": f"talapker: ticket #{args.id} is closed",
                }
                print(
                    messages[outcome],
                    file=sys.stdout if outcome in ("sent", "closed") else sys.stderr,
                )
                if outcome in ("sent", "closed"):
                    print("the running bot (or `talapker chat`) delivers it within seconds")
                return 0 if outcome in ("sent", "closed") else 1
            async with database.session() as session:
                if args.tickets_command == "list":
                    rows = await tickets.list_open(session)
                    now = datetime.now(UTC)
                    for t in rows:
                        hours = (now - t.created_at).total_seconds() / 3600
                        print(
                            f"#{t.id:<5} {hours:6.1f} h  {t.lang}  {t.reason:<9} "
                            f"{(t.taken_by_name or '-')[:16]:<16} {t.question[:70]}"
                        )
                    print(f"{len(rows)} open")
                    return 0
                ticket = await session.get(Ticket, args.id)
                if ticket is None:
                    print(f"talapker: no ticket #{args.id}", file=sys.stderr)
                    return 1
                print(f"ticket #{ticket.id} ({ticket.status}), {ticket.lang}, {ticket.reason}")
                print(f"opened {stamp(ticket.created_at)}; question: {ticket.question}")
                for message in await tickets.messages_of(session, ticket.id or 0):
                    who = "applicant" if message.direction == "in" else "office"
                    body = message.text or "(a photo, document or other attachment)"
                    print(f"  {stamp(message.created_at)} {who}: {body}")
                return 0
        finally:
            await database.dispose()

    _configure_logging("WARNING")
    return asyncio.run(main())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="talapker", description="Talapker admissions assistant")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run", help="run the bot: polling, or a webhook server when WEBHOOK_URL is set"
    )
    run.add_argument(
        "--role",
        choices=["all", "web", "worker"],
        default="all",
        help="web: webhook workers that only handle updates; worker: the scheduler and the "
        "outbox sender (one active, others stand by); all (default): everything in one process",
    )
    run.set_defaults(handler=_cmd_run)

    chat = sub.add_parser("chat", help="talk to the bot in this terminal (no token needed)")
    start = sub.add_parser("start", help="`run` when BOT_TOKEN is set, otherwise `chat`")
    for parser_ in (chat, start):
        parser_.add_argument(
            "--user-id", type=int, default=100, help="your user id in the console chat"
        )
        parser_.add_argument(
            "--lang", choices=["kk", "ru", "en"], default=None, help="your Telegram app language"
        )
    chat.set_defaults(handler=_cmd_chat)
    start.set_defaults(handler=_cmd_start)

    db = sub.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply pending migrations")
    db_sub.add_parser("current", help="show the current and the latest revision")
    revision = db_sub.add_parser(
        "revision", help="write a migration from changes in storage/models.py"
    )
    revision.add_argument("message")
    db.set_defaults(handler=_cmd_db)

    kb = sub.add_parser("kb", help="the knowledge base: check the data files")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    check = kb_sub.add_parser("check", help="validate every data file; exit 1 at the first problem")
    check.add_argument("--data", help="data folder (default: KNOWLEDGE_DIR or the shipped data)")
    evaluate = kb_sub.add_parser(
        "eval", help="topic accuracy per language and topic on a labelled file"
    )
    evaluate.add_argument("file", help="TSV with columns lang, topic, question")
    evaluate.add_argument("--errors", action="store_true", help="list the misrouted questions")
    evaluate.add_argument(
        "--rules-only", action="store_true", help="the keyword rules alone, without the examples"
    )
    kb.set_defaults(handler=_cmd_kb)

    examples = sub.add_parser("examples", help="the labelled questions behind question matching")
    examples_sub = examples.add_subparsers(dest="examples_command", required=True)
    export = examples_sub.add_parser(
        "export", help="merge the questions staff taught (database) into an examples file"
    )
    export.add_argument(
        "file",
        nargs="?",
        default="knowledge/data/examples.tsv",
        help="TSV with columns lang, topic, question (default: knowledge/data/examples.tsv)",
    )
    embed = examples_sub.add_parser(
        "embed", help="recompute the example vectors shipped with the data (after editing)"
    )
    embed.add_argument("--data", help="data folder (default: the shipped data)")
    examples.set_defaults(handler=_cmd_examples)

    ask = sub.add_parser("ask", help="answer a question (or one per line from stdin)")
    ask.add_argument("question", nargs="?", help="the question; omit to read questions from stdin")
    ask.add_argument(
        "--lang", choices=["kk", "ru", "en"], help="answer language (default: the question's)"
    )
    ask.add_argument("--json", action="store_true", help="one JSON object per answer")
    ask.set_defaults(handler=_cmd_ask)

    scores = sub.add_parser(
        "scores",
        help="grant passing scores of past years: `scores B057 --university КазНУ`, "
        "`scores import FILE --year 2027`",
    )
    scores.add_argument("target", help="a programme group (B057) or `import`")
    scores.add_argument(
        "file", nargs="?", help="with `import`: a results CSV or the Ministry's PDF"
    )
    scores.add_argument("--university", help="national code (27) or name (КазНУ)")
    scores.add_argument("--year", type=int, help="admission year (default: the newest)")
    scores.add_argument("--quota", help="general, rural, social, western, … (default: all)")
    scores.add_argument("--json", action="store_true", help="a JSON list of rows")
    scores.add_argument(
        "--dry-run", action="store_true", help="with `import`: show what would change"
    )
    scores.add_argument(
        "--section", default="GENERAL", help="with `import` of a PDF: its order (HEALTH_MINISTRY…)"
    )
    scores.set_defaults(handler=_cmd_scores)

    broadcast = sub.add_parser("broadcast", help="send a text to a segment of users")
    broadcast.add_argument("--text", required=True, help="the message (Telegram HTML allowed)")
    broadcast.add_argument(
        "--lang", choices=["kk", "ru", "en"], help="only users with this language"
    )
    broadcast.add_argument(
        "--role", choices=["applicant", "parent", "staff"], help="only this role"
    )
    broadcast.add_argument("--region", help="only this home region (code, e.g. turkistan)")
    broadcast.add_argument(
        "--settlement", choices=["city", "rural"], help="only city or rural users"
    )
    broadcast.add_argument("--dry-run", action="store_true", help="only count the recipients")
    broadcast.add_argument(
        "--enqueue-only", action="store_true", help="leave sending to the running bot"
    )
    broadcast.set_defaults(handler=_cmd_broadcast)

    calendar = sub.add_parser("calendar", help="the admission calendar behind reminders")
    calendar_sub = calendar.add_subparsers(dest="calendar_command", required=True)
    calendar_list = calendar_sub.add_parser("list", help="print the calendar")
    calendar_list.add_argument("--lang", choices=["kk", "ru", "en"])
    calendar_import = calendar_sub.add_parser(
        "import", help="add or update events from a YAML file"
    )
    calendar_import.add_argument("file")
    calendar_sub.add_parser("export", help="print the calendar as YAML (the import format)")
    calendar.set_defaults(handler=_cmd_calendar)

    outbox = sub.add_parser("outbox", help="the delivery queue")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True)
    outbox_sub.add_parser("drain", help="send everything due, then exit (resumes after a crash)")
    outbox_sub.add_parser("status", help="count the queued messages by status")
    outbox.set_defaults(handler=_cmd_outbox)

    tickets = sub.add_parser("tickets", help="questions handed to the admissions office")
    tickets_sub = tickets.add_subparsers(dest="tickets_command", required=True)
    tickets_sub.add_parser("list", help="open tickets, oldest first")
    tickets_show = tickets_sub.add_parser("show", help="a ticket with its messages")
    tickets_show.add_argument("id", type=int)
    tickets_reply = tickets_sub.add_parser("reply", help="answer a ticket (the bot sends it)")
    tickets_reply.add_argument("id", type=int)
    tickets_reply.add_argument("text", nargs="?", default="", help="the answer (HTML allowed)")
    tickets_reply.add_argument("--close", action="store_true", help="then close the ticket")
    tickets.set_defaults(handler=_cmd_tickets)

    keleshek = sub.add_parser("keleshek", help="project Keleshek education savings to age 18")
    keleshek.add_argument("--birth", required=True, help="child's birth date, YYYY-MM-DD")
    keleshek.add_argument(
        "--monthly-mci", type=float, default=1.0, help="monthly contribution in MCI"
    )
    keleshek.add_argument("--monthly-kzt", type=float, help="monthly contribution in tenge instead")
    keleshek.add_argument("--orphan", action="store_true", help="orphan / without parental care")
    keleshek.add_argument("--vulnerable", action="store_true", help="socially vulnerable family")
    keleshek.add_argument(
        "--insurance", action="store_true", help="an insurance contract (tax benefit)"
    )
    keleshek.add_argument("--rate", type=float, help="yearly rate as a fraction (default 0.08)")
    keleshek.add_argument(
        "--balance",
        type=float,
        help="current balance, tenge (default: not known; a start capital already credited is"
        " assumed to be the balance)",
    )
    keleshek.add_argument(
        "--mci-growth", type=float, default=0.05, help="MCI growth after known years"
    )
    keleshek.add_argument("--as-of", help="projection start date, YYYY-MM-DD (default today)")
    keleshek.add_argument(
        "--json", action="store_true", help="rows, totals and assumptions as JSON"
    )
    keleshek.add_argument("--chart", help="also write the chart to this PNG file")
    keleshek.add_argument("--lang", choices=["kk", "ru", "en"], default="en", help="chart language")
    keleshek.set_defaults(handler=_cmd_keleshek)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"talapker: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.handler(settings, args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from knowledge.semantic import SemanticModelError  # numpy only when it is needed

        if not isinstance(exc, SemanticModelError):
            raise
        # Never a bot that quietly answers by keywords only.
        print(f"talapker: cannot start: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
