"""Load: realistic updates through the webhook into 1 and then 2 web workers on PostgreSQL,
against a bare aiogram echo bot on the same harness.

    python bench/load.py [--updates 20000] [--users 100000] [--concurrency 16] [--repeat 1]
                         [--database-url postgresql+asyncpg://postgres@127.0.0.1:54329/talapker_bench]

The database (PostgreSQL; its contents are replaced) is filled with --users users first, so a
worker's memory is measured against a realistic table. The stand-in Bot API server runs in a
process of its own and answers every call; each web worker is a real `talapker run --role web`
process. The load generator keeps --concurrency conversations in flight per worker, each one
in order (the next update of a person is posted after the previous one was answered, as
Telegram does), and spreads each conversation's updates over the workers round-robin, so wizard
state must cross workers. The workload, per 10 updates of one person: onboarding (/start and
four buttons) then questions, a UNT check (menu, subject pair, a typed score) then questions,
or ten questions; questions come from tests/data/questions.tsv in kk, ru and en; half the
people exist in the database already.

Printed per run: throughput (updates/s), handler latency p50/p99 (from each worker's access
log: update in, handler done), end-to-end latency p50/p99 (POST to 200), peak RSS per worker.
With --repeat N the four runs are repeated N times, round after round, so every Talapker run
has its baselines beside it; then the median of each figure is printed, and the last line is
made of the per-round medians.

The echo bot: aiogram's Dispatcher with one echo handler, the same webhook handler and the
same access-log middleware. Last line:
ratio_vs_echo=<x> p99_ms=<y> two_worker_speedup=<z> rss_mb=<m>
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:54329/talapker_bench"
TOKEN = "123456:TEST-token_for-stub"
SECRET = "bench-secret"
TALAPKER = str(Path(sys.executable).with_name("talapker"))
WARMUP_IDS = 10**8  # warm-up updates are numbered from here
REGIONS = ["turkistan", "almaty_region", "zhambyl", "kyzylorda", "abai", "karaganda"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------------- helper processes
async def serve_stub(port: int) -> None:
    """The stand-in Bot API in its own process, so it does not share the generator's loop."""
    from tests.botapi_stub import StubBotAPI

    stub = StubBotAPI(TOKEN)
    stub.calls = _CountingList()  # type: ignore[assignment]  (20,000 updates: keep counts only)
    await stub.start(port=port)
    print("ready", flush=True)
    await asyncio.Event().wait()


class _CountingList(list):  # type: ignore[type-arg]
    def append(self, call: Any) -> None:
        pass


async def serve_echo(port: int, in_response: bool = False) -> None:
    """A bare aiogram echo bot behind the same webhook handler and access-log middleware.
    With `in_response` it returns its reply for the webhook response instead of sending it,
    as Talapker does with answers to questions: the fairer baseline for that trick."""
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import CallbackQuery, Message
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler
    from aiohttp import web

    from observability.logs import configure_logging
    from observability.metrics import HandlerNameMiddleware, Metrics, UpdateMetricsMiddleware

    configure_logging("INFO", "json")
    api = os.environ["BOT_API_URL"]
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api)))
    dispatcher = Dispatcher()
    dispatcher.update.outer_middleware(UpdateMetricsMiddleware(Metrics()))
    dispatcher.message.middleware(HandlerNameMiddleware())

    @dispatcher.message()
    async def echo(message: Message) -> Any:
        if in_response:
            return message.answer(message.text or "?")
        await message.answer(message.text or "?")
        return None

    @dispatcher.callback_query()
    async def press(callback: CallbackQuery) -> None:
        await callback.answer()
        await bot.send_message(callback.from_user.id, callback.data or "?")

    app = web.Application()
    SimpleRequestHandler(
        dispatcher=dispatcher, bot=bot, secret_token=SECRET, handle_in_background=False
    ).register(app, path="/webhook")
    runner = web.AppRunner(app, access_log=None)  # as Talapker's: only the update's own line
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    await bot.session.close()


# ---------------------------------------------------------------------- workload
@dataclass
class Workload:
    conversations: list[list[dict[str, Any]]]

    @property
    def updates(self) -> int:
        return sum(len(c) for c in self.conversations)


