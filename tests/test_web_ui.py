"""The web page in a real browser (Debian's Chromium through Playwright) against a real server.

The server is uvicorn on a free loopback port over a copy of the seed index with the real
embedder and the default extractive generator. One browser serves the module; every test gets a
fresh context whose console, page errors, dialogs and requests are watched: a test fails on any
console error it did not announce, any uncaught page error, any dialog (``alert``) and any request
that leaves the server's origin.

Needs Playwright for Python (in the lock; never ``playwright install``) and Debian's ``chromium``
on PATH, both installed by ``make setup``; without them the tests fail saying so.
Screenshots: ``CITEQA_WEB_SHOTS=DIR pytest -m browser -k screenshots``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    FilePayload,
    Page,
    Request,
    Route,
    expect,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from service.http.app import create_app
from service.settings import Settings
from tests.fakes import FakeDocumentFactory, fake_parts, live_server

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.integration]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parent.parent
GOLD = REPO / "eval" / "gold.jsonl"
SEEDS_DIR = REPO / "seeds"
UPLOAD_LIMIT = 64 * 1024
ANSWER_TIMEOUT_MS = 90_000
CONTEXT_CHARS = 600  # must match app.js
PAGE_BUDGET_BYTES = 150 * 1024
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 375, "height": 812}

PACT = "Who signed the mutual defense pact?"
TROOPS = "How many North Korean troops are in Russia?"
OUTSIDE = "What is the capital of Australia?"


# ---------------------------------------------------------------- server and browser


@dataclass
class Served:
    url: str
    feedback_file: Path


def real_loader(embedder: Any) -> Any:
    def loader(settings: Settings) -> Any:
        from service import wiring

        index = wiring.open_index(settings, embedder=embedder, index_dir=settings.index_dir)
        return index, wiring.build_answerer(settings, index)

    return loader


@pytest.fixture(scope="module")
def server(
    seed_index_dir: Path, real_embedder: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("web-ui")
    index_dir = root / "index"
    shutil.copytree(seed_index_dir, index_dir)
    feedback = root / "feedback" / "feedback.jsonl"
    settings = Settings(
        index_dir=index_dir,
        feedback_file=feedback,
        rate_limit_per_minute=100_000,
        max_upload_bytes=UPLOAD_LIMIT,
    )
    app = create_app(settings, loader=real_loader(real_embedder))
    with live_server(app) as url:
        assert app.state.citeqa.state.ready_event.wait(120), app.state.citeqa.state.error
        # After readiness the loader thread imports litellm (~3 s of CPU holding the GIL, which
        # this in-process server shares): let it finish so timings measure the page.
        for thread in threading.enumerate():
            if thread.name == "citeqa-loader":
                thread.join(60)
        yield Served(url, feedback)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not on PATH: run `make setup` (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Watch:
    """What a page did that a test must account for."""

    origin: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    expected_statuses: set[int] = field(default_factory=set)

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type not in ("error", "assert"):
            return
        # A deliberately provoked HTTP error is logged by Chromium itself; only those pass.
        m = re.match(
            r"Failed to load resource: the server responded with a status of (\d+)", msg.text
        )
        url = str(msg.location.get("url", ""))
        if m and int(m.group(1)) in self.expected_statuses and url.startswith(self.origin):
            return
        self.console_errors.append(f"{msg.text} @ {url}")

    def on_request(self, request: Request) -> None:
        self.requests.append(request)
        if not request.url.startswith(self.origin + "/"):
            self.foreign_requests.append(request.url)

    def expect_status(self, *statuses: int) -> None:
        self.expected_statuses.update(statuses)

    def paths(self) -> list[str]:
        return [httpx.URL(r.url).path for r in self.requests]

    def assert_clean(self) -> None:
        assert self.page_errors == [], self.page_errors
        assert self.console_errors == [], self.console_errors
        assert self.dialogs == [], self.dialogs
        assert self.foreign_requests == [], self.foreign_requests


@dataclass
class Session:
    page: Page
    watch: Watch
    url: str


def open_session(browser: Browser, url: str, viewport: dict[str, int], **ctx: Any) -> Session:
    context = browser.new_context(viewport=viewport, **ctx)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(30_000)
    watch = Watch(origin=url)
    page.on("console", watch.on_console)
    page.on("pageerror", lambda exc: watch.page_errors.append(str(exc)))

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("request", watch.on_request)
    return Session(page, watch, url)


@pytest.fixture
def session(browser: Browser, server: Served) -> Iterator[Session]:
    s = open_session(browser, server.url, DESKTOP)
    yield s
    s.page.context.close()
    s.watch.assert_clean()


@pytest.fixture
def mobile(browser: Browser, server: Served) -> Iterator[Session]:
    s = open_session(browser, server.url, MOBILE, is_mobile=True, has_touch=True)
    yield s
    s.page.context.close()
    s.watch.assert_clean()


# ---------------------------------------------------------------- page helpers


def load(s: Session, fragment: str = "") -> Page:
    s.page.goto(f"{s.url}/{fragment}")
    expect(s.page.locator("html[data-ready]")).to_have_count(1)
    return s.page


def parse_sse(text: str) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    for frame in re.split(r"\r?\n\r?\n", text.strip()):
        name, data = "message", []
        for line in re.split(r"\r?\n", frame):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


def ask(s: Session, question: str) -> dict[str, Any]:
    """Asks through the page (Enter in the box); returns the Answer JSON the page received."""
    page = s.page
    turns = page.locator(".turn")
    before = turns.count()
    with page.expect_response(
        lambda r: r.url == f"{s.url}/ask" and r.request.method == "POST"
    ) as info:
        page.locator("#question").fill(question)
        page.locator("#question").press("Enter")
    response = info.value
    assert response.status == 200, response.text()
    events = parse_sse(response.text())
    names = [e for e, _ in events]
    assert names[-2:] == ["citations", "done"], names
    turn = turns.nth(before)
    expect(turn.locator(".feedback")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    answer: dict[str, Any] = events[-1][1]
    return answer


def last_turn(page: Page) -> Any:
    return page.locator(".turn").last


def document_text(url: str, doc_id: str) -> str:
    r = httpx.get(f"{url}/documents/{doc_id}", timeout=30)
    r.raise_for_status()
    text = r.json()["text"]
    assert isinstance(text, str)
    return text


def check_highlight(s: Session, turn: Any, citation: dict[str, Any], doc_text: str) -> None:
    """Opens citation [n] of ``turn``; the <mark> must be exactly text[start:end] == quote, and
    the excerpt exactly the ±CONTEXT_CHARS window around it."""
    page = s.page
    n = citation["id"]
    turn.locator(f".sources button.cite[data-cite='{n}']").click()
    panel = page.locator("#source-panel")
    expect(panel).to_be_visible()
    expect(page.locator("#panel-kicker")).to_have_text(f"Source [{n}]")
    mark = panel.locator("mark")
    expect(mark).to_have_count(1)
    start, end = citation["start"], citation["end"]
    assert doc_text[start:end] == citation["quote"]
    assert mark.text_content() == citation["quote"], (citation, mark.text_content())
    window = doc_text[max(0, start - CONTEXT_CHARS) : end + CONTEXT_CHARS]
    assert panel.locator(".excerpt").text_content() == window
    expect(page.locator("#panel-doc-id")).to_have_text(citation["doc_id"])
    expect(page.locator("#panel-warning")).to_be_hidden()
    expect(mark).to_be_in_viewport()


def close_panel(page: Page) -> None:
    page.keyboard.press("Escape")
    expect(page.locator("#source-panel")).to_be_hidden()


def upload_file(page: Page, name: str, data: bytes, mime: str = "text/plain") -> None:
    payload: FilePayload = {"name": name, "mimeType": mime, "buffer": data}
    page.locator("#upload-file").set_input_files(files=[payload])


def drop_file(page: Page, name: str, text: str) -> None:
    data_transfer = page.evaluate_handle(
        """([name, text]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], name, { type: "text/plain" }));
            return dt;
        }""",
        [name, text],
    )
    zone = page.locator("#drop-zone")
    zone.dispatch_event("dragenter", {"dataTransfer": data_transfer})
    expect(zone).to_have_class(re.compile(r"\bis-over\b"))
    zone.dispatch_event("dragover", {"dataTransfer": data_transfer})
    zone.dispatch_event("drop", {"dataTransfer": data_transfer})


def doc_row(page: Page, doc_id: str) -> Any:
    return page.locator(f"#docs-body tr[data-doc-id='{doc_id}']")


def delete_through_dialog(page: Page, doc_id: str) -> None:
    row = doc_row(page, doc_id)
    row.get_by_role("button", name=re.compile("^Delete")).click()
    dialog = page.locator("#delete-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(doc_id)
    dialog.get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)


def gold_questions() -> list[str]:
    items = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line]
    return [i["question"] for i in items if i["expected_behavior"] == "answer"]


# ---------------------------------------------------------------- headers, paint, weight


FCP_JS = """() => new Promise((resolve) => {
    const seen = (list) => list.getEntriesByName("first-contentful-paint")[0];
    const now = seen(performance);
    if (now) return resolve(now.startTime);
    new PerformanceObserver((list) => {
        const entry = seen(list);
        if (entry) resolve(entry.startTime);
    }).observe({ type: "paint", buffered: true });
    setTimeout(() => resolve(null), 5000);
})"""


WEIGHT_JS = """() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const assets = performance.getEntriesByType("resource")
        .filter((r) => new URL(r.name).pathname.startsWith("/static/"))
        .map((r) => [new URL(r.name).pathname, r.decodedBodySize, r.transferSize,
                     Math.round(r.startTime), Math.round(r.responseEnd)]);
    return { document: [nav.decodedBodySize, nav.transferSize, Math.round(nav.responseStart),
                        Math.round(nav.responseEnd)], assets };
}"""


def test_csp_header_first_paint_and_page_weight(browser: Browser, session: Session) -> None:
    # A long-running server and browser: warm both once (another context has its own cache),
    # then this fresh context loads the page with a cold HTTP cache.
    throwaway = browser.new_context()
    throwaway.new_page().goto(f"{session.url}/", wait_until="load")
    throwaway.close()
    page = session.page
    response = page.goto(f"{session.url}/", wait_until="load")
    assert response is not None
    cold_fcp = page.evaluate(FCP_JS)
    weight = page.evaluate(WEIGHT_JS)
    headers = response.headers
    csp = headers["content-security-policy"]
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ):
        assert directive in csp
    assert "unsafe" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    expect(page.locator("html[data-ready]")).to_have_count(1)
    # The policy is live: inline script is refused, and Trusted Types make HTML sinks throw.
    with pytest.raises(PlaywrightError, match="TrustedScript"):
        page.add_script_tag(content="window.__inline = 1")
    assert page.evaluate("() => window.__inline ?? null") is None
    sink = page.evaluate(
        """() => { try { document.createElement('div').innerHTML = '<b>x</b>'; return 'ok'; }
                   catch (e) { return e.name; } }"""
    )
    assert sink == "TypeError"
    refusals = [e for e in session.watch.console_errors if "requires 'Trusted" in e]
    assert len(refusals) == 2, session.watch.console_errors  # Chromium reports both refusals
    session.watch.console_errors = [e for e in session.watch.console_errors if e not in refusals]

    warm = []
    for _ in range(5):
        page.goto(f"{session.url}/", wait_until="load")
        fcp = page.evaluate(FCP_JS)
        assert fcp is not None
        warm.append(round(float(fcp)))
    body_bytes = weight["document"][0] + sum(a[1] for a in weight["assets"])
    wire_bytes = weight["document"][1] + sum(a[2] for a in weight["assets"])
    print(
        f"\nGET / first-contentful-paint: cold {cold_fcp:.0f} ms; warm {warm} ms "
        f"(median {statistics.median(warm):.0f})"
    )
    print(f"page weight: {body_bytes} bytes of bodies, {wire_bytes} on the wire; {weight}")
    assert {a[0] for a in weight["assets"]} >= {"/static/app.js", "/static/app.css"}
    assert all(a[1] > 0 for a in weight["assets"])
    assert body_bytes < PAGE_BUDGET_BYTES
    assert wire_bytes < PAGE_BUDGET_BYTES
    # First paint (target under 300 ms on loopback) is printed, not asserted: on a shared 2-core
    # machine a busy neighbour makes any time bound flaky. The figures are in the README.
    assert cold_fcp is not None
    assert all(f > 0 for f in warm)


# ---------------------------------------------------------------- asking and sources


def test_ask_streams_cites_and_highlights(session: Session, server: Served) -> None:
    page = load(session)
    answer = ask(session, PACT)
    turn = last_turn(page)
    first = turn.locator(".answer-text button.cite", has_text="[1]").first
    expect(first).to_be_visible()
    assert not answer["abstained"]
    assert answer["citations"]
    # Every [n] of the answer text is a button, in order.
    markers = [int(n) for n in re.findall(r"\[(\d+)\]", answer["answer"])]
    buttons = turn.locator(".answer-text button.cite")
    assert [int(b) for b in buttons.evaluate_all("bs => bs.map(b => b.dataset.cite)")] == markers
    expect(turn.locator(".answer-text")).to_have_attribute("aria-live", "polite")
    expect(turn.locator(".answer-text")).to_have_attribute("aria-busy", "false")
    # The request streamed (Accept + stream flag) and sent no history: this server has none.
    ask_request = next(r for r in session.watch.requests if r.url.endswith("/ask"))
    body = ask_request.post_data_json
    assert body == {"question": PACT, "stream": True}
    assert "text/event-stream" in ask_request.headers["accept"]

    citation = answer["citations"][0]
    first.click()
    mark = page.locator("#source-panel mark")
    expect(mark).to_have_text(citation["quote"])
    assert mark.text_content() == citation["quote"]
    expect(page.locator("#panel-title")).to_have_text(citation["title"])
    expect(page.locator("#panel-doc-id")).to_have_text(citation["doc_id"])
    expect(page.locator("#source-panel")).to_be_focused()
    # The whole document, still with exactly one highlight.
    page.locator("#panel-toggle").click()
    doc = document_text(server.url, citation["doc_id"])
    assert page.locator("#source-panel .excerpt").text_content() == doc
    expect(mark).to_have_count(1)
    assert mark.text_content() == citation["quote"]
    expect(mark).to_be_in_viewport()
    close_panel(page)
    expect(first).to_be_focused()
    expect(first).to_have_attribute("aria-expanded", "false")


def test_every_gold_citation_highlights_exactly(session: Session, server: Served) -> None:
    page = load(session)
    texts: dict[str, str] = {}
    checked = answered = 0
    for question in gold_questions():
        answer = ask(session, question)
        turn = last_turn(page)
        if answer["abstained"]:
            expect(turn.locator(".answer")).to_have_class(re.compile(r"\bis-abstained\b"))
            continue
        answered += 1
        for citation in answer["citations"]:
            doc_id = citation["doc_id"]
            if doc_id not in texts:
                texts[doc_id] = document_text(server.url, doc_id)
            check_highlight(session, turn, citation, texts[doc_id])
            close_panel(page)
            checked += 1
        page.locator("#new-conversation").click()
        expect(page.locator(".turn")).to_have_count(0)
    print(f"\ngold: {answered} answered of {len(gold_questions())}; {checked} citations checked")
    assert answered >= 40
    assert checked >= answered


def test_out_of_corpus_question_abstains_visibly(session: Session) -> None:
    page = load(session)
    answer = ask(session, OUTSIDE)
    assert answer["abstained"] is True
    card = last_turn(page).locator(".answer")
    expect(card).to_have_class(re.compile(r"\bis-abstained\b"))
    expect(card.locator(".abstain-title")).to_have_text("Not in the documents")
    expect(card.locator(".abstain-reason")).to_have_text(f"Why: {answer['abstain_reason']}")
    expect(card.locator("button.cite")).to_have_count(0)
    # Distinct style: not the bordered card of an answer.
    styles = card.evaluate("e => getComputedStyle(e).borderTopStyle")
    assert styles == "dashed"


def test_conflicts_are_shown_side_by_side(session: Session) -> None:
    page = load(session)
    answer = ask(session, TROOPS)
    assert answer["conflicts"], "the seeds disagree on troop numbers"
    values = last_turn(page).locator(".conflict-value")
    expected = answer["conflicts"][0]["values"]
    expect(values).to_have_count(len(expected))
    # One read of all boxes (the page may be mid-scroll between separate reads).
    tops = set(
        values.evaluate_all("vs => vs.map((v) => Math.round(v.getBoundingClientRect().top))")
    )
    assert len(tops) == 1, "values sit in one row on a desktop"
    for i, v in enumerate(expected):
        expect(values.nth(i).locator(".conflict-figure")).to_have_text(v["value"])
        expect(values.nth(i).locator("button.cite")).to_have_text(f"[{v['citation']}]")


def test_follow_ups_send_history_only_when_the_schema_has_it(session: Session) -> None:
    page = session.page
    sent: list[dict[str, Any]] = []

    def openapi_with_history(route: Route) -> None:
        response = route.fetch()
        spec = response.json()
        spec["components"]["schemas"]["AskRequest"]["properties"]["history"] = {"type": "array"}
        route.fulfill(response=response, json=spec)

    def ask_without_history(route: Route) -> None:
        body = route.request.post_data_json
        assert isinstance(body, dict)
        sent.append(dict(body))
        body.pop("history", None)  # this server would refuse it; the point is what was sent
        route.continue_(post_data=json.dumps(body))

    page.route(f"{session.url}/openapi.json", openapi_with_history)
    page.route(f"{session.url}/ask", ask_without_history)
    load(session)
    expect(page.locator("#conversation-mode")).to_contain_text("context of this conversation")
    first = ask(session, PACT)
    ask(session, "When did they sign it?")
    assert "history" not in sent[0]
    assert sent[1]["history"] == [
        {"question": PACT, "answer": first["answer"], "citations": first["citations"]}
    ]
    expect(page.locator(".turn")).to_have_count(2)


def test_a_follow_up_shows_what_was_searched(session: Session) -> None:
    page = session.page
    load(session)
    expect(page.locator("#conversation-mode")).to_contain_text("context of this conversation")
    ask(session, PACT)
    expect(last_turn(page).locator(".retrieval-query")).to_have_count(0)
    answer = ask(session, "When was it signed?")
    assert answer["retrieval_query"] == "When was the mutual defense pact signed?"
    assert "June 2024" in answer["answer"]
    searched = last_turn(page).locator(".retrieval-query")
    expect(searched).to_have_text("When was the mutual defense pact signed?")
    expect(last_turn(page).locator(".answer-meta")).to_contain_text("Searched for")


def synthetic_stream(answer: dict[str, Any]) -> str:
    frames = []
    text = answer["answer"]
    for i in range(0, len(text), 17):
        frames.append(f"event: delta\r\ndata: {json.dumps({'text': text[i : i + 17]})}\r\n\r\n")
    cites = {"citations": answer["citations"], "conflicts": answer["conflicts"]}
    frames.append(f"event: citations\r\ndata: {json.dumps(cites)}\r\n\r\n")
    frames.append(f": a comment line\r\nevent: done\r\ndata: {json.dumps(answer)}\r\n\r\n")
    return "".join(frames)


def test_confidence_query_page_and_degraded_notice(session: Session, server: Served) -> None:
    page = session.page
    real = httpx.post(f"{server.url}/ask", json={"question": PACT}, timeout=60).json()
    future = {
        **real,
        "confidence": 0.72,
        "retrieval_query": "mutual defense pact signatories",
        "degraded": True,
        "degraded_reason": "the model openai/gpt-x timed out; the extractive fallback answered",
        "citations": [{**c, "page": 4} for c in real["citations"]],
    }
    page.route(
        f"{session.url}/ask",
        lambda route: route.fulfill(
            status=200,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
            body=synthetic_stream(future),
        ),
    )
    load(session)
    ask(session, PACT)
    card = last_turn(page).locator(".answer")
    expect(card.locator(".answer-meta")).to_contain_text("Confidence")
    expect(card.locator(".answer-meta")).to_contain_text("72%")
    expect(card.locator(".retrieval-query")).to_have_text("mutual defense pact signatories")
    expect(card.locator(".degraded")).to_have_text(f"Degraded answer: {future['degraded_reason']}")
    expect(card.locator(".sources")).to_contain_text("page 4")
    card.locator(".answer-text button.cite").first.click()
    expect(page.locator("#panel-page")).to_have_text("4")
    assert page.locator("#source-panel mark").text_content() == real["citations"][0]["quote"]


# ---------------------------------------------------------------- documents


QUOKKA = (
    "Quokka Census 🐾 2024\n"
    "🐾🐾 Field notes from the island ✍️.\n"
    "Rangers on Rottnest Island counted 12,400 quokkas in the 2024 census, "
    "the highest figure since counting began.\n"
)
QUOKKA_Q = "How many quokkas were counted on Rottnest Island?"


@pytest.fixture
def restore_corpus(server: Served) -> Iterator[None]:
    """Deletes whatever a test uploaded, even when it failed halfway (later tests expect 5)."""
    yield
    with httpx.Client(base_url=server.url, timeout=60) as c:
        for doc in c.get("/documents").json()["documents"]:
            if not (SEEDS_DIR / f"{doc['id']}.txt").exists():
                c.delete(f"/documents/{doc['id']}")


@pytest.mark.usefixtures("restore_corpus")
def test_upload_ask_and_delete(session: Session, server: Served) -> None:
    page = load(session, "#documents")
    expect(page.locator("#docs-body tr")).to_have_count(5)
    upload_file(page, "quokka-census.txt", QUOKKA.encode())
    expect(page.locator("#upload-status")).to_contain_text("Added", timeout=60_000)
    row = doc_row(page, "quokka-census")
    expect(row).to_contain_text("Quokka Census 🐾 2024")
    expect(row).to_contain_text(f"{len(QUOKKA)} characters")

    # Drag and drop works too.
    drop_file(page, "lunar-garden.txt", "Lunar Garden\nThe lunar garden in Oslo grows 37 mosses.\n")
    expect(doc_row(page, "lunar-garden")).to_have_count(1, timeout=60_000)

    page.get_by_role("link", name="Ask").click()
    answer = ask(session, QUOKKA_Q)
    assert not answer["abstained"]
    assert {c["doc_id"] for c in answer["citations"]} == {"quokka-census"}
    # Offsets are code points (Python); the emoji before the span must not shift the highlight.
    check_highlight(session, last_turn(page), answer["citations"][0], QUOKKA)
    close_panel(page)

    page.get_by_role("link", name="Documents").click()
    row.get_by_role("button", name=re.compile("^Delete")).click()
    page.locator("#delete-dialog").get_by_role("button", name="Keep it").click()
    expect(page.locator("#delete-dialog")).to_be_hidden()
    expect(row).to_have_count(1)
    delete_through_dialog(page, "quokka-census")
    delete_through_dialog(page, "lunar-garden")
    expect(page.locator("#docs-body tr")).to_have_count(5)

    page.get_by_role("link", name="Ask").click()
    assert ask(session, QUOKKA_Q)["abstained"] is True


@pytest.mark.usefixtures("restore_corpus")
def test_upload_errors_are_the_apis_in_plain_words(session: Session) -> None:
    session.watch.expect_status(413, 422)
    page = load(session, "#documents")
    upload_file(page, "scan.pdf", b"plain words, not a PDF", "application/pdf")
    error = page.locator("#upload-error")
    expect(error).to_have_text(
        "Upload failed: scan.pdf: not a PDF (looks like plain text); accepted: PDF (.pdf), "
        "Word (.docx), HTML (.html, .htm), UTF-8 text (.txt, .md)."
    )
    upload_file(page, "empty.txt", b"")
    expect(error).to_contain_text("empty.txt: file is empty")
    upload_file(page, "big.txt", b"Big\n" + b"lorem ipsum " * (UPLOAD_LIMIT // 8))
    expect(error).to_contain_text(
        f"Upload failed: request body is larger than the limit of {UPLOAD_LIMIT:,} bytes (64 KiB)."
    )
    expect(page.locator("#docs-body tr")).to_have_count(5)
    expect(page.locator("#upload-progress")).to_be_hidden()


INJECTED = (
    '<img src=x onerror="alert(1)"> Pelican <script>alert(2)</script> report\n'
    "The pelican count in Gdansk was 42 <script>alert(3)</script> birds on the harbour wall.\n"
    'Visitors may <a href="javascript:alert(4)">click here</a> or see '
    "<img src=/x onerror=alert(5)> <svg onload=alert(6)></svg> <iframe src=//example.com>.\n"
)


@pytest.mark.usefixtures("restore_corpus")
def test_injected_markup_renders_inert(session: Session) -> None:
    page = load(session, "#documents")
    upload_file(page, "pelicans.txt", INJECTED.encode())
    expect(page.locator("#upload-status")).to_contain_text("Added", timeout=60_000)
    html_page = (
        "<html><head><title>&lt;img src=x onerror=alert(7)&gt; Herons</title></head><body>"
        "<p>The heron count in Sopot was 17 &lt;script&gt;alert(8)&lt;/script&gt; birds.</p>"
        "<script>alert(9)</script></body></html>"
    )
    upload_file(page, "herons.html", html_page.encode(), "text/html")
    expect(doc_row(page, "herons")).to_contain_text("<img src=x onerror=alert(7)> Herons")
    expect(doc_row(page, "pelicans")).to_contain_text('<img src=x onerror="alert(1)"> Pelican')

    page.get_by_role("link", name="Ask").click()
    answer = ask(session, "What was the pelican count in Gdansk?")
    assert "<script>alert(3)</script>" in answer["answer"]
    expect(last_turn(page).locator(".answer-text")).to_contain_text("<script>alert(3)</script>")
    last_turn(page).locator(".answer-text button.cite").first.click()
    panel = page.locator("#source-panel")
    expect(panel.locator("mark")).to_contain_text("<script>alert(3)</script>")
    # The document is shorter than the ±600-character window: all of it is shown already.
    expect(page.locator("#panel-toggle")).to_be_hidden()
    expect(panel.locator(".excerpt")).to_contain_text('<a href="javascript:alert(4)">')
    close_panel(page)
    answer = ask(session, "What was the heron count in Sopot?")
    assert not answer["abstained"]

    page.get_by_role("link", name="Documents").click()
    doc_row(page, "pelicans").get_by_role("button", name=re.compile("^Read")).click()
    expect(panel.locator(".excerpt")).to_contain_text("<svg onload=alert(6)>")
    page.wait_for_timeout(300)  # let any (wrongly) created image or frame try to load
    # Only the page's own script, no element built from the documents' markup.
    counts = page.evaluate(
        """() => ({
            scripts: document.scripts.length,
            imgs: document.images.length,
            frames: document.querySelectorAll('iframe, svg:not(.icon), object, embed').length,
            jsLinks: document.querySelectorAll('a[href^="javascript:"]').length,
        })"""
    )
    assert counts == {"scripts": 1, "imgs": 0, "frames": 0, "jsLinks": 0}
    assert "/x" not in session.watch.paths()
    close_panel(page)
    delete_through_dialog(page, "pelicans")
    delete_through_dialog(page, "herons")
    # assert_clean (fixture) then checks: no dialog, no foreign request, no page/console error.


# ---------------------------------------------------------------- feedback, keys, keyboard


def test_feedback_posts_to_the_feedback_log(session: Session, server: Served) -> None:
    page = load(session)
    answer = ask(session, PACT)
    box = last_turn(page).locator(".feedback")
    box.locator("summary").click()
    box.get_by_label(re.compile("^Comment")).fill("Names both leaders, good.")
    before = len(lines(server.feedback_file))
    box.get_by_role("button", name="Helpful", exact=True).click()
    expect(box.locator(".feedback-status")).to_have_text("Thanks: your feedback was recorded.")
    expect(box.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    ask(session, OUTSIDE)
    last_turn(page).get_by_role("button", name="Not helpful").click()
    expect(last_turn(page).locator(".feedback-status")).to_contain_text("recorded")
    new = lines(server.feedback_file)[before:]
    assert [(x["verdict"], x["source"], x["comment"]) for x in new] == [
        ("helpful", "web", "Names both leaders, good."),
        ("not_helpful", "web", None),
    ]
    assert new[0]["question"] == PACT
    assert new[0]["answer"] == answer["answer"]
    assert new[0]["citations"] == answer["citations"]
    assert new[1]["abstained"] is True


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    index, pipeline = fake_parts()
    settings = Settings(
        index_dir=Path("/nonexistent"),
        api_keys="right-key",  # type: ignore[arg-type]
        feedback_file=tmp_path_factory.mktemp("keyed") / "feedback.jsonl",
        rate_limit_per_minute=100_000,
    )
    app = create_app(
        settings, index=index, pipeline=pipeline, document_factory=FakeDocumentFactory()
    )
    with live_server(app) as url:
        yield url


def test_api_key_is_asked_for_and_kept_in_session_storage(
    browser: Browser, keyed_server: str
) -> None:
    s = open_session(browser, keyed_server, DESKTOP)
    s.watch.expect_status(401)
    page = s.page
    page.goto(f"{keyed_server}/")
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    key_box = dialog.get_by_label("API key")
    expect(key_box).to_be_focused()
    key_box.fill("wrong-key")
    key_box.press("Enter")
    expect(page.locator("#key-message")).to_contain_text("not accepted")
    expect(dialog).to_be_visible()
    key_box.fill("right-key")
    dialog.get_by_role("button", name="Use this key").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("html[data-ready]")).to_have_count(1)
    ask(s, "How many North Korean troops were sent to Russia?")
    expect(last_turn(page).locator(".answer-text button.cite").first).to_be_visible()
    stored = page.evaluate(
        "() => [sessionStorage.getItem('citeqa.apiKey'), localStorage.length, document.cookie]"
    )
    assert stored == ["right-key", 0, ""]
    ask_request = [r for r in s.watch.requests if r.url.endswith("/ask")][-1]
    assert ask_request.headers["authorization"] == "Bearer right-key"
    # A reload in the same tab keeps the key; no prompt.
    page.reload()
    expect(page.locator("html[data-ready]")).to_have_count(1)
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Forget API key").click()
    assert page.evaluate("() => sessionStorage.getItem('citeqa.apiKey')") is None
    s.page.context.close()
    s.watch.assert_clean()


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[tuple[str, threading.Event, Any]]:
    """A server over the fakes whose loading waits for ``release`` and whose writes are slow."""
    release = threading.Event()
    index, pipeline = fake_parts()
    index.write_delay = 1.5

    def loader(settings: Settings) -> Any:
        release.wait(60)
        return index, pipeline

    settings = Settings(
        index_dir=tmp_path / "idx",
        feedback_file=tmp_path / "feedback.jsonl",
        rate_limit_per_minute=100_000,
    )
    app = create_app(settings, loader=loader, document_factory=FakeDocumentFactory())
    with live_server(app) as url:
        yield url, release, index
        release.set()


STATUS_LOG_JS = """() => {
    window.__statuses = [];
    const log = () => window.__statuses.push(
        [document.getElementById("upload-status").textContent,
         document.getElementById("upload-bar").getAttribute("value")]);
    new MutationObserver(log).observe(document.getElementById("upload-status"),
                                      { childList: true, characterData: true, subtree: true });
}"""


def test_not_ready_then_ready_and_upload_progress(
    browser: Browser, slow_server: tuple[str, threading.Event, Any]
) -> None:
    url, release, _ = slow_server
    s = open_session(browser, url, DESKTOP)
    s.watch.expect_status(503)
    page = s.page
    load(s)
    expect(page.locator("#service-status")).to_have_text("Loading the model and index…")
    page.locator("#question").fill(PACT)
    page.locator("#question").press("Enter")
    expect(last_turn(page).locator(".error-text")).to_have_text(
        "Could not answer: the service is still loading its model and index; retry soon."
    )
    release.set()
    expect(page.locator("#service-status")).to_have_text(
        re.compile(r"^5 documents · \d+ passages$"), timeout=10_000
    )
    last_turn(page).get_by_role("button", name="Ask again").click()
    expect(last_turn(page).locator(".feedback")).to_be_visible()
    expect(page.locator(".turn")).to_have_count(1)

    # Upload progress (throttled to ~256 KiB/s), then the spinner while the server indexes.
    page.get_by_role("link", name="Documents").click()
    expect(page.locator("#docs-body tr")).to_have_count(5)
    page.evaluate(STATUS_LOG_JS)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 262144},
    )
    body = ("Slow upload\n" + "The archive holds many quiet pages. " * 20_000).encode()
    upload_file(page, "slow-upload.txt", body)
    expect(page.locator("#upload-spinner")).to_be_visible(timeout=30_000)
    expect(page.locator("#upload-status")).to_contain_text("Indexing slow-upload.txt")
    expect(page.locator("#upload-status")).to_contain_text("Added", timeout=30_000)
    expect(page.locator("#upload-progress")).to_be_hidden()
    statuses = page.evaluate("() => window.__statuses")
    percents = {int(m.group(1)) for t, _ in statuses if (m := re.search(r"(\d+)%$", t))}
    assert len(percents - {0, 100}) >= 2, statuses  # progress moved through the upload
    assert any(t.startswith("Indexing") and v is None for t, v in statuses), statuses
    expect(doc_row(page, "slow-upload")).to_have_count(1)
    s.page.context.close()
    s.watch.assert_clean()


def test_keyboard_only_ask_open_and_close_a_source(session: Session) -> None:
    page = load(session)
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    question = page.get_by_label("Your question")
    expect(question).to_be_focused()
    page.keyboard.type(PACT)
    with page.expect_response(f"{session.url}/ask"):
        page.keyboard.press("Enter")
    expect(last_turn(page).locator(".feedback")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    # Shift+Tab walks back from the box into the answer; the first stop is a focusable control.
    for _ in range(30):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("() => document.activeElement.classList.contains('cite')"):
            break
    else:
        pytest.fail("no citation button reachable with the keyboard")
    focused = page.locator("button.cite:focus")
    outline = focused.evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline != "none", "focus is visible"
    page.keyboard.press("Enter")
    expect(page.locator("#source-panel")).to_be_visible()
    expect(page.locator("#source-panel")).to_be_focused()
    expect(page.locator("#source-panel mark")).to_have_count(1)
    page.keyboard.press("Tab")
    expect(page.locator("#panel-close")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#source-panel")).to_be_hidden()
    expect(focused).to_be_focused()
    # Every form control has a label.
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('input, textarea, select')]
            .filter((e) => !e.labels?.length && !e.getAttribute('aria-label'))
            .map((e) => e.id || e.className)"""
    )
    assert unlabeled == []


