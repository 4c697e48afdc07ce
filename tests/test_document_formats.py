"""PDF and DOCX end to end: ingest by content, cite with page numbers, refuse fakes by name.

Fixtures are built in code (tests/documents/); the embedder is the hashing fake, so retrieval
leans on BM25 and the test stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from index.embedders import factory
from service.cli import main
from tests.documents import builders
from tests.fakes import HashingEmbedder

PDF_QUESTION = "When did the harbour bridge reopen after repairs?"


@pytest.fixture(autouse=True)
def _fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "load_default_embedder", lambda kind="torch": HashingEmbedder())


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "review.pdf").write_bytes(builders.two_page_pdf())
    (folder / "cranes.docx").write_bytes(builders.docx_with_headings_and_table())
    (folder / "notpdf.pdf").write_text("This is plain text pretending to be a PDF.\n")
    (folder / "notes.txt").write_text("The canteen reopens on Friday after its refit.\n")
    return folder


def _ingest(corpus: Path, index_dir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["ingest", str(corpus), "--index-dir", str(index_dir)])
    out = capsys.readouterr().out
    assert code == 1, out  # something was skipped
    return out


def test_fake_pdf_is_reported_by_name_and_the_rest_is_ingested(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _ingest(corpus, tmp_path / "idx", capsys)
    assert "notpdf.pdf: not a PDF (looks like plain text)" in " ".join(out.split())
    from index.corpus import CorpusIndex

    index = CorpusIndex.open(tmp_path / "idx", HashingEmbedder())
    assert {d.id for d in index.list_documents()} == {"review", "cranes", "notes"}
    formats = {d.id: d.format for d in index.list_documents()}
    assert formats == {"review": "pdf", "cranes": "docx", "notes": "text"}


def _page_two_citation(answer: dict[str, Any], text: str) -> dict[str, Any]:
    assert not answer["abstained"], answer
    cited = [c for c in answer["citations"] if c["doc_id"] == "review"]
    assert cited, answer
    for c in cited:
        assert text[c["start"] : c["end"]] == c["quote"]
    (hit,) = [c for c in cited if "14 March" in c["quote"]]
    return dict(hit)


def test_pdf_answer_cites_page_2_through_the_cli_and_http(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The Word fixture repeats the answer sentence: leave it out so the PDF must be cited.
    (corpus / "cranes.docx").unlink()
    index_dir = tmp_path / "idx"
    _ingest(corpus, index_dir, capsys)
    assert main(["ask", PDF_QUESTION, "--json", "--index-dir", str(index_dir)]) == 0
    cli_answer = json.loads(capsys.readouterr().out)

    from service import wiring
    from service.http.app import create_app
    from service.settings import Settings

    settings = Settings(index_dir=index_dir)
    index = wiring.open_index(settings, index_dir=index_dir)
    app = create_app(settings, index=index, pipeline=wiring.build_answerer(settings, index))
    with TestClient(app) as client:
        doc = client.get("/documents/review").json()
        http_answer = client.post("/ask", json={"question": PDF_QUESTION}).json()
    assert doc["format"] == "pdf"
    assert doc["pages"] == 2
    for answer in (cli_answer, http_answer):
        citation = _page_two_citation(answer, doc["text"])
        assert citation["page"] == 2
        assert citation["page_end"] is None
        start, end = doc["page_spans"][1]
        assert start <= citation["start"] < citation["end"] <= end


def test_docx_is_answered_from_with_exact_quotes(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index_dir = tmp_path / "idx"
    _ingest(corpus, index_dir, capsys)
    question = "Which cranes were inspected in January?"
    assert main(["ask", question, "--json", "--index-dir", str(index_dir)]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert not answer["abstained"], answer
    from index.corpus import CorpusIndex

    doc = CorpusIndex.open(index_dir, HashingEmbedder()).get_document("cranes")
    cited = [c for c in answer["citations"] if c["doc_id"] == "cranes"]
    assert cited
    assert all(doc.text[c["start"] : c["end"]] == c["quote"] for c in cited)
    assert any("inspected in January" in c["quote"] for c in cited)
    assert all(c["page"] is None for c in cited)
