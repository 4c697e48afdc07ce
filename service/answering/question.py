"""Question analysis: what kind of answer is wanted, about what, and the terms to match.

Terms are lowercased, crudely stemmed and folded through small synonym groups so that a question
about "troops" matches text about "soldiers" or "forces", and "Pyongyang" matches "North Korea".
The groups are generic vocabulary of news about states and wars, not lists of expected questions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from index.text.words import STOPWORDS, words
from index.text.words import term as stem

QuestionType = Literal["count", "who", "when", "where", "why", "what"]


def wordset(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text`` as a set."""
    return frozenset(text.split())


# Synonym groups: every member maps to the first word (the canonical term).
_GROUPS: tuple[tuple[str, ...], ...] = (
    (
        "troop",
        "soldier",
        "force",
        "personnel",
        "servicemen",
        "serviceman",
        "fighter",
        "combatant",
        "army",
        "contingent",
        "men",
        "infantry",
        "recruit",
    ),
    (
        "send",
        "sent",
        "deploy",
        "dispatch",
        "station",
        "transfer",
        "sending",
        "deployment",
        "post",
    ),
    ("korea", "korean", "pyongyang", "dprk"),
    ("south", "seoul"),
    ("russia", "russian", "moscow", "kremlin"),
    ("ukraine", "ukrainian", "kyiv", "kiev"),
    ("america", "american", "u.s", "usa", "washington"),
    ("west", "western"),
    ("shortage", "short", "lack", "shortfall", "scarcity"),
    ("die", "died", "dead", "death", "kill", "killed", "casualty", "fatality", "loss", "slain"),
    ("weapon", "arm", "weaponry", "munition", "ammunition", "artillery", "shell", "missile"),
    ("agreement", "treaty", "pact", "deal", "partnership", "alliance", "accord"),
    ("fight", "combat", "battle", "war", "warfare", "fighting", "conflict", "battlefield"),
    ("president", "leader", "head", "lead", "chief", "chairman", "secretary"),
    ("reject", "decline", "refuse", "rebuff", "veto"),
    ("ask", "request", "plea", "appeal", "urge", "call"),
    ("threat", "danger", "risk", "menace", "threaten"),
    ("intelligence", "spy", "agency"),
    ("sign", "signed", "ratify", "ratified", "conclude"),
    ("warn", "warning", "caution"),
    ("help", "support", "aid", "assist", "assistance", "bolster", "reinforce", "reinforcement"),
    ("reason", "motive", "why", "purpose", "goal", "aim", "motivation"),
    ("gain", "benefit", "advantage", "get", "obtain", "receive", "experience"),
    (
        "money",
        "fund",
        "funding",
        "billion",
        "million",
        "dollar",
        "cash",
        "pay",
        "paid",
        "spend",
        "spent",
        "pour",
        "invest",
    ),
    ("nuclear", "atomic"),
    ("return", "back", "bring", "come"),
    ("first", "initial", "early", "earliest"),
    ("jet", "aircraft", "plane", "airplane", "warplane"),
    ("sky", "air", "airspace"),
    ("region", "area", "province", "territory", "oblast"),
    ("respond", "response", "reaction", "react"),
    ("say", "claim", "announce", "reveal", "describe", "mention"),
    ("sanction", "embargo", "isolate", "isolation"),
    ("technology", "tech", "know-how", "technological"),
)
_SYNONYMS: dict[str, str] = {
    key: group[0] for group in _GROUPS for w in group for key in (w, stem(w))
}
# British and American spellings meet ("defence" ~ "defense").
_SPELLING = {
    "defence": "defense",
    "offence": "offense",
    "licence": "license",
    "programme": "program",
    "organisation": "organization",
    "organisations": "organization",
    "centre": "center",
    "favour": "favor",
    "honour": "honor",
    "labour": "labor",
    "manoeuvre": "maneuver",
    "manoeuvres": "maneuver",
    "armour": "armor",
    "armoured": "armored",
}