def no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= MOBILE["width"], width


def test_readable_at_375px(mobile: Session) -> None:
    page = load(mobile)
    ask(mobile, TROOPS)
    no_horizontal_scroll(page)
    last_turn(page).locator(".answer-text button.cite").first.click()
    panel = page.locator("#source-panel")
    box = panel.bounding_box()
    assert box is not None
    assert box["width"] == MOBILE["width"], "the panel covers the screen on a phone"
    expect(panel.locator("mark")).to_be_in_viewport()
    close_panel(page)
    page.get_by_role("link", name="Documents").click()
    expect(page.locator("#docs-body tr")).to_have_count(5)
    no_horizontal_scroll(page)
    size = page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 16


def test_light_and_dark_schemes(browser: Browser, server: Served) -> None:
    colors = {}
    for scheme in ("light", "dark"):
        s = open_session(browser, server.url, DESKTOP, color_scheme=scheme)
        page = load(s)
        colors[scheme] = page.evaluate(
            "() => [getComputedStyle(document.body).backgroundColor,"
            " getComputedStyle(document.body).color]"
        )
        s.page.context.close()
        s.watch.assert_clean()
    assert colors["light"] != colors["dark"]
    assert colors["dark"][0] == "rgb(15, 18, 23)"


# ---------------------------------------------------------------- screenshots


