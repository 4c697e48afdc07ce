"""Noun phrases and pronouns of a question, from the shared tokenizer alone (no tagger, no lexicon
of any corpus): what the conversation rewriter resolves follow-ups against.

A phrase is a run of content words (capitalised words kept even when they are stop words, so
"U.S" and "Kim Jong-un" stay whole), with an inner "of" between content words ("Duchy of
Normandy"). Its ``lead`` is the word before it; a determiner or preposition there marks a noun
phrase rather than a verb ("signed" | "the mutual defense pact").

    phrases("Who signed the mutual defense pact?")[-1].text   # 'mutual defense pact'
"""

from __future__ import annotations

from dataclasses import dataclass

from index.text.tokens import IRREGULAR, Token, rarity, tokenize

# English grammar: the words that open a noun phrase, and the pronouns a follow-up leans on.
DETERMINERS = frozenset(
    ["the", "a", "an", "this", "that", "these", "those", "its", "their", "his", "her", "our"]
)
PREPOSITIONS = frozenset(
    [
        "of",
        "in",
        "on",
        "to",
        "for",
        "from",
        "by",
        "with",
        "about",
        "into",
        "at",
        "near",
        "against",
        "between",
        "among",
        "during",
        "after",
        "before",
        "under",
        "over",
        "many",
        "much",
    ]
)
PERSON_PRONOUNS = frozenset(["he", "him", "his", "she", "her", "hers", "himself", "herself"])
PLURAL_PRONOUNS = frozenset(["they", "them", "their", "theirs", "themselves"])
THING_PRONOUNS = frozenset(["it", "its", "itself"])
POSSESSIVES = frozenset(["his", "her", "its", "their"])
_INNER = frozenset(["of"])


@dataclass(frozen=True)
class Phrase:
    """A candidate noun phrase: its span in the text it came from, and what marks it."""

    text: str
    start: int
    end: int
    terms: tuple[str, ...]
    lead: str  # the word before it, lower-cased ("" at the start)
    capitalised: bool  # holds a capitalised word that is not the text's first word
    first: bool  # starts at the text's first word
    weight: float = 0.0  # summed general rarity of its words (how specific it is)

    @property
    def definite(self) -> bool:
        """Opened by a determiner or preposition: a noun phrase, not a verb."""
        return self.lead in DETERMINERS or self.lead in PREPOSITIONS

    @property
    def plural(self) -> bool:
        """Its head ends in a plural -s ("troops", "the Normans", "the Wars of Religion")."""
        if self.capitalised and self.lead != "the":
            return False
        head = self.text.split(" of ", 1)[0].rsplit(" ", 1)[-1].casefold()
        return head.endswith("s") and not head.endswith(("ss", "'s", "us", "is"))

    def surface(self) -> str:
        """The phrase as it should be re-used elsewhere: "the X" for common nouns and for names
        written with "the"."""
        if self.lead == "the" or not (self.capitalised or self.text[:1].isdigit()):
            return f"the {self.text}"
        return self.text


def _is_part(tok: Token, k: int, first_word: int) -> bool:
    if not tok.is_word:
        return False
    if tok.term:
        return True
    # Capitalised stop words inside a name ("U.S", "Un") belong to it; a sentence-initial one
    # ("The", "Who") does not.
    return tok.is_capitalised and k != first_word and len(tok.text) > 1 and tok.low not in _STOPS


_STOPS = DETERMINERS | PREPOSITIONS | PERSON_PRONOUNS | PLURAL_PRONOUNS | THING_PRONOUNS