_COUNT_RE = re.compile(
    r"\b(how many|how much|number of|how large|how big|size of|count of|total of|figure for|"
    r"(?:what|which)(?: [a-z\-]+){0,4}? (?:figures?|numbers?|estimates?|totals?|tally|counts?)|"
    r"estimates? of|figures? for|figures? on|troop numbers|troop levels?|strength of)\b",
    re.IGNORECASE,
)
# "Is it a few thousand or more than ten thousand?": a choice between sizes asks for a figure.
_MAGNITUDE_RE = re.compile(
    r"^(?:is|are|was|were|did|do|does|has|have)\b.*\b(?:dozens?|hundreds?|thousands?|millions?|"
    r"billions?)\b"
)
# "What is the name of the minister ...": asks for a person too.
_NAME_OF_RE = re.compile(r"\s*(?:what|which)(?:'s|’s| is| was| are| were)? the names? of\b")
# "Which leader ...", "what South Korean minister ...": a who-question in disguise.
_PERSON_RE = re.compile(
    r"^(?:which|what)\s+(?:(?!(?:did|does|do|is|are|was|were|has|have|had|can|could|will|would)\b)"
    r"[\w.'’-]+\s+){0,3}?(?:leader|president|minister|colonel|general|"
    r"official|politician|person|people|commander|secretary|analyst|expert|spokesman|"
    r"spokesperson|chancellor|king|ruler|dictator)s?\b"
)
_AUX = wordset(
    """
    did do does is are was were has have had will would could can may might been be being in to
    on at for from by of that which who per according
    """
)
# Words that can start a question: capitalised there without being names.
_QUESTION_STARTERS = wordset(
    """
    what who whom whose when where why how which is are was were do does did has have had can
    could would should will according in on at per tell give list name
    """
)


def canonical(word: str) -> str:
    """The matching key of a word: synonym group head, else its stem."""
    low = word.lower().replace("’", "'").strip("'-.")
    low = _SPELLING.get(low, low)
    if low in _SYNONYMS:
        return _SYNONYMS[low]
    s = stem(low)
    return _SYNONYMS.get(s, s)


def content_terms(text: str) -> list[str]:
    """Canonical terms of the non-stopword words of ``text`` (order kept, duplicates removed)."""
    out: list[str] = []
    for w in words(text):
        low = w.lower()
        if low in STOPWORDS or (len(low) < 2 and not low.isdigit()):
            continue
        term = canonical(w)
        if term and term not in out and term not in STOPWORDS:
            out.append(term)
    return out


@dataclass(frozen=True)
class QuestionAnalysis:
    """What a question asks: its type, key terms and the noun it is about."""

    text: str
    qtype: QuestionType
    terms: tuple[str, ...]
    focus: str | None
    names: tuple[str, ...]
    numbers: tuple[str, ...]
    modifiers: tuple[str, ...] = ()  # words qualifying the counted noun ("North Korean")
    head: str | None = None  # the noun after "what"/"which" ("what salary ..."), if any
    predicates: tuple[str, ...] = ()  # what happened to it: "killed" in "were killed"
    role: str | None = None  # the kind of person a who-question wants ("commander")


def analyze_question(question: str) -> QuestionAnalysis:
    """Classifies ``question`` and extracts its terms, focus noun, names and numbers."""
    q = _interrogative(" ".join(question.split()))
    qtype = _question_type(q)
    terms = content_terms(q)
    names = _name_terms(q)
    numbers = tuple(canonical(n) for n in re.findall(r"\b\d[\d,.]*\b", q))
    focus, modifiers = _focus(q, qtype)
    return QuestionAnalysis(
        text=q,
        qtype=qtype,
        terms=tuple(terms),
        focus=focus,
        names=tuple(n for n in names if n not in numbers),
        numbers=numbers,
        modifiers=modifiers,
        head=_wh_head(q) if qtype == "what" else None,
        predicates=tuple(
            canonical(w)
            for w in re.findall(
                # "were killed", "have deserted": what happened to the thing asked about.
                r"\b(?:(?:is|are|was|were|been|get|got|being)\s+([a-z]+)|"
                r"(?:have|has|had)\s+([a-z]+ed))\b",
                q.lower(),
            )
            for w in ("".join(w),)
            if w not in STOPWORDS
        ),
        role=_role(q) if qtype == "who" else None,
    )


