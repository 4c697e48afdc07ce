"""The JSON reply format: whole replies, replies still arriving, and the fallbacks to text."""

from __future__ import annotations

import json

from service.answering.generators.litellm_generator import fit_sources, parse_reply
from service.answering.generators.llm_json import SCHEMA, JsonSentenceStream, parse_json_reply
from tests.test_verification import SOURCES

REPLY = json.dumps(
    {
        "found": True,
        "sentences": [
            {"source": 1, "quote": "over 10,000 North Korean troops", "text": "Over 10,000."},
            {"source": 2, "quote": "at least 3,000", "text": "At least 3,000, per the U.S."},
        ],
    }
)


def test_a_whole_reply_becomes_sentences_with_markers_and_quotes() -> None:
    draft = parse_json_reply(REPLY)
    assert [s.markers for s in draft.sentences] == [(1,), (2,)]
    assert [q.text for q in draft.quotes] == ["over 10,000 North Korean troops", "at least 3,000"]
    assert draft.sentences[1].raw == "At least 3,000, per the U.S [2]."


def test_found_false_abstains_and_non_json_falls_back_to_text() -> None:
    assert parse_reply('{"found": false, "sentences": []}').abstained
    prose = parse_reply("North Korea sent troops to Russia.")
    assert prose.sentences[0].markers == ()
    marked = parse_reply('ANSWER:\nThey went [1].\nQUOTES:\n[1] "troops have been deployed"')
    assert marked.quotes[0].n == 1


def test_the_stream_yields_each_sentence_once_its_object_is_complete() -> None:
    stream = JsonSentenceStream()
    cut = REPLY.index("}") + 1  # just after the first sentence object
    seen = [stream.feed(REPLY[i : i + 1]) for i in range(cut)]
    assert sum(len(s) for s in seen[:-1]) == 0
    assert [p[0].text for p in seen[-1]] == ["Over 10,000."]
    rest = stream.feed(REPLY[cut:])
    assert [p[1].text for p in rest if p[1]] == ["at least 3,000"]
    assert stream.feed("") == []


def test_the_schema_asks_for_source_quote_and_text_in_that_order() -> None:
    item = SCHEMA["properties"]["sentences"]["items"]
    assert list(item["properties"]) == ["source", "quote", "text"]
    assert item["required"] == ["source", "quote", "text"]


def test_prompt_sources_are_bounded_in_rank_order() -> None:
    assert [s.n for s in fit_sources(SOURCES, None)] == [1, 2]
    assert [s.n for s in fit_sources(SOURCES, 60)] == [1]
    tiny = fit_sources(SOURCES, 10)
    assert len(tiny) == 1
    assert len(tiny[0].text) <= len(SOURCES[0].text)
