"""A stand-in Telegram Bot API server for tests and benchmarks.

It speaks the wire format (`POST /bot<token>/<method>` with JSON, urlencoded or multipart
bodies; `{"ok": …, "result": …}` answers), records every call, feeds `getUpdates` from a queue
of pushed updates, delivers updates to a registered webhook, and can misbehave on purpose:
blocked chats (403), a global rate limit (429 + retry_after) and injected server errors (5xx).

Groups behave like supergroups: with `forums` a chat has topics (createForumTopic gives a
thread id; a deleted topic answers 400 "message thread not found"), without it
createForumTopic answers "the chat is not a forum"; `kicked_chats` are chats the bot was
removed from (403). copyMessage copies a message the stub has seen (pushed by a test or sent by
the bot), as it is at that moment, edits included.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

TOKEN = "123456:TEST-token_for-stub"
BOT_ID = 123456
SEND_METHODS = {"sendmessage", "sendphoto", "senddocument", "copymessage", "forwardmessage"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int
    result: Any = None
    at: float = field(default_factory=time.monotonic)
    # True when the bot made this call in its answer to a webhook POST, not as a request.
    in_webhook_response: bool = False


def _decode_field(key: str, value: str) -> Any:
    # aiogram sends nested objects as JSON strings and numbers as decimal strings.
    if value[:1] in "{[" or value in ("true", "false"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if (key.endswith("_id") or key in ("offset", "limit", "timeout")) and value.lstrip(
        "-"
    ).isdigit():
        return int(value)
    return value


class StubBotAPI:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._poll_round = 0  # raised by end_polls(): the long polls waiting now return
        self.webhook: dict[str, Any] | None = None
        self._replies_read: dict[int, int] = {}
        self._app_languages: dict[int, str] = {}
        self._user_messages: dict[tuple[int, int], dict[str, Any]] = {}
        # Misbehaviour knobs.
        self.blocked_chats: set[int] = set()
        self.bad_request_chats: set[int] = set()
        self.failing_chats: set[int] = set()
        self.kicked_chats: set[int] = set()
        self.forums: set[int] = set()
        self.topics: dict[tuple[int, int], dict[str, Any]] = {}
        self.deleted_topics: set[tuple[int, int]] = set()
        # Every message the stub has seen, by (chat id, message id): what copyMessage copies.
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._thread_ids = itertools.count(1001)
        self.fail_next: dict[str, int] = {}
        self.rate_limit_per_second: float | None = None
        self.retry_after = 1
        self._window_start = 0.0
        self._tokens = 0.0
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # ---------------------------------------------------------------- server lifecycle
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.base_url = f"http://{host}:{sockets[0].getsockname()[1]}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def end_polls(self) -> None:
        """Answer the getUpdates calls waiting now (with what there is, maybe nothing), as
        Telegram does when its long-poll timeout runs out: a bot being stopped need not wait
        for it."""
        async with self._changed:
            self._poll_round += 1
            self._changed.notify_all()

    # ---------------------------------------------------------------- feeding updates
    def next_update_id(self) -> int:
        return next(self._update_ids)

    async def push(self, update: dict[str, Any]) -> dict[str, Any]:
        update.setdefault("update_id", self.next_update_id())
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return update

    def user(self, user_id: int, language_code: str | None = None) -> dict[str, Any]:
        """A user object; like Telegram, every later update carries the app language the
        user was first seen with."""
        if language_code:
            self._app_languages[user_id] = language_code
        user = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        if user_id in self._app_languages:
            user["language_code"] = self._app_languages[user_id]
        return user

    def message_update(
        self, user_id: int, text: str | None = None, *, chat_type: str = "private", **extra: Any
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": chat_type},
            "from": self.user(user_id, extra.pop("language_code", None)),
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        message |= extra
        self._user_messages[(user_id, message["message_id"])] = message
        self.messages[(user_id, message["message_id"])] = message
        return {"update_id": self.next_update_id(), "message": message}

    def group_message_update(
        self,
        chat_id: int,
        user_id: int,
        text: str | None = None,
        *,
        thread_id: int | None = None,
        reply_to: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A message a member writes in a supergroup: in a topic (`thread_id`), or as a
        reply to a message (`reply_to`, a message dict)."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "supergroup", "is_forum": chat_id in self.forums},
            "from": self.user(user_id, extra.pop("language_code", None)),
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message |= extra
        self.messages[(chat_id, message["message_id"])] = message
        return {"update_id": self.next_update_id(), "message": message}

    async def edit(self, message: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """The author edits a message they wrote: Telegram sends `edited_message`."""
        edited = message | changes | {"edit_date": int(time.time())}
        self.messages[(edited["chat"]["id"], edited["message_id"])] = edited
        return await self.push({"update_id": self.next_update_id(), "edited_message": edited})

    def callback_update(
        self, user_id: int, data: str, message: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        query: dict[str, Any] = {
            "id": str(next(self._message_ids)),
            "from": self.user(user_id),
            "chat_instance": f"ci{user_id}",
            "data": data,
        }
        if message is not None:
            query["message"] = message
        return {"update_id": self.next_update_id(), "callback_query": query}

    async def send_text(self, user_id: int, text: str | None, **extra: Any) -> dict[str, Any]:
        return await self.push(self.message_update(user_id, text, **extra))

    def message_with_button(self, chat_id: int, data: str) -> dict[str, Any] | None:
        """The latest bot message in the chat whose keyboard carries `data`, as Telegram
        attaches it to a callback query."""
        for call in reversed(self.calls):
            result = call.result
            if not isinstance(result, dict) or result.get("chat", {}).get("id") != chat_id:
                continue
            rows = result.get("reply_markup", {}).get("inline_keyboard", [])
            if any(b.get("callback_data") == data for row in rows for b in row):
                return result
        return None

    async def press(self, user_id: int, data: str) -> dict[str, Any]:
        """Press a button: the callback carries the message showing it, if any (a forged
        payload has none to point at, so it arrives bare)."""
        return await self.push(
            self.callback_update(user_id, data, self.message_with_button(user_id, data))
        )

    async def deliver_webhook(
        self, update: dict[str, Any], secret: str | None = None, url: str | None = None
    ) -> int:
        """POST an update to the registered webhook (or `url`), as Telegram would."""
        assert self.webhook is not None or url is not None, "no webhook registered"
        target = url or self.webhook["url"]  # type: ignore[index]
        token = secret if secret is not None else (self.webhook or {}).get("secret_token")
        headers = {"X-Telegram-Bot-Api-Secret-Token": token} if token else {}
        async with (
            aiohttp.ClientSession() as http,
            http.post(target, json=update, headers=headers) as resp,
        ):
            # Like Telegram, carry out a method the bot put in its answer (its reply).
            if resp.status == 200 and resp.content_type.startswith("multipart/"):
                params = await self._multipart_params(aiohttp.MultipartReader.from_response(resp))
                method = str(params.pop("method")).lower()
                status, payload = self._call(method, params)
                await self._record(
                    method, params, status, payload.get("result"), in_webhook_response=True
                )
            elif resp.status == 200 and resp.content_type == "application/json":
                body = await resp.json()
                if body.get("method"):
                    method = str(body.pop("method")).lower()
                    status, payload = self._call(method, body)
                    await self._record(
                        method, body, status, payload.get("result"), in_webhook_response=True
                    )
            return resp.status

    # ---------------------------------------------------------------- inspecting calls
    def calls_to(self, method: str, chat_id: int | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == method.lower()
            and c.status == 200
            and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    def copies_to(self, chat_id: int) -> list[dict[str, Any]]:
        """What copyMessage put in a chat, in order: the copied message as the chat got it."""
        return [
            self.messages[(chat_id, c.result["message_id"])]
            for c in self.calls
            if c.method == "copymessage" and c.status == 200 and c.params.get("chat_id") == chat_id
        ]

    def delivered(self, method: str = "sendMessage") -> list[int]:
        """Chat ids that successfully got a message, once per message (duplicates repeat)."""
        return [
            c.params["chat_id"]
            for c in self.calls
            if c.method == method.lower() and c.status == 200
        ]

    def texts_to(self, chat_id: int) -> list[str]:
        """Texts the bot sent or edited in a chat, in order."""
        return [
            c.params.get("text", "")
            for c in self.calls
            if c.status == 200
            and c.method in ("sendmessage", "editmessagetext")
            and c.params.get("chat_id") == chat_id
        ]

    async def wait_for(
        self,
        predicate: Callable[[list[Call]], bool],
        timeout: float = 10.0,
    ) -> None:
        async def _wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.calls))

        await asyncio.wait_for(_wait(), timeout)

    async def wait_for_calls(
        self, method: str, count: int = 1, *, chat_id: int | None = None, timeout: float = 10.0
    ) -> list[Call]:
        await self.wait_for(lambda _: len(self.calls_to(method, chat_id)) >= count, timeout)
        return self.calls_to(method, chat_id)

    async def next_reply(self, chat_id: int, timeout: float = 10.0) -> dict[str, Any]:
        """The next sendMessage to `chat_id` that this method has not returned yet (waiting
        for it if needed): a test reads the conversation in order, however fast the bot is."""
        seen = self._replies_read.get(chat_id, 0)
        calls = await self.wait_for_calls("sendMessage", seen + 1, chat_id=chat_id, timeout=timeout)
        self._replies_read[chat_id] = seen + 1
        return calls[seen].params

    # ---------------------------------------------------------------- the API itself
    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        if request.method == "GET":
            return {k: _decode_field(k, v) for k, v in request.query.items()}
        if request.content_type.startswith("multipart/"):
            return await self._multipart_params(await request.multipart())
        form = await request.post()
        return {k: _decode_field(k, str(v)) for k, v in form.items()}

    async def _multipart_params(self, reader: aiohttp.MultipartReader) -> dict[str, Any]:
        params: dict[str, Any] = {}
        async for part in reader:
            if part.filename:  # type: ignore[union-attr]
                content = await part.read()  # type: ignore[union-attr]
                params[part.name] = {
                    "filename": part.filename,
                    "size": len(content),
                    "content": content,
                }  # type: ignore[union-attr]
            else:
                params[part.name] = _decode_field(part.name or "", await part.text())  # type: ignore[union-attr]
        # Files travel as "attach://<part name>" references, resolved as the Bot API does.
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                params[key] = params.pop(value.removeprefix("attach://"), value)
        return params

    def _rate_limited(self) -> bool:
        """A token bucket: `rate_limit_per_second` tokens a second, bursts up to one second's
        worth. A sender pacing itself at the limit never trips it."""
        if self.rate_limit_per_second is None:
            return False
        now = time.monotonic()
        rate = self.rate_limit_per_second
        if self._window_start == 0.0:
            self._window_start, self._tokens = now, rate
        self._tokens = min(rate, self._tokens + (now - self._window_start) * rate)
        self._window_start = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return False
        return True

    async def _record(
        self,
        method: str,
        params: dict[str, Any],
        status: int,
        result: Any,
        in_webhook_response: bool = False,
    ) -> None:
        async with self._changed:
            self.calls.append(
                Call(method, params, status, result, in_webhook_response=in_webhook_response)
            )
            self._changed.notify_all()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].lower()
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        params = await self._params(request)
        if method == "getupdates":
            return await self._get_updates(params)

        status, payload = self._call(method, params)
        await self._record(method, params, status, payload.get("result"))
        return web.json_response(payload, status=status)

    def _call(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, payload = self._misbehave(method, params)
        if payload is None:
            status, payload = 200, {"ok": True, "result": self._result(method, params)}
        return status, payload

    def _misbehave(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        if self.fail_next.get(method, 0) > 0:
            self.fail_next[method] -= 1
            return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        chat = params.get("chat_id")
        if chat in self.kicked_chats and (method in SEND_METHODS or "forumtopic" in method):
            return 403, _body(403, "Forbidden: bot was kicked from the supergroup chat")
        thread = params.get("message_thread_id")
        if thread is not None and (chat, thread) in self.deleted_topics:
            return 400, _body(400, "Bad Request: message thread not found")
        if method == "createforumtopic" and chat not in self.forums:
            return 400, _body(400, "Bad Request: the chat is not a forum")
        if (
            method == "copymessage"
            and (params.get("from_chat_id"), params.get("message_id")) not in self.messages
        ):
            return 400, _body(400, "Bad Request: message to copy not found")
        if method in SEND_METHODS:
            if self._rate_limited():
                return 429, {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {self.retry_after}",
                    "parameters": {"retry_after": self.retry_after},
                }
            if chat in self.blocked_chats:
                return 403, _body(403, "Forbidden: bot was blocked by the user")
            if chat in self.bad_request_chats:
                return 400, _body(400, "Bad Request: chat not found")
            if chat in self.failing_chats:
                return 502, _body(502, "Bad Gateway")
        return 200, None

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = min(float(params.get("timeout") or 0), 0.5)
        async with self._changed:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if not self._updates and timeout:
                round_ = self._poll_round
                with suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait_for(
                            lambda: bool(self._updates) or self._poll_round != round_
                        ),
                        timeout,
                    )
            batch = self._updates[:limit]
        return web.json_response({"ok": True, "result": batch})

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Talapker",
            "username": "talapker_test_bot",
        }

    def _message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = params.get("chat_id", 0)
        message = {
            "message_id": params.get("message_id") or next(self._message_ids),
            "date": int(time.time()),
            "chat": {
                "id": chat_id,
                "type": "private" if isinstance(chat_id, int) and chat_id > 0 else "supergroup",
            },
            "from": self._bot_user(),
        } | content
        if params.get("message_thread_id") is not None:
            message["message_thread_id"] = params["message_thread_id"]
            message["is_topic_message"] = True
        if (
            isinstance(params.get("reply_markup"), dict)
            and "inline_keyboard" in params["reply_markup"]
        ):
            message["reply_markup"] = params["reply_markup"]
        reply_to = params.get("reply_parameters") or {}
        replied = self._user_message(chat_id, reply_to.get("message_id"))
        if replied is not None:
            # Like Telegram: a reply carries the message it answers (and a callback on it too).
            message["reply_to_message"] = replied
        key = (chat_id, message["message_id"])
        self.messages[key] = self.messages.get(key, {}) | message
        return message

    def _user_message(self, chat_id: Any, message_id: Any) -> dict[str, Any] | None:
        if not isinstance(chat_id, int) or not isinstance(message_id, int):
            return None
        return self._user_messages.get((chat_id, message_id))

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getme":
            return self._bot_user()
        if method in ("sendmessage", "editmessagetext"):
            return self._message(params, text=params.get("text", ""))
        if method == "sendphoto":
            return self._message(
                params,
                photo=[{"file_id": "photo1", "file_unique_id": "p1", "width": 800, "height": 600}],
                caption=params.get("caption"),
            )
        if method == "senddocument":
            return self._message(
                params,
                document={"file_id": "doc1", "file_unique_id": "d1"},
                caption=params.get("caption"),
            )
        if method == "editmessagereplymarkup":
            return self._message(params)
        if method == "editmessagecaption":
            return self._message(params, caption=params.get("caption"))
        if method == "copymessage":
            return self._copy(params)
        if method == "createforumtopic":
            thread = next(self._thread_ids)
            self.topics[(params["chat_id"], thread)] = {"name": params["name"], "closed": False}
            return {"message_thread_id": thread, "name": params["name"], "icon_color": 7322096}
        if method in ("closeforumtopic", "reopenforumtopic"):
            topic = self.topics[(params["chat_id"], params["message_thread_id"])]
            topic["closed"] = method == "closeforumtopic"
            return True
        if method == "setwebhook":
            self.webhook = params
            return True
        if method == "deletewebhook":
            self.webhook = None
            return True
        if method == "getwebhookinfo":
            return {
                "url": (self.webhook or {}).get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": 0,
            }
        return True

    def _copy(self, params: dict[str, Any]) -> dict[str, Any]:
        source = self.messages[(params["from_chat_id"], params["message_id"])]
        content = {
            k: v
            for k, v in source.items()
            if k in ("text", "entities", "photo", "document", "caption", "voice", "video")
        }
        copy = self._message({k: v for k, v in params.items() if k != "message_id"}, **content)
        return {"message_id": copy["message_id"]}


def _body(status: int, description: str) -> dict[str, Any]:
    return {"ok": False, "error_code": status, "description": description}


def _error(status: int, description: str) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": status, "description": description}, status=status
    )