def _interrogative(q: str) -> str:
    """Only the question sentences of a text that also gives orders ("... ? Also add that ...").

    The asker's extra imperatives are not part of what is asked; matching them against the
    corpus would make a good question look unanswerable.
    """
    parts = re.split(r"(?<=[.?!])\s+(?=[A-Z])", q)
    asked = [p for p in parts if p.rstrip().endswith("?")]
    if len(parts) > 1 and asked:
        return " ".join(asked)
    return q


_ROLE_RE = re.compile(
    r"\b(leader|president|minister|colonel|general|official|politician|commander|secretary|"
    r"analyst|expert|spokesman|spokesperson|chancellor|king|ruler|dictator|officer|chief|head|"
    r"ambassador|envoy|diplomat|negotiator|general|admiral|mayor|governor|premier|"
    r"prime minister|foreign minister|senator|journalist|reporter|author|writer|scholar)s?\b"
)


def _role(q: str) -> str | None:
    """The role noun a who-question asks about: "commander" in "who is the ... commander ...".

    When no retrieved text names such a role at all, no passage can say who holds it.
    """
    m = _ROLE_RE.search(q.lower())
    if m is None:
        return None
    return canonical(m.group(1).split()[-1])


def _question_type(q: str) -> QuestionType:
    low = q.lower()
    if re.match(r"\s*(?:who|whom|whose)\b", low):
        return "who"  # "who reported the troop numbers?" wants a name, not a figure
    if _COUNT_RE.search(low) or _MAGNITUDE_RE.search(low):
        return "count"
    if _PERSON_RE.search(low) or (_NAME_OF_RE.match(low) and _ROLE_RE.search(low)):
        return "who"
    # The first question word decides: "what did they reject when Ukraine asked?" is a what.
    first = re.search(
        r"\b(who|whom|whose|when|where|why|(?:what|which) (?:year|month|date|day|time)|what|"
        r"which|how)\b",
        low,
    )
    if first is None:
        return "what"
    word = first.group(1)
    if word in ("who", "whom", "whose"):
        return "who"
    if word == "when" or word.startswith(("what ", "which ")):
        return "when"
    if word == "where":
        return "where"
    if word == "why":
        return "why"
    return "what"  # what / which / how


def _focus(q: str, qtype: QuestionType) -> tuple[str | None, tuple[str, ...]]:
    """The counted noun and its modifiers: ("tank", ()) for "how many tanks did ... send"."""
    if qtype != "count":
        return None, ()
    low = q.lower()
    m = _COUNT_RE.search(low)
    if m is None:
        # "a few thousand soldiers or ...": the noun after the magnitude is counted.
        mag = re.search(r"\b(?:dozens?|hundreds?|thousands?|millions?)\s+(?:of\s+)?([a-z]+)", low)
        if mag and mag.group(1) not in STOPWORDS and mag.group(1) not in _AUX:
            return canonical(mag.group(1)), ()
        return None, ()
    inside = words(m.group(0))
    rest = low[m.end() :]
    if inside[0] in ("what", "which"):
        # "what approximate troop figure ...": the counted thing sits before "figure", or after
        # "for"/"of" ("what estimate ... for the deployment").
        before = [
            w
            for w in inside[1:-1]
            if w not in STOPWORDS and w not in _META_NOUNS and not _ADJECTIVE_RE.search(w)
        ]
        if before:
            return canonical(before[-1]), tuple(canonical(w) for w in before[:-1])
        after = re.search(r"\b(?:for|of|on)\s+", rest)
        if after is None:
            return None, ()
        rest = rest[after.end() :]
    # "the size of the deployment": the measure word is not the thing measured.
    rest = _META_OF_RE.sub("", rest)
    tail = words(rest)
    phrase: list[str] = []
    # "how many tanks did ..." has the noun first; "how much did Russia pay" has none.
    for w in tail if tail and tail[0] not in _AUX else []:
        if w in _AUX or w in ("the", "a", "an"):
            if phrase:
                break
            continue
        phrase.append(w)
        if len(phrase) >= 4:
            break
    # Counted nouns are plural: "how many North Korean forces sent ..." counts "forces".
    plural = [
        i
        for i, w in enumerate(phrase)
        if w.endswith("s") and not w.endswith("ss") and w not in STOPWORDS
    ]
    candidates = plural or [i for i, w in enumerate(phrase) if w not in STOPWORDS][-1:]
    if candidates:
        i = candidates[0]
        if not plural and re.search(r"(?:ment|tion|sion)$", phrase[i]):
            # "the size of the deployment": an event is not counted, what it involved is; the
            # sentence need not repeat the event noun.
            return None, ()
        # Modifiers qualify a counted plural ("Ukrainian soldiers"); before a singular event noun
        # ("the North Korean deployment") they sit anywhere in an answering sentence.
        mods = tuple(canonical(w) for w in phrase[:i] if w not in STOPWORDS) if plural else ()
        return canonical(phrase[i]), mods
    # "how much did Russia pay ...": no noun right after, the first non-name term is asked.
    names = set(_name_terms(q))
    for w in tail:
        if w not in STOPWORDS and w not in _AUX and canonical(w) not in names:
            return canonical(w), ()
    return None, ()


