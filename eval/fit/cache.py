"""The fit cache: what retrieval hands the answerer for every dev question, computed once with
the product's own code, so that fitting runs no model.

For a dataset (a SQuAD-format folder, or the seeds gold set over ``seeds/``) an index of its
documents is built in a temporary folder through :mod:`service.wiring` with the serving embedder
(``load_embedder(Settings())``, ONNX by default). Then, per question (whitespace-normalised as the
pipeline does): the top-k hits of ``CorpusIndex.search`` in the configured retrieval mode, the
query vector the answerer is given (``CorpusIndex.query_vector``), and the vector of every
sentence of the retrieved chunks (``CorpusIndex.sentence_vectors``, the re-ranker's cache, as the
product reads them). Stored in ``.citeqa/fit-cache/<name>-<key>/``: ``cache.json`` (questions,
gold, chunks, hits, sentences, metadata), ``questions.npy`` and ``sentences.npy``.

``key`` hashes everything the contents depend on: the dataset files, k, the retrieval mode, the
embedder (kind, model name, weights hash) and the source of ``index/`` (chunking, retrieval,
sentence splitting). ``content_sha256`` hashes the contents; the artifact records it.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval.fit.sources import Source
from index.embedders.protocol import Embedder
from index.errors import InvalidDocumentError
from index.text.sentences import split_sentences
from service.answering.pipeline import validate_question
from service.settings import Settings

FORMAT = "citeqa-fit-cache/1"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR = REPO_ROOT / ".citeqa" / "fit-cache"
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class Cache:
    """A loaded cache: the JSON part, the vectors, and where it came from."""

    path: Path
    data: dict[str, Any]
    question_vectors: np.ndarray
    sentence_vectors: np.ndarray

    @property
    def content_sha256(self) -> str:
        return str(self.data["meta"]["content_sha256"])


def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()


def source_hash(root: Path = REPO_ROOT / "index") -> str:
    """Hash of the ``index`` package source (what chunks, retrieves and splits sentences)."""
    files = sorted(root.rglob("*.py"))
    return _sha(*(f"{p.relative_to(root)}\n".encode() + p.read_bytes() for p in files))


def cache_key(source: Source, k: int, retrieval: str, embedder: Embedder, kind: str) -> str:
    """What the cache's contents depend on, hashed (16 hex digits)."""
    described = json.dumps(
        {
            "format": FORMAT,
            "k": k,
            "retrieval": retrieval,
            "embedder": [kind, embedder.model_name, embedder.weights_sha256],
            "index_source": source_hash(),
        },
        sort_keys=True,
    ).encode()
    return _sha(described, source.fingerprint().encode())[:16]


def _body(data: dict[str, Any]) -> bytes:
    return json.dumps({key: v for key, v in data.items() if key != "meta"}, sort_keys=True).encode()


def _content_sha(raw_json: bytes, qv: np.ndarray, sv: np.ndarray) -> str:
    return _sha(raw_json, np.ascontiguousarray(qv).tobytes(), np.ascontiguousarray(sv).tobytes())


def _retrieve(
    index: Any, questions: Sequence[dict[str, Any]], k: int, retrieval: str, progress: Progress
) -> tuple[dict[str, dict[str, Any]], list[np.ndarray], list[str]]:
    chunks: dict[str, dict[str, Any]] = {}
    qvecs: list[np.ndarray] = []
    sentences: dict[str, None] = {}
    for i, q in enumerate(questions):
        text = validate_question(q["question"])
        hits = index.search(text, top_k=k, mode=retrieval)
        q["hits"] = [[h.chunk.id, float(h.score), int(h.rank)] for h in hits]
        qvecs.append(np.asarray(index.query_vector(text), dtype=np.float32))
        for h in hits:
            c = h.chunk
            if c.id not in chunks:
                title = c.title or index.get_document(c.doc_id).title
                chunks[c.id] = {
                    "doc_id": c.doc_id,
                    "title": title,
                    "text": c.text,
                    "start": c.start,
                }
                for s, e in split_sentences(c.text) if c.text.strip() else []:
                    sentences.setdefault(c.text[s:e], None)
        progress("retrieving", i + 1, len(questions))
    return chunks, qvecs, list(sentences)


