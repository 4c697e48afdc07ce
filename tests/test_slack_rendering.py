"""Block Kit rendering: escaping, neutralised mentions, abstention/degraded notices, limits."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from service.answering.types import Answer, Citation, Conflict, ConflictValue
from service.slack.rendering import (
    ACTION_HELPFUL,
    MAX_BLOCKS,
    MAX_SECTION_CHARS,
    MAX_TEXT_CHARS,
    ZWSP,
    escape_text,
    question_from_slack,
    render_answer,
    split_text,
    truncate,
)
from tests.fakes import block_texts, sample_answer


def test_escape_text_escapes_markup_and_broadcasts() -> None:
    out = escape_text("a & b <!here> <@U1> <#C1> @channel @Everyone email@here.com")
    assert out.startswith("a &amp; b &lt;!here&gt; &lt;@U1&gt; &lt;#C1&gt;")
    assert f"@{ZWSP}channel" in out
    assert f"@{ZWSP}Everyone" in out
    assert "<" not in out
    assert ">" not in out


@given(st.text(alphabet=st.sampled_from(list("<>&@!#hereUchanlvyo |x")), max_size=80))
def test_escaped_text_never_contains_live_slack_markup(text: str) -> None:
    out = escape_text(text)
    assert "<" not in out
    assert ">" not in out
    lowered = out.lower()
    for word in ("here", "channel", "everyone"):
        assert f"@{word}" not in lowered
    # Every & starts one of the three entities we write.
    for i, ch in enumerate(out):
        if ch == "&":
            assert out.startswith(("&amp;", "&lt;", "&gt;"), i)


def test_truncate_marks_the_cut_and_never_splits_an_entity() -> None:
    assert truncate("short", 10) == "short"
    cut = truncate("abc &amp; def", 7)
    assert cut.endswith("…")
    assert len(cut) <= 7
    assert "&am" not in cut


def test_split_text_respects_the_limit_and_loses_no_words() -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    pieces = split_text(text, 300)
    assert all(len(p) <= 300 for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_question_from_slack_drops_the_bot_mention_and_unescapes() -> None:
    text = "<@UBOT> what about <@U2|ann> in <#C1|general> &amp; <https://x.io|this link> &lt;3"
    assert question_from_slack(text, "UBOT") == "what about @ann in #general & this link <3"
    assert question_from_slack("<@UBOT>", "UBOT") == ""
    assert question_from_slack("ask <!subteam^S1|@ops> or <!here>") == "ask @ops or @here"


def test_answer_renders_markers_sources_and_buttons() -> None:
    message = render_answer(sample_answer("q"), feedback_value="ref")
    texts = block_texts(message.blocks)
    assert texts[0] == "Over 10,000 North Korean troops have been deployed to Russia [1]."
    source = next(t for t in texts if t.startswith("*[1]*"))
    assert "004_114b54cabd2150fb" in source
    assert "\n>Reports from South Korean intelligence" in source
    actions = message.blocks[-1]
    assert actions["type"] == "actions"
    assert actions["elements"][0]["action_id"] == ACTION_HELPFUL
    assert actions["elements"][0]["value"] == "ref"
    assert message.text.startswith("Over 10,000")


def test_abstention_and_degraded_notices() -> None:
    abstained = Answer(answer="", abstained=True, abstain_reason="no source mentions <b>it</b>")
    texts = block_texts(render_answer(abstained).blocks)
    assert (
        texts[0]
        == ":no_entry_sign: *Not in the documents:* no source mentions &lt;b&gt;it&lt;/b&gt;"
    )
    degraded = Answer(answer="x", abstained=False, degraded=True, degraded_reason="LLM down")
    assert any(
        "Degraded answer:* LLM down" in t for t in block_texts(render_answer(degraded).blocks)
    )


def test_conflicts_are_listed_with_their_citations() -> None:
    answer = Answer(
        answer="Estimates differ [1][2].",
        abstained=False,
        conflicts=(
            Conflict(
                "troops",
                (ConflictValue("10,000", 1, "a", "South Korea"), ConflictValue("12,000", 2, "b")),
            ),
        ),
    )
    joined = "\n".join(block_texts(render_answer(answer).blocks))
    assert "• troops: 10,000 [1] (South Korea), 12,000 [2]" in joined


def test_huge_answers_stay_within_slack_limits() -> None:
    quote = "x" * 5000
    answer = Answer(
        answer=("A very long sentence with a citation [1]. " * 4000),
        abstained=False,
        citations=tuple(Citation(i, f"d{i}", "c", "T" * 4000, quote, 0, 1) for i in range(1, 121)),
    )
    message = render_answer(answer, question="q" * 5000, feedback_value="v" * 5000)
    assert len(message.blocks) <= MAX_BLOCKS
    assert len(message.text) <= MAX_TEXT_CHARS
    for block in message.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION_CHARS
        if block["type"] == "actions":
            assert all(len(e["value"]) <= 2000 for e in block["elements"])
    assert message.blocks[-1]["type"] == "actions"  # the buttons survive
    assert any("more sources" in t for t in block_texts(message.blocks))
    assert len(json.dumps(message.blocks)) < 200_000