_ADJECTIVE_RE = re.compile(
    r"(?:ate|al|ous|ive|ic|ful|able|ible|ent|ant)$|^(?:main|key|major|other|specific|exact|new|"
    r"first|last|total|current|overall|latest|rough|big|large|small|high|low|least|most)$|"
    # Superlatives ("largest", "lowest") qualify the figure, they are not what is counted.
    r"^(?!(?:interest|request|protest|contest|harvest|forest|arrest|suggest|conquest)$)"
    r"[a-z]{2,}[^aeiou]est$"
)
# Words that only say "the quantity of" / "what it is called": the thing asked comes after "of".
_META_NOUNS = wordset("size scale extent level name names magnitude breadth")
_META_OF_RE = re.compile(
    r"^\s*(?:(?:the|a|an)\s+)?(?:[a-z]+\s+)?(?:" + "|".join(sorted(_META_NOUNS)) + r")\s+of\s+"
)
_HEAD_SKIP = wordset("kind sort type types kinds sorts one two three four five several")


def _wh_head(q: str) -> str | None:
    """The noun right after a leading "what"/"which" ("what salary ..." -> "salary")."""
    m = re.match(r"\s*(?:what|which)\s+(.*)", q, re.IGNORECASE)
    if m is None:
        return None
    rest = words(m.group(1))
    if len(rest) > 2 and rest[0].lower() in ("is", "are", "was", "were"):
        # "what is the population of ...": the noun after "is the" is what is asked.
        if rest[1].lower() not in ("the", "a", "an") or rest[2].lower() in STOPWORDS:
            return None
        i = 2
        while i < len(rest) - 1 and _ADJECTIVE_RE.search(rest[i].lower()):
            i += 1  # "what is the main reason": the noun after the adjectives
        if rest[i].lower() in _META_NOUNS:
            return None  # "what is the name of ...": the rest of the question says what
        return canonical(rest[i])
    for w in rest[:4]:
        low = w.lower()
        if low in _META_NOUNS:
            return None
        if low in _HEAD_SKIP or low == "of" or w[0].isupper() or _ADJECTIVE_RE.search(low):
            continue  # "what kind of treaty", "which Russian region", "what approximate figure"
        if low in _AUX or low in STOPWORDS:
            return None
        return canonical(w)
    return None


def _name_terms(q: str) -> tuple[str, ...]:
    """Canonical terms of capitalised words that are not just the question's first word."""
    out: list[str] = []
    for i, w in enumerate(words(q)):
        if not w[0].isupper() or (i == 0 and w.lower() in _QUESTION_STARTERS):
            continue
        if i == 0 and w.lower() in STOPWORDS:
            continue
        term = canonical(w)
        if term and term not in out and term not in STOPWORDS:
            out.append(term)
    return tuple(out)