def phrases(text: str, tokens: list[Token] | None = None) -> list[Phrase]:
    """The candidate noun phrases of ``text`` in order."""
    toks = tokens if tokens is not None else tokenize(text)
    first_word = next((k for k, t in enumerate(toks) if t.is_word), -1)
    if 0 <= first_word < len(toks) - 1 and toks[first_word + 1].is_capitalised:
        first_word = -1  # "United States ...", "Ethelred II ...": a name opens the text
    out: list[Phrase] = []
    k = 0
    while k < len(toks):
        if not _is_part(toks[k], k, first_word):
            k += 1
            continue
        j = k
        while j + 1 < len(toks):
            nxt = toks[j + 1]
            if _is_part(nxt, j + 1, first_word) and _same_kind(toks[j], nxt, j, first_word):
                j += 1
            elif (
                j + 2 < len(toks)
                and (nxt.low in _INNER or (nxt.text in "-'’" and nxt.start == toks[j].end))
                and _is_part(toks[j + 2], j + 2, first_word)
                and (nxt.low not in _INNER or toks[j + 2].is_capitalised)
            ):
                j += 2
            else:
                break
        k, j = _trim_verbs(toks, k, j, first_word, out)
        lead = next((t.low for t in reversed(toks[:k]) if t.is_word), "")
        terms = tuple(t.term for t in toks[k : j + 1] if t.term)
        if terms:
            out.append(
                Phrase(
                    text=text[toks[k].start : toks[j].end],
                    start=toks[k].start,
                    end=toks[j].end,
                    terms=terms,
                    lead=lead,
                    capitalised=any(
                        _cap(t, i, first_word) for i, t in enumerate(toks[k : j + 1], start=k)
                    ),
                    first=k == first_word,
                    weight=sum(rarity(t.low) for t in toks[k : j + 1] if t.term),
                )
            )
        k = j + 1
    return out


_DO = frozenset(["do", "does", "did"])


def _is_past(tok: Token) -> bool:
    return (tok.low.endswith("ed") and len(tok.low) > 4) or (
        tok.low in IRREGULAR and IRREGULAR[tok.low] != tok.low
    )


def _trim_verbs(
    toks: list[Token], k: int, j: int, first_word: int, found: list[Phrase]
) -> tuple[int, int]:
    """Cuts verbs off a run of common words, from word order alone: a past form after the
    first word ("edict | ended"), the word after a do-question's subject ("North Korea | send
    troops"), and a do-question's closing verb ("did the word imperialism | originate?")."""
    if _cap(toks[k], k, first_word) and all(_cap(t, k, first_word) for t in toks[k : j + 1]):
        return k, j
    if j > k and _is_past(toks[k]) and not _cap(toks[k], k, first_word):
        k += 1  # "revealed | initial clashes"
    for i in range(k + 1, j + 1):
        if _is_past(toks[i]) and not _cap(toks[i], i, first_word):
            j = i - 1
            break
    is_do = any(t.low in _DO for t in toks)
    after_name = bool(found) and found[-1].capitalised and found[-1].end == _prev_end(toks, k)
    if is_do and after_name and j > k:
        k += 1
    closing = j + 1 >= len(toks) or not toks[j + 1].is_word
    if is_do and closing and j > k and not toks[j].is_capitalised:
        j -= 1
    return k, j


def _prev_end(toks: list[Token], k: int) -> int:
    prev = next((t for t in reversed(toks[:k]) if t.is_word), None)
    return prev.end if prev is not None else -1


def _cap(tok: Token, k: int, first_word: int) -> bool:
    """A capitalised word that is a name: not merely the sentence's capitalised first word (a
    function word, or a verb form such as "Trained")."""
    if not tok.is_capitalised:
        return False
    if k != first_word:
        return True
    return bool(tok.term) and not _is_past(tok) and not tok.low.endswith("ing")


def _same_kind(prev: Token, nxt: Token, k: int, first_word: int) -> bool:
    """Names and common words form separate phrases ("North Korea" | "send troops"), except a
    capitalised modifier of a common noun ("North Korean troops")."""
    prev_cap = _cap(prev, k, first_word)
    if prev_cap == nxt.is_capitalised:
        return True
    # "Korean troops": a capitalised adjective (demonym) runs into the noun after it.
    return prev_cap and prev.low.endswith(("an", "ese", "ish", "ic"))


def names_in(text: str) -> list[Phrase]:
    """Capitalised phrases of ``text`` (names), in order."""
    return [p for p in phrases(text) if p.capitalised]
