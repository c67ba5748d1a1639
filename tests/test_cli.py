"""The `talapker` command as an operator runs it: a real process, real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.botapi_stub import StubBotAPI
from tests.test_e2e_webhook import SECRET, free_port

TALAPKER = str(Path(sys.executable).with_name("talapker"))


def env_for(stub: StubBotAPI, database_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WEBHOOK_", "DATABASE_"))
    }
    return (
        env
        | {"BOT_TOKEN": stub.token, "BOT_API_URL": stub.base_url, "DATABASE_URL": database_url}
        | extra
    )


async def start_bot(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        TALAPKER,
        "run",
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


async def stop_bot(
    process: asyncio.subprocess.Process, sig: int = signal.SIGTERM
) -> tuple[int, str]:
    process.send_signal(sig)
    output, _ = await asyncio.wait_for(process.communicate(), 20)
    return process.returncode or 0, output.decode()


async def test_polling_survives_kill_9_mid_onboarding_and_stops_cleanly_on_sigterm(
    stub: StubBotAPI, database_url: str
) -> None:
    env = env_for(stub, database_url)
    process = await start_bot(env)
    await stub.send_text(701, "/start", language_code="ru")
    await stub.next_reply(701, timeout=30)
    await stub.next_reply(701)
    await stub.press(701, "lang:en")
    assert "Who are you?" in (await stub.next_reply(701))["text"]
    await asyncio.sleep(0.3)  # let the press's transaction commit before the kill
    process.kill()  # kill -9: no shutdown code runs
    await process.wait()

    process = await start_bot(env)
    await stub.press(701, "role:parent")
    reply = await stub.next_reply(701, timeout=30)
    assert "Which region" in reply["text"]  # the wizard continued where it was

    code, output = await stop_bot(process)
    assert code == 0, output
    assert "Traceback" not in output, output


async def test_webhook_mode_answers_and_refuses_a_wrong_secret(
    stub: StubBotAPI, database_url: str
) -> None:
    port = free_port()
    env = env_for(
        stub,
        database_url,
        WEBHOOK_URL=f"http://127.0.0.1:{port}/webhook",
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(port),
    )
    process = await start_bot(env)
    await stub.wait_for_calls("setWebhook", timeout=30)
    assert (
        await stub.deliver_webhook(
            stub.message_update(702, "/start", language_code="kk"), secret="nope"
        )
        == 401
    )
    assert await stub.deliver_webhook(stub.message_update(703, "/start", language_code="kk")) == 200
    await stub.next_reply(703)
    assert "Тілді таңдаңыз" in (await stub.next_reply(703))["text"]
    assert stub.calls_to("sendMessage", chat_id=702) == []

    code, output = await stop_bot(process)
    assert code == 0, output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN"),
        ({"BOT_TOKEN": "1:x", "DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"BOT_TOKEN": "1:x", "WEBHOOK_URL": "https://example.org/hook"}, "WEBHOOK_SECRET"),
        ({"BOT_TOKEN": "1:x", "TIMEZONE": "Asia/Atlantis"}, "TIMEZONE"),
        ({"BOT_TOKEN": "1:x", "ADMIN_IDS": "12,abc"}, "ADMIN_IDS"),
        ({}, "BOT_TOKEN is not set"),
    ],
)
def test_bad_settings_fail_at_start_with_one_clear_line(env: dict[str, str], expected: str) -> None:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WEBHOOK_", "DATABASE_"))
    }
    result = subprocess.run(
        [TALAPKER, "run"],
        env=clean | env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def run_chat(database_url: str, text: str) -> str:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WEBHOOK_", "DATABASE_"))
    }
    result = subprocess.run(
        [TALAPKER, "chat"],
        input=text,
        env=clean | {"DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout


def test_console_chat_shows_onboarding_with_numbered_buttons_and_keeps_state(
    database_url: str,
) -> None:
    first = run_chat(database_url, "/start\n2\n")
    assert "Выберите язык" in first
    assert "[1] Қазақша  [2] Русский  [3] English" in first
    assert "Кто вы?" in first  # "2" pressed Русский
    assert "[1] 🎓 Абитуриент" in first

    # A new console session continues the same wizard from the database: the typed text is
    # answered as a question, and the role step is still open.
    second = run_chat(database_url, "hello\n")
    assert "The step you started is still open" in second


def test_web_role_refuses_sqlite_with_one_line() -> None:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WEBHOOK_", "DATABASE_"))
    }
    result = subprocess.run(
        [TALAPKER, "run", "--role", "web"],
        env=clean | {"BOT_TOKEN": "1:x"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "needs PostgreSQL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_questions_piped_into_the_console_are_all_answered(database_url: str) -> None:
    output = run_chat(database_url, "how long is the UNT\n" * 12)
    assert output.count("240 minutes") == 12
    assert "slow down" not in output


def test_keleshek_without_a_balance_counts_and_names_the_start_capital(tmp_path: Path) -> None:
    """Issue 17's example through the command parents' helpers run."""
    chart = tmp_path / "chart.png"
    common = ["keleshek", "--birth", "2020-06-10", "--as-of", "2026-01-01", "--monthly-mci", "2"]

    def run(*extra: str) -> str:
        result = subprocess.run(
            [TALAPKER, *common, *extra], capture_output=True, text=True, timeout=60, check=True
        )
        return result.stdout

    unknown = run("--chart", str(chart))
    assert "final_balance: 5,058,155" in unknown
    assert "includes the 60 MCI start capital (235,920 KZT) credited in June 2025" in unknown
    assert "enter your real balance" in unknown
    assert chart.stat().st_size > 10_000
    empty = run("--balance", "0")
    assert "final_balance: 3,925,447" in empty and "start capital (" not in empty