def build_workload(updates: int, users: int, seed: int = 7) -> Workload:
    rng = random.Random(seed)
    with (ROOT / "tests/data/questions.tsv").open(encoding="utf-8") as handle:
        questions = [
            (row["lang"], row["question"]) for row in csv.DictReader(handle, delimiter="\t")
        ]
    update_ids = iter(range(1, 10**9))
    message_ids = iter(range(1, 10**9))

    def user(uid: int, lang: str) -> dict[str, Any]:
        return {"id": uid, "is_bot": False, "first_name": "A", "language_code": lang}

    def text(uid: int, lang: str, body: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(message_ids),
            "date": int(time.time()),
            "chat": {"id": uid, "type": "private"},
            "from": user(uid, lang),
            "text": body,
        }
        if body.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(body)}]
        return {"update_id": next(update_ids), "message": message}

    def press(uid: int, lang: str, data: str) -> dict[str, Any]:
        shown = {
            "message_id": next(message_ids),
            "date": int(time.time()),
            "chat": {"id": uid, "type": "private"},
            "from": {"id": 123456, "is_bot": True, "first_name": "Talapker"},
            "text": "…",
        }
        query = {
            "id": str(next(message_ids)),
            "from": user(uid, lang),
            "chat_instance": str(uid),
            "data": data,
            "message": shown,
        }
        return {"update_id": next(update_ids), "callback_query": query}

    conversations: list[list[dict[str, Any]]] = []
    for n in range(updates // 10):
        # Half are people already in the database (ids 1..users), half are new.
        uid = rng.randint(1, users) if n % 2 else users + 1 + n
        lang, _ = rng.choice(questions)
        asked = rng.sample(questions, 10)
        kind = n % 10
        if kind < 3:
            steps = [
                text(uid, lang, "/start"),
                press(uid, lang, f"lang:{lang}"),
                press(uid, lang, "role:applicant"),
                press(uid, lang, f"region:{rng.choice(REGIONS)}"),
                press(uid, lang, "settle:rural"),
            ]
        elif kind < 6:
            steps = [
                press(uid, lang, "menu:unt"),
                press(uid, lang, "pair:mathematics+informatics"),
                text(uid, lang, str(rng.randint(50, 140))),
            ]
        else:
            steps = []
        steps += [text(uid, q_lang, q) for q_lang, q in asked[: 10 - len(steps)]]
        conversations.append(steps)
    return Workload(conversations)


# ---------------------------------------------------------------------- runs
@dataclass
class RunResult:
    name: str
    updates: int
    seconds: float
    e2e_ms: list[float]
    handler_ms: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    failures: int = 0
    cpu_ms_per_update: float = 0.0  # web worker CPU (all workers together)

    @property
    def throughput(self) -> float:
        return self.updates / self.seconds


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_of(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} never came up")
            await asyncio.sleep(0.2)


async def start_workers(
    kind: str, count: int, env: dict[str, str], log_dir: Path, profile: Path | None = None
) -> list[tuple[Any, int, Path]]:
    """Worker processes; each one's log goes to a file (a pipe would fill up and stall it)."""
    workers = []
    for n in range(count):
        port = free_port()
        worker_env = env | {"WEBHOOK_PORT": str(port), "WEBHOOK_HOST": "127.0.0.1"}
        if kind.startswith("echo"):
            mode = "--serve-echo-in-response" if kind == "echo-in-response" else "--serve-echo"
            command = [sys.executable, __file__, mode, str(port)]
        else:
            command = [TALAPKER, "run", "--role", "web"]
            if profile is not None:
                # py-spy starts the worker itself: attaching to a busy one can stall it.
                spy = str(Path(sys.executable).with_name("py-spy"))
                command = [spy, "record", "-r", "200", "-f", "raw", "-o", str(profile), "--"]
                command += [TALAPKER, "run", "--role", "web"]
        log = log_dir / f"{kind}-{count}-{n}.log"
        with log.open("wb") as log_file:
            process = await asyncio.create_subprocess_exec(
                *command, env=worker_env, stdout=subprocess.DEVNULL, stderr=log_file
            )
        workers.append((process, port, log))
    for _, port, _ in workers:
        await wait_ready(
            f"http://127.0.0.1:{port}/healthz"
            if kind == "talapker"
            else f"http://127.0.0.1:{port}/"
        )
    return workers


async def drive(
    ports: list[int], workload: Workload, concurrency: int
) -> tuple[float, list[float], int]:
    """Post every conversation's updates in order; `concurrency` conversations at a time."""
    urls = [f"http://127.0.0.1:{port}/webhook" for port in ports]
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    pending = list(enumerate(workload.conversations))
    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def conversation_runner() -> None:
            nonlocal failures
            while pending:
                index, steps = pending.pop()
                for step_no, update in enumerate(steps):
                    url = urls[(index + step_no) % len(urls)]
                    started = time.perf_counter()
                    async with http.post(url, json=update, headers=headers) as response:
                        await response.read()
                        if response.status != 200:
                            failures += 1
                    latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(conversation_runner() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, failures


async def one_run(
    name: str,
    kind: str,
    workers: int,
    workload: Workload,
    concurrency: int,
    env: dict[str, str],
    log_dir: Path,
    profile: Path | None = None,
) -> RunResult:
    processes = await start_workers(kind, workers, env, log_dir, profile)
    ports = [port for _, port, _ in processes]
    try:
        warmup = build_workload(400, 1000, seed=99)
        for conversation in warmup.conversations:  # fresh ids, so they do not collide
            for update in conversation:
                update["update_id"] += WARMUP_IDS
        await drive(ports, warmup, concurrency * workers)
        cpu_before = sum(cpu_seconds(process.pid) for process, _, _ in processes)
        seconds, latencies, failures = await drive(ports, workload, concurrency * workers)
        cpu = sum(cpu_seconds(process.pid) for process, _, _ in processes) - cpu_before
        rss = [rss_of(process.pid)[1] for process, _, _ in processes]
    finally:
        for process, _, _ in processes:
            # py-spy writes its samples on SIGINT, then stops the worker it started.
            process.send_signal(signal.SIGINT if profile else signal.SIGTERM)
        for process, _, _ in processes:
            await process.wait()
    logs = [log.read_text(encoding="utf-8", errors="replace") for _, _, log in processes]
    handler_ms = []
    for log in logs:
        for line in log.splitlines():
            if line.startswith("{") and '"duration_ms"' in line:
                entry = json.loads(line)
                if entry.get("update_id", WARMUP_IDS) < WARMUP_IDS:  # not the warm-up
                    handler_ms.append(entry["duration_ms"])
    return RunResult(
        name,
        workload.updates,
        seconds,
        latencies,
        handler_ms,
        rss,
        failures,
        cpu * 1000 / workload.updates,
    )


async def prepare_database(url: str, users: int) -> None:
    import sqlalchemy as sa

    from storage.db import Database

    database = Database(url)
    async with database.engine.begin() as connection:
        await connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        await connection.execute(sa.text("CREATE SCHEMA public"))
    await database.upgrade()
    async with database.engine.begin() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO users (id, language, role, region, settlement, onboarded,"
                " staff_granted, is_active, reminder_leads, waking_from, waking_until,"
                " created_at, last_seen_at) SELECT g, (ARRAY['kk','ru','en'])[1 + g % 3],"
                " 'applicant', 'turkistan', 'rural', true, false, true, '7,1', 9, 21,"
                " now() - interval '1 day', now() - interval '1 day'"
                " FROM generate_series(1, :n) AS g"
            ),
            {"n": users},
        )
    await database.dispose()


def report(result: RunResult) -> None:
    print(
        f"{result.name:<22} {result.throughput:8.0f} upd/s   handler p50 "
        f"{percentile(result.handler_ms, 0.5):6.2f} ms  "
        f"p99 {percentile(result.handler_ms, 0.99):6.2f} ms"
        f"   end-to-end p50 {percentile(result.e2e_ms, 0.5):6.1f} ms  p99 "
        f"{percentile(result.e2e_ms, 0.99):6.1f} ms   peak RSS "
        + "/".join(f"{mb:.0f}" for mb in result.rss_mb)
        + f" MB   worker CPU {result.cpu_ms_per_update:.2f} ms/update   non-200: {result.failures}",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    stub_port = free_port()
    stub = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve-stub", str(stub_port), stdout=subprocess.PIPE
    )
    assert stub.stdout is not None
    await stub.stdout.readline()
    try:
        print(f"filling the database with {args.users:,} users…", flush=True)
        await prepare_database(args.database_url, args.users)
        workload = build_workload(args.updates, args.users)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("BOT_", "WEBHOOK_", "DATABASE_", "REDIS_"))
        } | {
            "BOT_TOKEN": TOKEN,
            "BOT_API_URL": f"http://127.0.0.1:{stub_port}",
            "DATABASE_URL": args.database_url,
            "WEBHOOK_SECRET": SECRET,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            # A load test is one sender per conversation at machine speed, not a flood.
            "THROTTLE_BURST": "100000",
        }
        print(
            f"{workload.updates:,} updates in {len(workload.conversations):,} conversations, "
            f"{args.concurrency} in flight per worker, {os.cpu_count()} CPUs",
            flush=True,
        )
        runs = [
            ("echo bot, 1 worker", "echo", 1),
            ("echo in response, 1", "echo-in-response", 1),
            ("talapker, 1 worker", "talapker", 1),
            ("talapker, 2 workers", "talapker", 2),
        ]
        if args.profile:
            await profile_run(args, workload, env)
            return
        if args.talapker_only:
            runs = [("talapker, 1 worker", "talapker", 1)]
        rounds: list[dict[str, RunResult]] = []
        log_dir = tempfile.mkdtemp(prefix="talapker-load-")
        for round_number in range(args.repeat):
            if args.repeat > 1:
                print(f"round {round_number + 1} of {args.repeat}", flush=True)
            results = {}
            for name, kind, workers in runs:
                if kind == "talapker":
                    # Each run starts from the same database: onboarding is new for everyone.
                    await prepare_database(args.database_url, args.users)
                run_logs = Path(log_dir) / f"round-{round_number + 1}"
                run_logs.mkdir(exist_ok=True)
                result = await one_run(
                    name, kind, workers, workload, args.concurrency, env, run_logs
                )
                results[name] = result
                report(result)
            rounds.append(results)
    finally:
        stub.send_signal(signal.SIGTERM)
        await stub.wait()
    if len(rounds) > 1:
        print(f"median of {len(rounds)} rounds (each figure on its own)", flush=True)
        for name, _, _ in runs:
            report_median(name, [results[name] for results in rounds])
    if args.talapker_only:
        return
    summaries = [summarise(*(results[name] for name, _, _ in runs)) for results in rounds]
    middle = {key: statistics.median(s[key] for s in summaries) for key in summaries[0]}
    print(
        "talapker (1 worker) / echo replying in the webhook response: "
        f"{middle['ratio_in_response']:.2f}"
    )
    print(
        f"ratio_vs_echo={middle['ratio']:.2f} p99_ms={middle['p99']:.1f} "
        f"two_worker_speedup={middle['speedup']:.2f} rss_mb={middle['rss']:.0f}"
    )