def _sentence_vectors(index: Any, sentences: list[str], dim: int, progress: Progress) -> np.ndarray:
    rows: list[np.ndarray] = []
    step = 256
    for i in range(0, len(sentences), step):
        rows.append(np.asarray(index.sentence_vectors(sentences[i : i + step]), dtype=np.float32))
        progress("sentence vectors", min(len(sentences), i + step), len(sentences))
    return np.vstack(rows) if rows else np.zeros((0, dim), dtype=np.float32)


def build_cache(
    source: Source,
    out_dir: Path,
    embedder: Embedder,
    *,
    k: int,
    settings: Settings,
    kind: str,
    progress: Progress,
) -> Path:
    """Indexes the source's documents, retrieves for every question, writes the cache folder."""
    from service import wiring

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="citeqa-fit-") as tmp:
        index_dir = Path(tmp) / "index"
        progress("indexing", 0, 1)
        wiring.ingest(settings, [source.docs_dir], index_dir=index_dir, embedder=embedder)
        index = wiring.open_index(settings, embedder=embedder, index_dir=index_dir)
        progress("indexing", 1, 1)
        texts = {d.id: d.text for d in index.list_documents()}
        questions = source.questions(texts)
        chunks, qvecs, sentences = _retrieve(index, questions, k, settings.retrieval, progress)
        svecs = _sentence_vectors(index, sentences, embedder.dim, progress)
    qv = np.vstack(qvecs) if qvecs else np.zeros((0, embedder.dim), dtype=np.float32)
    data: dict[str, Any] = {
        "format": FORMAT,
        "name": source.name,
        "items": questions,
        "chunks": chunks,
        "sentences": sentences,
        "meta": {
            "dataset": source.describe(),
            "k": k,
            "retrieval": settings.retrieval,
            "embedder": {
                "kind": kind,
                "model": embedder.model_name,
                "weights": embedder.weights_sha256,
            },
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.perf_counter() - started, 1),
        },
    }
    data["meta"]["content_sha256"] = _content_sha(_body(data), qv, svecs)
    tmp_dir = out_dir.with_name(out_dir.name + ".tmp")
    tmp_dir.mkdir(parents=True, exist_ok=True)
    np.save(tmp_dir / "questions.npy", qv)
    np.save(tmp_dir / "sentences.npy", svecs)
    (tmp_dir / "cache.json").write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
    if out_dir.exists():
        for p in out_dir.iterdir():
            p.unlink()
        out_dir.rmdir()
    tmp_dir.replace(out_dir)
    return out_dir


def load_cache(path: Path) -> Cache:
    """Reads a cache folder and checks its content hash (a stale or torn cache is refused)."""
    try:
        data = json.loads((path / "cache.json").read_text(encoding="utf-8"))
        qv = np.load(path / "questions.npy")
        sv = np.load(path / "sentences.npy")
    except (OSError, ValueError) as exc:
        raise InvalidDocumentError(str(path), f"unreadable fit cache ({exc})") from exc
    if data.get("format") != FORMAT:
        raise InvalidDocumentError(str(path), f"fit cache format {data.get('format')!r}")
    if _content_sha(_body(data), qv, sv) != data["meta"].get("content_sha256"):
        raise InvalidDocumentError(str(path), "fit cache content hash mismatch; rebuild it")
    return Cache(path, data, qv, sv)


def cached(
    source: Source,
    embedder: Embedder,
    *,
    k: int,
    settings: Settings,
    kind: str,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    rebuild: bool = False,
    progress: Progress,
) -> tuple[Cache, bool]:
    """The cache for ``source`` (built when absent, stale or ``rebuild``); True when built now."""
    path = cache_dir / f"{source.name}-{cache_key(source, k, settings.retrieval, embedder, kind)}"
    if not rebuild and (path / "cache.json").is_file():
        try:
            return load_cache(path), False
        except InvalidDocumentError:
            pass  # torn or tampered: build it again
    build_cache(source, path, embedder, k=k, settings=settings, kind=kind, progress=progress)
    return load_cache(path), True
