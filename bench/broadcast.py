"""Broadcast throughput: the delivery engine against the stand-in Bot API at Telegram's limit.

    python bench/broadcast.py [--recipients 10000] [--limit 30] [--database-url URL]

The stand-in server enforces `--limit` messages a second (a token bucket, answering 429 with
retry_after beyond it). The engine sends a campaign to every recipient at that rate, through
the real outbox (claim, send, mark per message) on a fresh SQLite file (or --database-url).
Printed: achieved rate against the limit, lost and duplicated messages, the sender's CPU time
per message, and a baseline alongside: bare aiogram send_message calls at the same pace with no
database, to show what the outbox costs. Last line:
rate_ratio=<achieved/limit> lost=<n> duplicated=<n>
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import create_bot  # noqa: E402
from bot.config import load_settings  # noqa: E402
from delivery.outbox import Audience, DeliveryWorker, campaign_stats, enqueue  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import User  # noqa: E402
from tests.botapi_stub import StubBotAPI  # noqa: E402


async def engine_run(recipients: int, limit: float, database_url: str) -> dict[str, float]:
    stub = StubBotAPI()
    await stub.start()
    stub.rate_limit_per_second = limit
    database = Database(database_url)
    await database.upgrade()
    async with database.session() as session:
        session.add_all(User(id=1_000_000 + i, language="ru") for i in range(recipients))
        await session.commit()
    campaign, _ = await enqueue(
        database, kind="broadcast", texts={"*": "Results are out"}, audience=Audience()
    )
    bot = create_bot(load_settings(bot_token=stub.token, bot_api_url=stub.base_url))
    worker = DeliveryWorker(bot, database, rate=limit, concurrency=4)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await worker.run(asyncio.Event(), until_idle=True)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    stats = await campaign_stats(database, campaign.id or 0)
    delivered = Counter(stub.delivered())
    result = {
        "rate": stats.rate,
        "wall": wall,
        "cpu_ms": cpu / max(1, stats.sent) * 1000,
        "lost": recipients - len(delivered),
        "duplicated": sum(delivered.values()) - len(delivered),
        "429s": sum(1 for c in stub.calls if c.status == 429),
    }
    await bot.session.close()
    await database.dispose()
    await stub.stop()
    return result


async def baseline_run(messages: int, limit: float) -> dict[str, float]:
    """The same pacing with bare send_message calls: no outbox, no database."""
    stub = StubBotAPI()
    await stub.start()
    stub.rate_limit_per_second = limit
    bot = create_bot(load_settings(bot_token=stub.token, bot_api_url=stub.base_url))
    loop = asyncio.get_running_loop()
    cpu0, start = time.process_time(), loop.time()
    for i in range(messages):
        delay = start + i / limit - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await bot.send_message(2_000_000 + i, "Results are out")
    cpu = time.process_time() - cpu0
    elapsed = loop.time() - start
    await bot.session.close()
    await stub.stop()
    return {"rate": (messages - 1) / elapsed, "cpu_ms": cpu / messages * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--limit", type=float, default=30.0)
    parser.add_argument("--baseline-messages", type=int, default=1_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{folder}/bench.db"
        engine = asyncio.run(engine_run(args.recipients, args.limit, url))
    base = asyncio.run(baseline_run(args.baseline_messages, args.limit))
    ratio = engine["rate"] / args.limit
    print(f"engine: {args.recipients} recipients, {args.limit:g}/s limit, {engine['wall']:.0f} s")
    print(f"  achieved {engine['rate']:.2f} msg/s ({ratio:.1%} of the limit)")
    print(f"  429 answers: {engine['429s']:.0f}")
    print(f"  sender CPU {engine['cpu_ms']:.2f} ms per message")
    print(
        f"baseline (bare send_message, same pace, {args.baseline_messages} messages): "
        f"{base['rate']:.2f} msg/s, CPU {base['cpu_ms']:.2f} ms per message"
    )
    print(f"  outbox CPU overhead: {engine['cpu_ms'] / base['cpu_ms']:.2f}x the bare sender")
    print(f"rate_ratio={ratio:.3f} lost={engine['lost']:.0f} duplicated={engine['duplicated']:.0f}")


if __name__ == "__main__":
    main()