def test_screenshots(browser: Browser, server: Served) -> None:
    out = os.environ.get("CITEQA_WEB_SHOTS")
    if not out:
        pytest.skip("set CITEQA_WEB_SHOTS=DIR to write screenshots")
    shots = Path(out)
    shots.mkdir(parents=True, exist_ok=True)
    for name, viewport, scheme in (
        ("desktop", DESKTOP, "light"),
        ("mobile", MOBILE, "light"),
        ("desktop-dark", DESKTOP, "dark"),
    ):
        extra: dict[str, Any] = {"color_scheme": scheme, "reduced_motion": "reduce"}
        if viewport is MOBILE:
            extra.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        s = open_session(browser, server.url, viewport, **extra)
        page = load(s)
        ask(s, PACT)
        ask(s, TROOPS)
        ask(s, OUTSIDE)
        page.locator("#question").blur()
        page.locator(".turn").nth(1).evaluate("e => e.scrollIntoView({ block: 'start' })")
        page.wait_for_timeout(300)
        page.screenshot(path=str(shots / f"{name}-answer.png"))
        page.locator(".turn").nth(2).evaluate("e => e.scrollIntoView({ block: 'end' })")
        page.wait_for_timeout(300)
        page.screenshot(path=str(shots / f"{name}-abstained.png"))
        page.locator(".turn").nth(1).locator(".answer-text button.cite").first.click()
        expect(page.locator("#source-panel mark")).to_be_in_viewport()
        page.screenshot(path=str(shots / f"{name}-source.png"))
        close_panel(page)
        page.get_by_role("link", name="Documents").click()
        expect(page.locator("#docs-body tr")).to_have_count(5)
        page.screenshot(path=str(shots / f"{name}-documents.png"))
        s.page.context.close()
        s.watch.assert_clean()
