"""Reading files, folders and uploads; bad input is reported by name with a reason and skipped."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.embedders.tokenizer import load_default_tokenizer
from index.errors import InvalidDocumentError
from index.ingestion.chunking import chunk_document
from index.ingestion.html import html_to_text
from index.ingestion.reading import document_from_bytes, document_from_text, load_paths
from index.models import Skipped

DATA = Path(__file__).resolve().parent / "data" / "ingest"
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
GOOD = "The harbour reopened on Monday. Ships queued for two days.\n"


def _reasons(skipped: list[Skipped]) -> dict[str, str]:
    return {Path(s.path).name: s.reason for s in skipped}


# --------------------------------------------------------------------------- seeds


def test_seeds_load_byte_for_byte(seeds_dir: Path) -> None:
    docs, skipped = load_paths([seeds_dir])
    assert skipped == []
    assert [d.id for d in docs] == sorted(p.stem for p in seeds_dir.glob("*.txt"))
    for doc in docs:
        path = seeds_dir / f"{doc.id}.txt"
        assert doc.text == path.read_bytes().decode("utf-8")
        assert doc.source == str(path)
        assert doc.title


def test_seed_titles_fall_back_to_the_lead(seeds_dir: Path) -> None:
    docs = {d.id: d for d in load_paths([seeds_dir])[0]}
    assert docs["003_f3496298b4f174d5"].title.startswith("North Korean Troops in Ukraine: A Shift")
    # 004 has no headline line: its title is the opening words of its first sentence.
    assert docs["004_114b54cabd2150fb"].title.startswith("The Russia-Ukraine conflict has taken")
    assert len(docs["004_114b54cabd2150fb"].title) <= 81


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def mixed_dir(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / "good.txt").write_text(GOOD, encoding="utf-8")
    (root / "nested" / "deeper" / "also_good.md").write_text("# Title\n\n" + GOOD)
    (root / "empty.txt").write_bytes(b"")
    (root / "blank.txt").write_text("  \n\t\n  ")
    (root / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (root / "latin1.txt").write_bytes("Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e.".encode("latin-1"))
    (root / "utf16.txt").write_bytes(GOOD.encode("utf-16"))
    (root / "controls.txt").write_bytes(b"ok" + b"\x01\x02\x03\x04\x05\x06\x07\x08" * 10)
    (root / "big.txt").write_text("word " * 400)
    (root / "report.pdf").write_bytes(b"%PDF-1.7 ...")
    (root / "README").write_text(GOOD)
    (root / ".hidden.txt").write_text(GOOD)
    (root / ".git").mkdir()
    (root / ".git" / "config.txt").write_text(GOOD)
    return root


def test_bad_files_are_skipped_with_reasons_and_good_files_load(mixed_dir: Path) -> None:
    docs, skipped = load_paths([mixed_dir], max_bytes=1024)
    assert sorted(d.id for d in docs) == ["also_good", "good"]
    reasons = _reasons(skipped)
    assert set(reasons) == {
        "empty.txt",
        "blank.txt",
        "binary.txt",
        "latin1.txt",
        "utf16.txt",
        "controls.txt",
        "big.txt",
        "report.pdf",
        "README",
    }
    assert "empty" in reasons["empty.txt"]
    assert "only whitespace" in reasons["blank.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "binary" in reasons["utf16.txt"]
    assert "binary" in reasons["controls.txt"]
    assert "not valid UTF-8" in reasons["latin1.txt"]
    assert "0xe9" in reasons["latin1.txt"]
    assert "2.0 KiB" in reasons["big.txt"]
    assert "1.0 KiB limit" in reasons["big.txt"]
    assert "not a readable PDF" in reasons["report.pdf"]
    assert "no extension" in reasons["README"]
    # Every reason also says what is accepted, except the size limit, which names the limit,
    # and a broken PDF, which says how to get a readable one.
    for name, reason in reasons.items():
        if name not in ("big.txt", "report.pdf"):
            assert "accepted: PDF (.pdf), Word (.docx), HTML" in reason, name
    # Skipped paths name the file itself, not just its folder.
    assert all(Path(s.path).parent.exists() and Path(s.path).name for s in skipped)


def test_hidden_files_and_folders_are_ignored_silently(mixed_dir: Path) -> None:
    _, skipped = load_paths([mixed_dir], max_bytes=1024)
    assert not any(".hidden" in s.path or ".git" in s.path for s in skipped)


def test_missing_path_is_reported(tmp_path: Path) -> None:
    good = tmp_path / "ok.txt"
    good.write_text(GOOD)
    docs, skipped = load_paths([tmp_path / "nope", good])
    assert [d.id for d in docs] == ["ok"]
    assert skipped == [Skipped(str(tmp_path / "nope"), "no such file or folder")]


def test_duplicate_ids_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "same.txt").write_text(GOOD)
    (tmp_path / "b" / "same.md").write_text(GOOD)
    docs, skipped = load_paths([tmp_path])
    assert [d.source for d in docs] == [str(tmp_path / "a" / "same.txt")]
    assert len(skipped) == 1
    assert "duplicate document id 'same'" in skipped[0].reason


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    locked = tmp_path / "locked.txt"
    locked.write_text(GOOD)
    locked.chmod(0)
    try:
        docs, skipped = load_paths([tmp_path])
    finally:
        locked.chmod(0o600)
    assert docs == []
    assert "could not be read" in skipped[0].reason


def test_explicit_hidden_file_is_loaded(tmp_path: Path) -> None:
    hidden = tmp_path / ".notes.txt"
    hidden.write_text(GOOD)
    docs, _ = load_paths([hidden])
    assert [d.id for d in docs] == [".notes"]


# --------------------------------------------------------------------------- uploads


@pytest.mark.parametrize(
    ("name", "data", "fragment"),
    [
        ("a.txt", b"", "empty"),
        ("a.txt", b" \n ", "only whitespace"),
        ("a.txt", b"abc\x00def", "binary"),
        ("a.txt", b"\xff\xfeabc", "not valid UTF-8"),
        ("a.docx", GOOD.encode(), "not a Word document (looks like plain text)"),
        ("notpdf.pdf", GOOD.encode(), "not a PDF (looks like plain text)"),
        ("a.txt", b"x" * 2048, "over the 1.0 KiB limit"),
        ("page.html", b"<html><script>var a = 1;</script></html>", "no visible text"),
    ],
)
def test_upload_checks(name: str, data: bytes, fragment: str) -> None:
    with pytest.raises(InvalidDocumentError) as info:
        document_from_bytes(name, data, max_bytes=1024)
    assert info.value.name == name
    assert fragment in info.value.reason
    assert info.value.code == "invalid_document"


def test_upload_keeps_text_exactly() -> None:
    raw = "\ufeffTitle Line\r\n\r\n  Body with trailing spaces.  \r\n\tTabbed.\n"
    doc = document_from_bytes("notes.txt", raw.encode("utf-8"))
    assert doc.text == raw
    assert doc.id == "notes"
    assert doc.title == "Title Line"


def test_document_from_text_defaults_and_errors() -> None:
    a = document_from_text(GOOD)
    b = document_from_text(GOOD)
    assert a.id == b.id
    assert a.id.startswith("doc_")
    assert document_from_text(GOOD, doc_id="x", title="Given").title == "Given"
    assert document_from_text(GOOD, source="upload", published_at="2024-10-30").published_at
    with pytest.raises(InvalidDocumentError, match="empty"):
        document_from_text("  \n")


# --------------------------------------------------------------------------- HTML and Markdown


def test_html_is_reduced_to_visible_text() -> None:
    doc = document_from_bytes("article.html", (DATA / "article.html").read_bytes())
    assert doc.id == "article"
    assert doc.title == "Grain Corridor Reopens After Talks"
    assert doc.published_at == "2024-10-30T08:00:00Z"
    for hidden in ("analytics", "font-family", "Home", "Trending now", "Hidden tracking", "©"):
        assert hidden not in doc.text
    lines = doc.text.split("\n")
    assert lines[0] == "Grain Corridor Reopens After Talks"
    assert (
        "The Black Sea grain corridor reopened on Tuesday after three weeks of talks, port "
        "officials said. Around 1,200 ships are expected to pass by December." in lines
    )
    # <br> ends a line; the related-links list is not article text and is left out.
    assert "Negotiators will meet again in March." in lines
    assert "Port strike ends in Rotterdam" not in doc.text


def test_html_boilerplate_and_chunks() -> None:
    doc = document_from_bytes("article.html", (DATA / "article.html").read_bytes())
    flagged = [doc.text[s:e] for s, e in doc.boilerplate]
    assert flagged == ["See also:", "12 Comments"]
    chunks = chunk_document(doc, load_default_tokenizer())
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)
    joined = "\n".join(c.text for c in chunks)
    assert "insurance costs fell by 4.5 percent" in joined
    assert "A final deal is not yet in sight." in joined
    assert "Rotterdam" not in joined


def test_html_title_falls_back_to_title_tag() -> None:
    text, title, _ = html_to_text(
        "<html><head><title>Port Deal Signed | Harbour Gazette</title></head>"
        "<body><p>Text one.</p><pre>keep   this\n  spacing</pre></body></html>"
    )
    assert title == "Port Deal Signed"
    assert text == "Text one.\nkeep   this\n  spacing"


def test_markdown_is_kept_raw_with_front_matter_as_boilerplate() -> None:
    docs, skipped = load_paths([DATA / "notes.md"])
    assert skipped == []
    (doc,) = docs
    assert doc.text == (DATA / "notes.md").read_text(encoding="utf-8")
    assert doc.title == "Field Notes on River Flooding"
    flagged = [doc.text[s:e] for s, e in doc.boilerplate]
    assert "title: Field Notes on River Flooding" in flagged
    assert "Related posts:" in flagged
    assert "- How levees fail" in flagged
    chunks = chunk_document(doc, load_default_tokenizer())
    assert chunks[0].text.startswith("# Field Notes on River Flooding\n\nThe river rose by 2.3")
    assert any("Mr. Haas,\nasked for federal aid on Friday." in c.text for c in chunks)


def test_read_error_is_reported_and_others_still_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stands in for a permission error when the suite runs as root (chmod has no effect there).
    (tmp_path / "a_locked.txt").write_text(GOOD)
    (tmp_path / "b_ok.txt").write_text(GOOD)
    real_read = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "a_locked.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    docs, skipped = load_paths([tmp_path])
    assert [d.id for d in docs] == ["b_ok"]
    assert _reasons(skipped) == {"a_locked.txt": "could not be read (Permission denied)"}


def test_same_file_named_twice_loads_once(seeds_dir: Path) -> None:
    one = seeds_dir / "000_b9f469ab44661bfc.txt"
    docs, skipped = load_paths([seeds_dir, one])
    assert len(docs) == 5
    assert skipped == []


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=400), st.sampled_from(["a.txt", "b.md"]))
def test_property_uploads_round_trip_or_fail_clearly(text: str, name: str) -> None:
    data = text.encode("utf-8")
    if not text.strip() or "\x00" in text or len(_CONTROLS.findall(text)) > 0.05 * len(text):
        with pytest.raises(InvalidDocumentError) as info:
            document_from_bytes(name, data)
        assert info.value.name == name
        assert "whitespace" in info.value.reason or "binary" in info.value.reason
        return
    doc = document_from_bytes(name, data)
    assert doc.text == text
    assert all(0 <= s < e <= len(text) for s, e in doc.boilerplate)