async def profile_run(args: argparse.Namespace, workload: Workload, env: dict[str, str]) -> None:
    """One Talapker worker under py-spy (`pip install py-spy`): its samples, warm-up and
    start-up included, go to --profile in py-spy's raw (collapsed stacks) format."""
    await prepare_database(args.database_url, args.users)
    log_dir = Path(tempfile.mkdtemp(prefix="talapker-profile-"))
    result = await one_run(
        "talapker, profiled", "talapker", 1, workload, args.concurrency, env, log_dir,
        Path(args.profile),
    )
    report(result)


def summarise(
    echo: RunResult, echo_in_response: RunResult, one: RunResult, two: RunResult
) -> dict[str, float]:
    """One round's figures for the last line; with several rounds, each is a median."""
    return {
        "ratio": one.throughput / echo.throughput,
        "ratio_in_response": one.throughput / echo_in_response.throughput,
        "speedup": two.throughput / one.throughput,
        "p99": percentile(one.handler_ms + two.handler_ms, 0.99),
        "rss": max(one.rss_mb + two.rss_mb),
    }


def report_median(name: str, results: list[RunResult]) -> None:
    def median(figure: Callable[[RunResult], float]) -> float:
        return statistics.median(figure(result) for result in results)

    print(
        f"{name:<22} {median(lambda r: r.throughput):8.0f} upd/s   handler p50 "
        f"{median(lambda r: percentile(r.handler_ms, 0.5)):6.2f} ms  "
        f"p99 {median(lambda r: percentile(r.handler_ms, 0.99)):6.2f} ms"
        f"   end-to-end p50 {median(lambda r: percentile(r.e2e_ms, 0.5)):6.1f} ms  p99 "
        f"{median(lambda r: percentile(r.e2e_ms, 0.99)):6.1f} ms   peak RSS "
        f"{median(lambda r: max(r.rss_mb)):.0f} MB   worker CPU "
        f"{median(lambda r: r.cpu_ms_per_update):.2f} ms/update",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of all four runs; figures are medians"
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument(
        "--talapker-only",
        action="store_true",
        help="one Talapker worker only, no baselines: its CPU per update between changes",
    )
    parser.add_argument(
        "--profile", help="run one Talapker worker only, under py-spy, samples to this file"
    )
    parser.add_argument("--serve-stub", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-echo", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-echo-in-response", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve_stub:
        asyncio.run(serve_stub(arguments.serve_stub))
    elif arguments.serve_echo:
        asyncio.run(serve_echo(arguments.serve_echo))
    elif arguments.serve_echo_in_response:
        asyncio.run(serve_echo(arguments.serve_echo_in_response, in_response=True))
    else:
        asyncio.run(main(arguments))
