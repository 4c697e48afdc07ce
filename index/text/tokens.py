"""Tokens with offsets, for reading answers out of sentences: words (the shared tokenizer of
:mod:`index.text.words`) and single punctuation marks, each with its matching ``term``.

General English only: the shared stop words and Snowball stems, irregular verb forms mapped to
their base form (the stemmer leaves "ran"/"run" apart), and ``wordfreq``'s Zipf frequencies for
how rare a word is in English at large. Nothing here comes from a corpus citeqa is evaluated on.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from index.text.words import WORD_PATTERN, is_stopword, term

# A word or number (the shared pattern), else one punctuation mark.
_TOKEN_RE = re.compile(rf"{WORD_PATTERN}|[^\w\s]")

NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nor",
        "neither",
        "cannot",
        "without",
        "n't",
        "nobody",
        "nothing",
    ]
)

_MONTHS = frozenset(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ]
)
_IRREGULAR_TEXT = """
arose,arisen:arise ate,eaten:eat awoke,awoken:awake became:become began,begun:begin bent:bend
bitten:bite blew,blown:blow borne:bear broke,broken:break brought:bring
built:build burnt:burn bought:buy caught:catch chose,chosen:choose came:come dealt:deal dug:dig
did,done:do drew,drawn:draw drank,drunk:drink drove,driven:drive fell,fallen:fall fed:feed
felt:feel fought:fight fled:flee flew,flown:fly forbade,forbidden:forbid
forgot,forgotten:forget froze,frozen:freeze got,gotten:get gave,given:give went,gone:go
grew,grown:grow hung:hang heard:hear hid,hidden:hide held:hold kept:keep knew,known:know
laid:lay led:lead lent:lend lay,lain:lie lost:lose made:make meant:mean met:meet
paid:pay rode,ridden:ride rang,rung:ring rose,risen:rise ran:run saw,seen:see sought:seek
sold:sell sent:send shook,shaken:shake shot:shoot shone:shine showed,shown:show sang,sung:sing
sank,sunk:sink sat:sit slept:sleep slid:slide spoke,spoken:speak spent:spend spun:spin
stood:stand stole,stolen:steal stuck:stick struck,stricken:strike swore,sworn:swear swept:sweep
swam,swum:swim took,taken:take taught:teach tore,torn:tear told:tell thought:think
threw,thrown:throw understood:understand woke,woken:wake wore,worn:wear won:win
wrote,written:write withdrew,withdrawn:withdraw overthrew,overthrown:overthrow
undertook,undertaken:undertake upheld:uphold
"""
IRREGULAR = {
    form: entry.split(":")[1]
    for entry in _IRREGULAR_TEXT.split()
    for form in entry.split(":")[0].split(",")
}


@dataclass(frozen=True)
class Token:
    """One token: surface text, offsets into the string it came from, and derived forms."""

    text: str
    start: int
    end: int
    low: str
    term: str  # term of a content word, "" for stop words and punctuation
    is_word: bool

    @property
    def is_capitalised(self) -> bool:
        return self.text[:1].isupper()

    @property
    def is_number(self) -> bool:
        return self.text[:1].isdigit()


def lemma_term(low: str) -> str:
    """The term of a case-folded word, irregular verb forms first mapped to their base form."""
    return term(IRREGULAR.get(low, low))


def tokenize(text: str) -> list[Token]:
    """Tokens of ``text`` with offsets into it."""
    out: list[Token] = []
    for m in _TOKEN_RE.finditer(text):
        surface = m.group(0)
        low = surface.casefold().replace("’", "'")
        is_word = surface[:1].isalnum()
        token_term = lemma_term(low) if is_word and not is_stopword(surface) else ""
        out.append(Token(surface, m.start(), m.end(), low, token_term, is_word))
    return out


@functools.lru_cache(maxsize=200_000)
def rarity(word: str) -> float:
    """General-English rarity in [0, 1]: 0 for the commonest words, 1 for unseen ones."""
    if not word or word[:1].isdigit():
        return 1.0
    from wordfreq import zipf_frequency

    return max(0.0, min(1.0, (7.0 - zipf_frequency(word, "en")) / 7.0))


def is_month(low: str) -> bool:
    return low in _MONTHS


def is_year(tok: Token) -> bool:
    t = tok.text
    return len(t) == 4 and t.isdigit() and 1000 <= int(t) <= 2100
