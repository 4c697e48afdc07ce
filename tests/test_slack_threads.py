"""Reading a Slack thread into conversation history, and showing what was searched."""

from __future__ import annotations

from dataclasses import replace

from service.answering.conversation import Turn
from service.slack.bot import thread_turns
from service.slack.rendering import FRIENDLY_ERROR_TEXT, WORKING_TEXT, render_answer
from tests.fakes import BOT_USER_ID, block_texts, sample_answer


def _m(ts: str, text: str, user: str = "UHUMAN01", **extra: object) -> dict[str, object]:
    return {"ts": ts, "text": text, "user": user, **extra}


def test_thread_turns_pair_questions_with_the_bots_answers() -> None:
    messages = [
        _m("3.0", "Not this one &amp; later", BOT_USER_ID),
        _m("1.0", f"<@{BOT_USER_ID}> Who signed the pact?"),
        _m("1.5", WORKING_TEXT, BOT_USER_ID),  # a placeholder that was never replaced
        _m("1.6", "Kim &amp; Putin [1].", BOT_USER_ID),
        _m("1.7", "another bot talking", "UOTHER", bot_id="BOTHER"),
        _m("2.0", "Thanks, interesting"),  # chatter the bot did not answer
        _m("2.1", "Where did they meet?"),
        _m("2.2", FRIENDLY_ERROR_TEXT, BOT_USER_ID),  # an error is not an answer
        _m("2.5", "When was it signed?"),  # the question being answered
    ]
    turns = thread_turns(messages, "2.5", BOT_USER_ID)
    assert turns == (Turn("Who signed the pact?", "Kim & Putin [1]."),)


def test_searched_for_is_shown_only_when_the_question_was_rewritten() -> None:
    plain = render_answer(sample_answer("q"))
    assert not any("Searched for" in t for t in block_texts(plain.blocks))
    rewritten = replace(sample_answer("q"), retrieval_query="When was the <pact> signed?")
    texts = block_texts(render_answer(rewritten).blocks)
    assert "*Searched for:* When was the &lt;pact&gt; signed?" in "\n".join(texts)
