"""The Slack bot: a slack-bolt ``AsyncApp`` whose listeners answer through one answer function.

Slack wants an acknowledgement within 3 seconds, so every listener acks first and hands the slow
part (retrieval and generation, run in a worker thread) to a background task the bot keeps a
reference to. The same app serves the HTTP Events API (``service.slack.http``) and Socket Mode
(``service.slack.socket``); ``answer_fn`` is the in-process pipeline or a remote citeqa service.

Conversations:
- ``app_mention`` in a channel: reply in the message's thread; the thread is remembered.
- a direct message: reply in the DM.
- a reply in a remembered thread: a follow-up, answered without a mention.
- ``/ask question``: answered through the command's response_url, ephemeral by default.

A question asked inside a thread (a mention or DM reply in it, or a reply in a remembered thread)
is a follow-up: the thread's earlier questions and the bot's answers, read with
``conversations.replies``, are its history. A top-level message starts a new conversation.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from index.errors import CiteqaError, InvalidQueryError, ServiceNotReadyError
from index.storage.claims import KeyClaims
from service import wiring
from service.answering.conversation import Turn
from service.answering.types import Answer
from service.feedback import FeedbackLog, Verdict
from service.settings import Settings
from service.slack.dedupe import TtlSet
from service.slack.feedback import AnswerMemo, button_value, parse_button_value
from service.slack.rendering import (
    ACTION_HELPFUL,
    ACTION_NOT_HELPFUL,
    FRIENDLY_ERROR_TEXT,
    THANKS_TEXT,
    USAGE_TEXT,
    WORKING_TEXT,
    SlackMessage,
    answer_from_slack,
    escape_text,
    question_from_slack,
    render_answer,
    render_notice,
)

logger = logging.getLogger(__name__)


class AnswerFn(Protocol):
    """The bot's answer function: the pipeline's ``answer``, a remote service, or a fake."""

    def __call__(self, question: str, *, history: Sequence[Turn] = ()) -> Answer: ...


# How much of a thread becomes history (Slack pages replies; one page is plenty).
MAX_THREAD_MESSAGES = 200
MAX_HISTORY_TURNS = 20

# Slack retries an event for up to about an hour; keep ids a little longer than that.
EVENT_TTL_S = 2 * 60 * 60.0
# How long a thread the bot answered keeps accepting follow-ups without a mention.
THREAD_TTL_S = 7 * 24 * 60 * 60.0
# Message subtypes that are still a person writing (edits, joins, deletions are not).
_ANSWERABLE_SUBTYPES = frozenset({"thread_broadcast", "file_share"})
_FEEDBACK_ACTION_RE = re.compile(f"^({ACTION_HELPFUL}|{ACTION_NOT_HELPFUL})$")


@dataclass(frozen=True)
class BotConfig:
    """What the bot needs from the settings; built at the edge (``build_bot``)."""

    bot_token: str
    signing_secret: str | None = None  # None in Socket Mode, where requests are not signed
    api_url: str | None = None  # Web API base URL; None means slack.com
    ephemeral: bool = True  # /ask answers visible only to the asker
    max_concurrent_answers: int = 2
    rate_limit_retries: int = 2


def normalise_api_url(url: str) -> str:
    """slack_sdk joins method names onto the base URL, so it must end with a slash."""
    return url if url.endswith("/") else url + "/"


def make_web_client(config: BotConfig) -> AsyncWebClient:
    """The Web API client: optional base URL, and 429s retried after ``Retry-After``."""
    kwargs: dict[str, Any] = {"token": config.bot_token}
    if config.api_url:
        kwargs["base_url"] = normalise_api_url(config.api_url)
    client = AsyncWebClient(**kwargs)
    client.retry_handlers.append(
        AsyncRateLimitErrorRetryHandler(max_retry_count=config.rate_limit_retries)
    )
    return client


class CiteqaSlackBot:
    """The bolt app plus the state its listeners share (de-dup, threads, feedback).

    Example::

        bot = CiteqaSlackBot(pipeline.answer, BotConfig(bot_token=..., signing_secret=...),
                             FeedbackLog.open(Path("feedback.jsonl")))
        handler = AsyncSlackRequestHandler(bot.app)
    """

    def __init__(
        self,
        answer_fn: AnswerFn,
        config: BotConfig,
        feedback: FeedbackLog,
        *,
        shared_claims: Callable[[str, float], KeyClaims] | None = None,
    ) -> None:
        self._answer_fn = answer_fn
        self._config = config
        self._feedback = feedback
        self._memo = AnswerMemo()
        # Several workers share their claims (``shared_claims(namespace, ttl_s)``, e.g. in the
        # database), so a retry delivered to another worker is still answered once.
        self._events: KeyClaims = (
            shared_claims("slack-events", EVENT_TTL_S)
            if shared_claims
            else TtlSet(EVENT_TTL_S, max_items=50_000)
        )
        self._messages: KeyClaims = (
            shared_claims("slack-messages", EVENT_TTL_S)
            if shared_claims
            else TtlSet(EVENT_TTL_S, max_items=50_000)
        )
        self._threads = TtlSet(THREAD_TTL_S, max_items=20_000)
        self._tasks: set[asyncio.Task[None]] = set()
        self._semaphore: asyncio.Semaphore | None = None
        self.client = make_web_client(config)
        socket_mode = config.signing_secret is None
        self.app = AsyncApp(
            name="citeqa",
            client=self.client,
            signing_secret=config.signing_secret or "",
            request_verification_enabled=not socket_mode,
            # Without a listener match bolt answers 404, which Slack would retry; we ack all.
            raise_error_for_unhandled_request=False,
        )
        self._register()

    # ----------------------------------------------------------------- wiring

    def _register(self) -> None:
        self.app.middleware(self._drop_repeated_events)
        self.app.event("app_mention")(self._on_mention)
        self.app.event("message")(self._on_message)
        self.app.command("/ask")(self._on_ask)
        self.app.action(_FEEDBACK_ACTION_RE)(self._on_feedback)
        self.app.error(self._on_error)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        # The event loop only keeps weak references to tasks; the set keeps them alive.
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout_s: float | None = None) -> None:
        """Waits for answers still being made (tests, graceful shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    @property
    def pending(self) -> int:
        """Answers in progress."""
        return len(self._tasks)

    # ------------------------------------------------------------- listeners

    async def _drop_repeated_events(
        self, body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        # A retry (X-Slack-Retry-Num, or retry_attempt in Socket Mode) carries the same event_id
        # as the delivery being handled: acknowledge it and do nothing else.
        event_id = body.get("event_id")
        if (
            body.get("type") == "event_callback"
            and isinstance(event_id, str)
            and not self._events.add_if_new(event_id)
        ):
            logger.info("ignoring repeated delivery of Slack event %s", event_id)
            return BoltResponse(status=200, body="")
        await next()
        return None

    async def _on_mention(self, event: dict[str, Any], context: dict[str, Any]) -> None:
        channel = event.get("channel")
        ts = event.get("ts")
        if not isinstance(channel, str) or not isinstance(ts, str):
            return
        if not self._messages.add_if_new(f"{channel}:{ts}"):
            return  # already answered as a message event
        thread_ts = event.get("thread_ts") or ts
        self._threads.add(f"{channel}:{thread_ts}")
        bot_user_id = context.get("bot_user_id")
        question = question_from_slack(str(event.get("text", "")), bot_user_id)
        follow_up = thread_ts != ts  # asked inside an existing thread
        self._spawn(
            self._answer_in_conversation(
                channel, thread_ts, question, ts if follow_up else None, bot_user_id
            )
        )

    async def _on_message(self, event: dict[str, Any], context: dict[str, Any]) -> None:
        subtype = event.get("subtype")
        if subtype is not None and subtype not in _ANSWERABLE_SUBTYPES:
            return
        bot_user_id = context.get("bot_user_id")
        if event.get("bot_id") or event.get("user") in (None, bot_user_id):
            return  # never answer ourselves or another bot
        channel = event.get("channel")
        ts = event.get("ts")
        if not isinstance(channel, str) or not isinstance(ts, str):
            return
        thread_ts = event.get("thread_ts")
        if event.get("channel_type") == "im":
            reply_thread = thread_ts if isinstance(thread_ts, str) else None
        elif isinstance(thread_ts, str) and f"{channel}:{thread_ts}" in self._threads:
            reply_thread = thread_ts
        else:
            return  # channel chatter; mentions arrive as app_mention
        if not self._messages.add_if_new(f"{channel}:{ts}"):
            return  # already answered as an app_mention
        if reply_thread is not None:
            self._threads.add(f"{channel}:{reply_thread}")
        question = question_from_slack(str(event.get("text", "")), bot_user_id)
        follow_up = reply_thread is not None and reply_thread != ts
        self._spawn(
            self._answer_in_conversation(
                channel, reply_thread, question, ts if follow_up else None, bot_user_id
            )
        )

    async def _on_ask(
        self,
        ack: Callable[..., Awaitable[None]],
        command: dict[str, Any],
        respond: Callable[..., Awaitable[Any]],
    ) -> None:
        question = question_from_slack(str(command.get("text", "")))
        if not question:
            await ack(response_type="ephemeral", text=USAGE_TEXT)
            return
        await ack(response_type="ephemeral", text=WORKING_TEXT)
        self._spawn(self._answer_command(question, respond))

    async def _on_feedback(
        self,
        ack: Callable[..., Awaitable[None]],
        body: dict[str, Any],
        action: dict[str, Any],
        respond: Callable[..., Awaitable[Any]],
    ) -> None:
        await ack()
        verdict: Verdict = "helpful" if action.get("action_id") == ACTION_HELPFUL else "not_helpful"
        key, question = parse_button_value(str(action.get("value", "")))
        remembered = self._memo.get(key) if key else None
        answer: Answer | None = None
        if remembered is not None:
            question, answer = remembered
        user_id = str((body.get("user") or {}).get("id", ""))
        message_text = str((body.get("message") or {}).get("text", ""))
        try:
            record = self._feedback.make_record(
                verdict=verdict,
                question=question,
                answer=answer,
                user_id=user_id,
                answer_text=message_text,
            )
            await asyncio.to_thread(self._feedback.append, record)
            reply = THANKS_TEXT
        except OSError:
            logger.exception("could not write feedback to %s", self._feedback.path)
            reply = "Sorry, your feedback could not be recorded."
        await self._thank(body, user_id, reply, respond)

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        logger.error("Slack listener failed for a %s request", body.get("type"), exc_info=error)

    # ------------------------------------------------------------ answering

    async def _answer(
        self, question: str, *, with_question: bool = False, history: Sequence[Turn] = ()
    ) -> SlackMessage:
        """Runs the answer function off the event loop; failures become a friendly message."""
        if not question:
            return render_notice(USAGE_TEXT)
        if self._semaphore is None:
            # Created lazily: it must belong to the loop the bot runs on.
            self._semaphore = asyncio.Semaphore(self._config.max_concurrent_answers)
        try:
            async with self._semaphore:
                answer = await asyncio.to_thread(self._call_answer_fn, question, history)
        except InvalidQueryError as exc:
            return render_notice(f"I can't answer that: {escape_text(str(exc))}")
        except ServiceNotReadyError:
            logger.warning("Slack question arrived before the index was ready")
            return render_notice("I'm still loading the documents. Please ask again in a minute.")
        except CiteqaError:
            logger.exception("answering a Slack question failed")
            return render_notice(FRIENDLY_ERROR_TEXT)
        except Exception:
            logger.exception("unexpected error answering a Slack question")
            return render_notice(FRIENDLY_ERROR_TEXT)
        return answer_message(answer, question, self._memo, with_question=with_question)

    def _call_answer_fn(self, question: str, history: Sequence[Turn]) -> Answer:
        if history:
            return self._answer_fn(question, history=history)
        return self._answer_fn(question)

    async def _thread_history(
        self, channel: str, thread_ts: str, before_ts: str, bot_user_id: str | None
    ) -> tuple[Turn, ...]:
        """The thread's earlier questions and the bot's answers to them (``conversations.
        replies``); nothing when Slack refuses, so the question is still answered."""
        try:
            reply = await self.client.conversations_replies(
                channel=channel, ts=thread_ts, limit=MAX_THREAD_MESSAGES
            )
        except Exception as exc:
            logger.warning("could not read thread %s in %s: %s", thread_ts, channel, exc)
            return ()
        messages = reply.get("messages") or []
        return thread_turns(messages, before_ts, bot_user_id)[-MAX_HISTORY_TURNS:]

    async def _answer_in_conversation(
        self,
        channel: str,
        thread_ts: str | None,
        question: str,
        follow_up_ts: str | None = None,
        bot_user_id: str | None = None,
    ) -> None:
        where: dict[str, Any] = {"channel": channel}
        if thread_ts is not None:
            where["thread_ts"] = thread_ts
        try:
            placeholder = await self.client.chat_postMessage(**where, text=WORKING_TEXT)
        except Exception:
            logger.exception("could not post to Slack channel %s", channel)
            return
        history: tuple[Turn, ...] = ()
        if thread_ts is not None and follow_up_ts is not None and question:
            history = await self._thread_history(channel, thread_ts, follow_up_ts, bot_user_id)
        message = await self._answer(question, history=history)
        for attempt in (message, render_notice(FRIENDLY_ERROR_TEXT)):
            # If Slack refuses the answer's blocks, the placeholder must still not stay
            # "Searching…" forever: replace it with the short apology instead.
            try:
                await self.client.chat_update(
                    channel=channel, ts=placeholder["ts"], text=attempt.text, blocks=attempt.blocks
                )
                return
            except SlackApiError as exc:
                logger.error("chat.update failed in %s: %s", channel, exc.response.get("error"))
            except Exception:
                logger.exception("could not deliver a Slack answer to %s", channel)

    async def _answer_command(self, question: str, respond: Callable[..., Awaitable[Any]]) -> None:
        response_type: Literal["ephemeral", "in_channel"] = (
            "ephemeral" if self._config.ephemeral else "in_channel"
        )
        try:
            message = await self._answer(question, with_question=True)
            await respond(
                text=message.text,
                blocks=message.blocks,
                response_type=response_type,
                replace_original=False,
            )
        except Exception:
            logger.exception("could not deliver a /ask answer")

    async def _thank(
        self,
        body: dict[str, Any],
        user_id: str,
        text: str,
        respond: Callable[..., Awaitable[Any]],
    ) -> None:
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        try:
            if container.get("is_ephemeral") or not channel or not user_id:
                await respond(text=text, response_type="ephemeral", replace_original=False)
                return
            thread_ts = (body.get("message") or {}).get("thread_ts")
            await self.client.chat_postEphemeral(
                channel=channel, user=user_id, text=text, thread_ts=thread_ts
            )
        except Exception:
            logger.exception("could not acknowledge a feedback click")


def thread_turns(
    messages: Sequence[dict[str, Any]], before_ts: str, bot_user_id: str | None
) -> tuple[Turn, ...]:
    """Questions in a thread, each with the bot's answer after it, oldest first; messages from
    ``before_ts`` on (the question being answered, and later ones) are left out."""
    turns: list[Turn] = []
    pending: str | None = None
    for m in sorted(messages, key=lambda m: float(str(m.get("ts", "0")))):
        if float(str(m.get("ts", "0"))) >= float(before_ts):
            break
        text = str(m.get("text", ""))
        ours = bot_user_id is not None and m.get("user") == bot_user_id
        if ours:
            answer = answer_from_slack(text)
            if pending is not None and answer is not None:
                turns.append(Turn(pending, answer))
                pending = None
        elif not m.get("bot_id") and m.get("subtype") in (None, *_ANSWERABLE_SUBTYPES):
            question = question_from_slack(text, bot_user_id)
            pending = question or pending
    return tuple(turns)


def answer_message(
    answer: Answer, question: str, memo: AnswerMemo, *, with_question: bool
) -> SlackMessage:
    """Renders ``answer`` with feedback buttons that refer back to it through ``memo``."""
    value = button_value(memo.put(question, answer), question)
    return render_answer(answer, question=question if with_question else None, feedback_value=value)


def build_bot(settings: Settings, answer_fn: AnswerFn, *, socket_mode: bool) -> CiteqaSlackBot:
    """The bot as the settings describe it (the one place the Slack settings are read)."""
    if settings.slack_bot_token is None:
        raise ValueError("the Slack bot needs SLACK_BOT_TOKEN")
    secret = settings.slack_signing_secret
    if not socket_mode and secret is None:
        raise ValueError("HTTP mode needs SLACK_SIGNING_SECRET")
    config = BotConfig(
        bot_token=settings.slack_bot_token.get_secret_value(),
        signing_secret=None if socket_mode or secret is None else secret.get_secret_value(),
        api_url=settings.slack_api_url,
        ephemeral=settings.slack_ephemeral,
    )
    return CiteqaSlackBot(
        answer_fn,
        config,
        FeedbackLog.open(settings.feedback_file),
        shared_claims=wiring.shared_claims(settings),
    )
