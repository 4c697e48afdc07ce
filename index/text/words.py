"""The one word tokenizer, stemmer and stop-word list, shared by BM25, re-ranking and answering.

``words`` finds word and number tokens in order; ``term`` is the matching key of one token
(case-folded and Snowball-stemmed, numbers without thousands separators); ``content_terms`` keeps
the terms of the words that carry a topic.

    words("Kim Jong Un's troops: 10,000.")   # ['Kim', 'Jong', "Un's", 'troops', '10,000']
    content_terms("Who signed the pacts?")   # ['sign', 'pact']
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import Stemmer

# A number (with separators), an initialism ("U.S"), or a run of letters with inner apostrophes.
# Hyphens and other punctuation split words ("Jong-un" -> "Jong", "un").
WORD_PATTERN = r"\d[\d,.]*\d|\d|(?:[^\W\d_]\.){1,3}[^\W\d_](?![^\W\d_])|[^\W\d_]+(?:['’][^\W\d_]+)*"
_WORD_RE = re.compile(WORD_PATTERN)

# English function words, question words and the filler of how questions are phrased ("tell",
# "exactly", "according"): they say what kind of answer is wanted, not what it is about.
_STOPWORD_TEXT = """
    a about above according actually after again against all already also am among an and any
    anything apart approximately are aren't as aside at be because been before being below
    besides between both but by can could currently did do does doing done down during each
    either estimate estimated ever exactly except excluding extent few figure figures for from
    further had happen happened happening has have having he her here hers herself him himself
    his how i if in including into is it its itself just kind let magnitude make made many may
    me might more most much must my myself neither no nor not now number of off on once one ones
    only or other our ours out over own per really report reported reportedly reports roughly
    said same say says scale shall she should since size so some something sort still such than
    that the their theirs them themselves then there there's these they thing things this those
    through to too total type under until up us various very was way ways we were what what's
    whats when where which while who who's whom whose why will with would yet you your yours
    yourself amount different differing tell
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_local = threading.local()


def words(text: str) -> list[str]:
    """Word and number tokens of ``text`` in order, as written."""
    return _WORD_RE.findall(text)


def _stemmer() -> Stemmer.Stemmer:
    # PyStemmer objects are not safe to share between threads: one per thread.
    stemmer: Stemmer.Stemmer | None = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = Stemmer.Stemmer("english")
        _local.stemmer = stemmer
    return stemmer


@lru_cache(maxsize=200_000)
def term(word: str) -> str:
    """The matching key of one token: Snowball (Porter2) stem of the case-folded word without a
    possessive; numbers keep their digits and lose thousands separators."""
    low = word.casefold().replace("’", "'")
    if low[:1].isdigit():
        return low.replace(",", "").rstrip(".")
    low = low.removesuffix("'s").strip("'.")
    if not low or "." in low:
        return low or word.casefold()  # initialisms ("u.s") are kept as written
    return str(_stemmer().stemWord(low))


def is_stopword(word: str) -> bool:
    """Whether the token carries no topic (a function word, or a single letter)."""
    low = word.casefold().replace("’", "'")
    return low in STOPWORDS or (len(low) < 2 and not low.isdigit())


def content_terms(text: str) -> list[str]:
    """Terms of the topic-carrying words of ``text``, in order, repeats kept."""
    return [term(w) for w in words(text) if not is_stopword(w)]
