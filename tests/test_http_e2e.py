"""The HTTP service over the real seed index, real embedder and default (extractive) generator."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.http.app import create_app
from service.settings import Settings

pytestmark = pytest.mark.slow

QUESTION = "How many North Korean troops were sent to Russia?"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def real_app(index_dir: Path, embedder: Any, **overrides: Any) -> Any:
    def loader(settings: Settings) -> Any:
        from index.corpus import CorpusIndex
        from service.wiring import build_answerer

        index = CorpusIndex.open(settings.index_dir, embedder)
        return index, build_answerer(settings, index)

    settings = Settings(index_dir=index_dir, **overrides)
    return create_app(settings, loader=loader)


@pytest.fixture
def client(seed_index_dir: Path, real_embedder: Any, tmp_path: Path) -> Iterator[TestClient]:
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir)
    app = real_app(index_dir, real_embedder, rate_limit_per_minute=100_000)
    with TestClient(app, raise_server_exceptions=False) as c:
        assert app.state.citeqa.state.ready_event.wait(60)
        yield c


def test_ask_cites_exact_spans_of_the_seeds(client: TestClient) -> None:
    r = client.post("/ask", json={"question": QUESTION})
    assert r.status_code == 200
    body = r.json()
    assert body["abstained"] is False
    assert body["citations"]
    for c in body["citations"]:
        text = (SEEDS / f"{c['doc_id']}.txt").read_text(encoding="utf-8")
        assert text[c["start"] : c["end"]] == c["quote"]
    assert body["model"]
    assert body["index_version"] == client.get("/readyz").json()["index_version"]


def test_unanswerable_question_abstains(client: TestClient) -> None:
    r = client.post("/ask", json={"question": "What is the boiling point of mercury on Mars?"})
    assert r.status_code == 200
    assert r.json()["abstained"] is True


def test_search_matches_cli_hit_shape(client: TestClient) -> None:
    from index.models import hit_to_dict

    r = client.post("/search", json={"query": "Kursk", "top_k": 3})
    hits = r.json()["hits"]
    assert len(hits) == 3
    index = client.app.state.citeqa.state.components().index  # type: ignore[attr-defined]
    expected = [hit_to_dict(h) for h in index.search("Kursk", top_k=3, mode="hybrid")]
    assert hits == expected


def test_documents_are_live_without_restart(client: TestClient) -> None:
    text = (
        "Quokka Census Finds Record Numbers\n"
        "Rangers on Rottnest Island counted 12,400 quokkas in the 2024 census, "
        "the highest figure since counting began.\n"
    )
    r = client.post("/documents", json={"id": "quokka-census", "text": text})
    assert r.status_code == 201, r.text
    assert r.json()["chunks"] >= 1
    ask = {"question": "How many quokkas were counted on Rottnest Island?"}
    body = client.post("/ask", json=ask).json()
    assert body["abstained"] is False
    assert {c["doc_id"] for c in body["citations"]} == {"quokka-census"}
    assert client.get("/documents").json()["total"] == 6
    upload = b"Lunar Garden\nThe lunar garden in Oslo grows 37 kinds of moss.\n"
    r = client.post("/documents", files={"file": ("lunar-garden.txt", upload, "text/plain")})
    assert r.status_code == 201, r.text
    doc_id = r.json()["id"]
    assert client.get(f"/documents/{doc_id}").json()["text"] == upload.decode()
    assert client.delete("/documents/quokka-census").status_code == 200
    assert client.post("/ask", json=ask).json()["abstained"] is True
    assert client.get("/documents/quokka-census").status_code == 404
    r = client.post("/documents", files={"file": ("x.txt", b"\x00\x01 binary")})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_document"


def test_questions_keep_working_while_documents_change(client: TestClient) -> None:
    errors: list[str] = []

    def ask_loop() -> None:
        for _ in range(6):
            r = client.post("/ask", json={"question": QUESTION})
            if r.status_code != 200 or r.json()["abstained"] or not r.json()["citations"]:
                errors.append(f"ask {r.status_code} {r.text[:200]}")

    def write_loop() -> None:
        for i in range(3):
            doc = {"id": f"note-{i}", "text": f"Note {i}\nThe pelican count in Gdansk was {i}."}
            r = client.post("/documents", json=doc)
            if r.status_code != 201:
                errors.append(f"post {r.status_code} {r.text[:200]}")
            r = client.delete(f"/documents/note-{i}")
            if r.status_code != 200:
                errors.append(f"delete {r.status_code} {r.text[:200]}")

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(ask_loop) for _ in range(3)] + [pool.submit(write_loop)]
        for f in futures:
            f.result()
    assert errors == []
    assert client.get("/readyz").json()["documents"] == 5


def test_lifespan_builds_index_from_seeds_when_missing(
    real_embedder: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import index.embedders.factory

    # Reuse the session's loaded model; everything else is the production loader.
    monkeypatch.setattr(
        index.embedders.factory, "load_default_embedder", lambda kind="torch": real_embedder
    )
    index_dir = tmp_path / "fresh-index"
    app = create_app(Settings(index_dir=index_dir))
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        assert app.state.citeqa.state.ready_event.wait(120), app.state.citeqa.state.error
        ready = c.get("/readyz").json()
        assert ready["documents"] == 5
        assert (index_dir / "manifest.json").exists()
        assert c.post("/ask", json={"question": QUESTION}).json()["citations"]
