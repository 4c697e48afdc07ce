"""Title detection and generic boilerplate recognition, on the seeds and on unseen variants."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.text.cleaning import detect_title, find_boilerplate, iter_lines

ARTICLE = (
    "Officials confirmed on Monday that the ceasefire talks would resume next week in Geneva.\n"
    "The delegations, led by two former ministers, are expected to discuss prisoner exchanges.\n"
)


def _flagged(text: str) -> list[str]:
    return [text[s:e] for s, e in find_boilerplate(text)]


def _seed(seeds_dir: Path, stem: str) -> str:
    return (seeds_dir / f"{stem}.txt").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- seeds


def test_seed_000_link_list_and_counters(seeds_dir: Path) -> None:
    flagged = _flagged(_seed(seeds_dir, "000_b9f469ab44661bfc"))
    assert flagged == [
        "Also Read:- Former Rangers Striker Alfredo Morelos Arrested for Drink-Driving in Colombia",
        "- Western Australia Near Victory as Tasmania Falters After Inglis Century",
        "Read More:",
        "0 Comments",
    ]


def test_seed_002_repeated_title_widget_and_site_name(seeds_dir: Path) -> None:
    text = _seed(seeds_dir, "002_305273ed8ae84061")
    title = "Is the North Korean leader preparing his troops for deployment to Ukraine?"
    assert _flagged(text) == [title, title, title, "+ ↺ − 16 px", "News.Az"]
    assert detect_title(text) == title


def test_seed_004_subscribe_prompts(seeds_dir: Path) -> None:
    assert _flagged(_seed(seeds_dir, "004_114b54cabd2150fb")) == [
        "Discover more from Business-News-Today.com",
        "Subscribe to get the latest posts sent to your email.",
    ]


@pytest.mark.parametrize("stem", ["001_1dd7cd56be1e7884", "003_f3496298b4f174d5"])
def test_clean_seeds_have_no_boilerplate(seeds_dir: Path, stem: str) -> None:
    # 003's subheadings ("Conclusion: A Dangerous Precedent") are content, not link lists.
    assert find_boilerplate(_seed(seeds_dir, stem)) == []


def test_seed_titles(seeds_dir: Path) -> None:
    assert detect_title(_seed(seeds_dir, "000_b9f469ab44661bfc")).startswith(
        "North Korean Troops in Ukraine: Could Kyiv Follow"
    )
    assert detect_title(_seed(seeds_dir, "003_f3496298b4f174d5")) == (
        "North Korean Troops in Ukraine: A Shift in Global Power Dynamics and its Implications"
    )
    # 001 and 004 open with a paragraph: no headline.
    assert detect_title(_seed(seeds_dir, "001_1dd7cd56be1e7884")) == ""
    assert detect_title(_seed(seeds_dir, "004_114b54cabd2150fb")) == ""


# --------------------------------------------------------------------------- unseen variants


@pytest.mark.parametrize(
    "line",
    [
        "Related Articles:",
        "See also: How sanctions work",
        "READ ALSO - Markets fall on war fears",
        "Must Read: Ten things to know",
        "You may also like",
        "More from World News",
        "Continue reading...",
        "Tags: Russia, Ukraine, Korea",
        "Share this:",
    ],
)
def test_link_list_headers(line: str) -> None:
    text = ARTICLE + line + "\n" + ARTICLE
    assert _flagged(text) == [line]


def test_bullets_after_a_link_list_header_are_flagged() -> None:
    text = (
        ARTICLE
        + "Related stories:\n"
        + "* Grain exports rise again\n"
        + "• Drone strike hits depot\n"
        + "1. Talks stall in Vienna\n"
        + ARTICLE
    )
    assert _flagged(text) == [
        "Related stories:",
        "* Grain exports rise again",
        "• Drone strike hits depot",
        "1. Talks stall in Vienna",
    ]


def test_bullets_in_article_body_are_kept() -> None:
    text = (
        ARTICLE
        + "The agreement covers three points:\n"
        + "- prisoner exchanges within a month,\n"
        + "- a corridor for grain shipments,\n"
        + "- monitoring by neutral observers.\n"
        + ARTICLE
    )
    assert find_boilerplate(text) == []


@pytest.mark.parametrize(
    "line",
    [
        "12 Comments",
        "1 comment",
        "No Comments",
        "Comments (3)",
        "Leave a Comment",
        "View all comments",
        "1.2K shares",
        "5 min read",
    ],
)
def test_engagement_counters(line: str) -> None:
    assert _flagged(ARTICLE + line + "\n" + ARTICLE) == [line]


@pytest.mark.parametrize(
    "line",
    [
        "Sign up for our daily newsletter",
        "Subscribe now to keep reading and get access to the full archive.",
        "Discover more from The Daily Planet",
        "Follow us on Telegram",
        "Get the latest headlines sent straight to your inbox.",
        "Advertisement",
        "© 2024 Example Media. All rights reserved.",
        "Photo: Reuters",
    ],
)
def test_subscribe_and_site_prompts(line: str) -> None:
    assert _flagged(ARTICLE + line + "\n" + ARTICLE) == [line]


@pytest.mark.parametrize(
    "line", ["A- A A+", "⟳ ✕ 14 px", "« 1 2 3 »", "1 | 2 | 3 Next", "+ − 18px", "| | |", "* * *"]
)
def test_widget_residue(line: str) -> None:
    assert _flagged(ARTICLE + line + "\n" + ARTICLE) == [line]


def test_title_repeated_twice_is_flagged_every_time() -> None:
    title = "Flood Waters Recede in the Valley"
    text = f"{title}\n{title}\n\n{ARTICLE}"
    assert _flagged(text) == [title, title]
    assert detect_title(text) == title


def test_title_once_is_content() -> None:
    text = "Flood Waters Recede in the Valley\n" + ARTICLE
    assert find_boilerplate(text) == []


def test_other_repeated_heading_keeps_first_copy() -> None:
    text = ARTICLE + "Key Facts\n" + ARTICLE + "Key Facts\n" + ARTICLE
    spans = find_boilerplate(text)
    assert [text[s:e] for s, e in spans] == ["Key Facts"]
    assert spans[0][0] == text.rindex("Key Facts")


@pytest.mark.parametrize("footer", ["Example.co.uk", "Daily Herald", "www.news-site.org"])
def test_trailing_site_name(footer: str) -> None:
    assert _flagged(ARTICLE + "\n" + footer + "\n") == [footer]


def test_short_line_above_paragraphs_is_not_a_footer() -> None:
    text = "Background\n" + ARTICLE + "Outlook\n" + ARTICLE
    assert find_boilerplate(text) == []


@pytest.mark.parametrize(
    "line",
    [
        "Readers who subscribe to the ministry's bulletin were told on Friday that the "
        "evacuation would continue for at least another week, officials said in a statement.",
        "Conclusion: A Dangerous Precedent",
        "The U.S. and NATO responded.",
        "Casualties: 3,000 confirmed.",
        "3,000",
        "12,000.",
        "GDP 3%",
        "U.S.",
    ],
)
def test_article_lines_are_not_flagged(line: str) -> None:
    assert find_boilerplate(ARTICLE + line + "\n" + ARTICLE) == []


def test_spans_index_the_unchanged_text_with_crlf() -> None:
    text = "Headline Here\r\n" + ARTICLE.replace("\n", "\r\n") + "0 Comments\r\n"
    spans = find_boilerplate(text)
    assert [text[s:e] for s, e in spans] == ["0 Comments"]
    assert all(0 <= s < e <= len(text) for s, e in spans)


# --------------------------------------------------------------------------- titles


def test_markdown_titles() -> None:
    assert detect_title("# River Report\n\nBody text here.") == "River Report"
    assert detect_title("---\ntitle: 'Front Matter Title'\n---\n# Other\n") == (
        "Front Matter Title"
    )


def test_no_title_when_first_line_is_a_sentence() -> None:
    assert detect_title("Short sentence ends here.\nMore text.") == ""
    assert detect_title("\n\n   \n") == ""


def test_iter_lines_handles_all_line_breaks() -> None:
    text = "a\r\nb\rc\u2028d\n"
    assert [text[s:e] for s, e in iter_lines(text)] == ["a", "b", "c", "d", ""]


def test_trailing_list_of_short_lines_is_not_a_footer() -> None:
    text = ARTICLE + "Ingredients\nFlour\nSugar\nButter\n"
    assert find_boilerplate(text) == []


def test_many_short_lines_stay_fast() -> None:
    text = "Opening Headline\n" + "A short line of plain text\n" * 20_000
    # A line repeated throughout is flagged after its first copy, in linear time.
    assert len(find_boilerplate(text)) == 19_999


def test_title_after_byline_and_dateline() -> None:
    text = "By Jane Doe\nOctober 28, 2024\nGrain Deal Collapses Overnight\n" + ARTICLE
    assert detect_title(text) == "Grain Deal Collapses Overnight"
    assert detect_title("+ ↺ − 16 px\nWidget Residue Comes First\n" + ARTICLE) == (
        "Widget Residue Comes First"
    )
