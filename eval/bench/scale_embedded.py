"""The embedded backend (FAISS + BM25 files in an index folder) at N chunks, for
``citeqa bench --scale``.

Store-level figures use generated text (words drawn by their English frequency, ``wordfreq``)
and synthetic vectors (clustered unit vectors from a hash of the text), so a 100k-chunk index is
built in minutes without the model; every write still chunks, tokenises, builds the keyword
segment, updates the vector store and commits a generation to disk with fsync. Quality figures
(HNSW recall against exact search) use real encodings of a sample. The "before" column redoes
the same write the way the code before incremental updates did it: a bm25s index over every
live row and a full generation written out.
"""

from __future__ import annotations

import hashlib
import logging
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from eval.bench.measure import REPO_ROOT
from eval.bench.scale_report import ScaleConfig, ScaleRow
from index.corpus import CorpusIndex
from index.models import Document
from index.retrieval.fusion import Mode
from index.storage import generations
from index.storage.atomic import fsync_tree
from index.stores.bm25_store import Bm25Store, Bm25Tokenizer
from index.stores.faiss_store import VECTORS_FILE, FaissStore, load_faiss

logger = logging.getLogger(__name__)

BACKEND = "embedded"
SYNTHETIC = "generated text, synthetic vectors"
PARAGRAPHS_PER_DOC = 10  # about one chunk each
SQUAD_QUESTIONS = REPO_ROOT / "eval" / "squad2-dev" / "questions.jsonl"


class SyntheticEmbedder:
    """An ``Embedder`` without a model: a unit vector near one of ``n_clusters`` centres, chosen
    and perturbed by a hash of the text (deterministic, so re-ingesting gives the same vector)."""

    def __init__(self, dim: int = 384, n_clusters: int = 1000) -> None:
        self.dim = dim
        self.model_name = f"citeqa/synthetic-bench-{dim}"
        self.weights_sha256 = hashlib.sha256(self.model_name.encode()).hexdigest()
        self.max_seq_length = 256
        rng = np.random.default_rng(0)
        centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
        self._centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            rng = np.random.default_rng(seed)
            vec = self._centres[seed % len(self._centres)] + 0.06 * rng.standard_normal(self.dim)
            out[i] = vec / np.linalg.norm(vec)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.embed_documents([text])[0]
        return vector


class GeneratedText:
    """English-looking text: the 20,000 most frequent words, drawn by their frequency."""

    def __init__(self, seed: int = 0) -> None:
        import wordfreq

        self.words = np.array(wordfreq.top_n_list("en", 20_000))
        freq = np.array([wordfreq.word_frequency(w, "en") for w in self.words])
        self.p = freq / freq.sum()
        self.rng = np.random.default_rng(seed)

    def paragraph(self, n_words: int = 90) -> str:
        drawn = self.rng.choice(self.words, size=n_words, p=self.p).tolist()
        sentences, start = [], 0
        while start < len(drawn):
            stop = start + int(self.rng.integers(8, 20))
            sentence = " ".join(drawn[start:stop])
            sentences.append(sentence[:1].upper() + sentence[1:] + ".")
            start = stop
        return " ".join(sentences)

    def document(self, doc_id: str) -> Document:
        text = "\n\n".join(self.paragraph() for _ in range(PARAGRAPHS_PER_DOC))
        return Document(id=doc_id, text=text, title=f"Generated {doc_id}")

    def query(self) -> str:
        # Content-like words: not the 100 most frequent, drawn uniformly from the rest.
        return " ".join(self.rng.choice(self.words[100:], size=4).tolist())


def embedded_scale(config: ScaleConfig) -> list[ScaleRow]:
    """Every figure of the embedded backend at ``config.chunks`` chunks."""
    from rich.console import Console

    console = Console(stderr=True)
    n = config.chunks
    rows: list[ScaleRow] = []

    def row(figure: str, value: str, before: str = "", note: str = SYNTHETIC) -> None:
        rows.append(ScaleRow(BACKEND, n, figure, value, before, note))

    with tempfile.TemporaryDirectory(prefix="citeqa-scale-", dir=config.workdir) as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / "index"
        embedder = SyntheticEmbedder()
        gen = GeneratedText(seed=0)
        console.log(f"embedded: ingesting {n:,} generated chunks (synthetic vectors)")
        index = CorpusIndex.create(path, embedder)
        batch = max(1, n // PARAGRAPHS_PER_DOC // 5)  # about five commits
        n_docs = 0
        started = time.perf_counter()
        while index.n_chunks < n:
            index.add_documents([gen.document(f"doc-{n_docs + i}") for i in range(batch)])
            n_docs += batch
        ingest_s = time.perf_counter() - started
        row(
            "ingest (chunk, tokenise, index, commit)",
            f"{index.n_chunks / ingest_s:,.0f} chunks/s",
            note=f"{SYNTHETIC}; {index.n_chunks:,} chunks in {ingest_s:.0f} s, 5 commits",
        )

        started = time.perf_counter()
        index = CorpusIndex.open(path, embedder)
        row("open (memory-mapped)", f"{(time.perf_counter() - started) * 1000:.0f} ms")

        queries = [gen.query() for _ in range(config.queries)]
        modes: tuple[Mode, ...] = ("hybrid", "bm25", "dense")
        faiss = load_faiss()
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # as the server does (service/http/lifecycle.py)
        for mode in modes:
            times = _times_ms(partial(_search, index, mode), queries)
            row(
                f"search p50 / p99, {mode}",
                f"{_pct(times, 50):.1f} / {_pct(times, 99):.1f} ms",
                note=f"{SYNTHETIC}; query encoding excluded; 1 FAISS thread",
            )
        faiss.omp_set_num_threads(threads)

        console.log("embedded: one-document adds and deletes")
        adds = []
        for i in range(config.runs):
            doc = gen.document(f"new-{i}")
            adds.append(_seconds(partial(index.add_documents, [doc])))
        victims = random.Random(0).sample(range(n_docs), config.runs)
        deletes = [_seconds(partial(index.delete_document, f"doc-{v}")) for v in victims]
        folder = path / index.manifest.generation
        before = _old_full_rebuild(folder, tmp / "before", config.before_runs, console)
        row(
            f"add one document ({PARAGRAPHS_PER_DOC} chunks), p50 / max of {config.runs}",
            f"{statistics.median(adds) * 1000:.0f} / {max(adds) * 1000:.0f} ms",
            f"{before['write_s'] * 1000:,.0f} ms",
            f"{SYNTHETIC}; before = full rebuild, median of {config.before_runs}",
        )
        row(
            f"delete one document, p50 / max of {config.runs}",
            f"{statistics.median(deletes) * 1000:.0f} / {max(deletes) * 1000:.0f} ms",
            f"{before['write_s'] * 1000:,.0f} ms",
            f"{SYNTHETIC}; before = full rebuild",
        )
        row(
            "  before: first write after a load also re-tokenised every row",
            "-",
            f"+{before['tokenise_s'] * 1000:,.0f} ms",
        )

        console.log("embedded: incremental keyword index against a fresh build")
        gen_data = generations.read_generation(folder)
        live = sorted(gen_data.row_of.items(), key=lambda item: item[1])
        texts = [gen_data.chunks[c].text for c, _ in live]
        row_ids = [r for _, r in live]
        incremental = Bm25Store.load(folder)
        started = time.perf_counter()
        fresh = Bm25Store.build(row_ids, texts)
        fresh_s = time.perf_counter() - started
        same = sum(incremental.search(q, 10) == fresh.search(q, 10) for q in queries)
        row(
            "keyword results equal to a fresh build (top 10, scores exact)",
            f"{same} / {len(queries)} queries",
            note=f"{incremental.n_segments} segments after the writes; fresh build {fresh_s:.0f} s",
        )
        started = time.perf_counter()
        incremental.merged()
        row("keyword force-merge into one segment", f"{time.perf_counter() - started:.1f} s")
        row(*_delta_merge(folder, tmp / "merged"))

    console.log("embedded: vector store recall against exact search")
    from eval.bench.scale import benchmark_scale

    scale = benchmark_scale(n, n_queries=min(200, config.queries), exact_queries=20)
    row(
        f"vector search p50 / p95 ({scale.kind}), recall@10 vs exact",
        f"{scale.p50_ms:.2f} / {scale.p95_ms:.2f} ms, {scale.recall_at_10:.3f}",
        f"exact {scale.exact_p50_ms:.1f} ms",
        "synthetic clustered vectors (eval/bench/scale.py)",
    )
    if config.real_sample:
        rows.extend(_real_sample(config, console))
    return rows


def _old_full_rebuild(folder: Path, out: Path, runs: int, console: Any) -> dict[str, float]:
    """Time the write as the code before incremental updates did it, on this generation: a
    bm25s index over every live row (tokens kept in memory from earlier writes), then every file
    of a generation written out (documents, chunks, vectors, keyword index) and fsynced."""
    import bm25s

    console.log("embedded: the same write as a full rebuild (before)")
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    gen = generations.read_generation(folder)
    tokenizer = Bm25Tokenizer()
    started = time.perf_counter()
    live = sorted(gen.row_of.items(), key=lambda item: item[1])
    tokens = [tokenizer(gen.chunks[c].text) for c, _ in live]
    tokenise_s = time.perf_counter() - started
    doc_chunks: dict[str, list[str]] = {}
    for chunk in gen.chunks.values():
        doc_chunks.setdefault(chunk.doc_id, []).append(chunk.id)
    times = []
    for i in range(runs):
        target = out / f"gen-{i}"
        started = time.perf_counter()
        bm25 = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
        bm25.index(tokens, show_progress=False)
        generations.write_generation(
            target,
            {"": tuple(gen.docs)},
            {},
            gen.docs,
            lambda d: (gen.chunks[c] for c in doc_chunks.get(d, ())),
            gen.row_of,
            gen.next_row,
            previous=None,
        )
        shutil.copyfile(folder / VECTORS_FILE, target / VECTORS_FILE)  # all vectors, rewritten
        bm25.save(str(target / "bm25"), show_progress=False)
        fsync_tree(target)
        times.append(time.perf_counter() - started)
        shutil.rmtree(target)
    return {"write_s": statistics.median(times), "tokenise_s": tokenise_s}


def _delta_merge(folder: Path, out: Path) -> tuple[str, str, str, str]:
    """The vector store's periodic merge: fill the delta to its limit, time the merge and the
    first save after it (the base file is written anew once, then linked again)."""
    store = FaissStore.load(folder, mmap=True)
    missing = store.delta_max - store.n_delta
    ids = np.arange(10**9, 10**9 + missing, dtype=np.int64)
    vectors = SyntheticEmbedder().embed_documents([f"merge {i}" for i in range(missing)])
    started = time.perf_counter()
    store.add(ids, vectors)
    merge_s = time.perf_counter() - started
    started = time.perf_counter()
    store.save(out)
    fsync_tree(out)
    save_s = time.perf_counter() - started
    return (
        f"vector delta merge ({store.delta_max} vectors into the {store.kind} base) + save",
        f"{merge_s:.1f} s + {save_s:.1f} s",
        "",
        f"{SYNTHETIC}; once per {store.delta_max} added chunks, on the write that fills it",
    )


def _real_sample(config: ScaleConfig, console: Any) -> list[ScaleRow]:
    """Real encodings (the served ONNX model) of a sample: ingest throughput of the model and
    HNSW recall@10 against exact search with real query vectors."""
    import json

    from index.embedders.onnx_embedder import load_onnx_embedder
    from index.embedders.tokenizer import load_default_tokenizer
    from index.ingestion.chunking import chunk_document

    n = config.real_sample
    console.log(f"embedded: real encodings of {n:,} generated chunks")
    gen = GeneratedText(seed=1)
    tokenizer = load_default_tokenizer()
    texts: list[str] = []
    while len(texts) < n:
        texts.extend(c.text for c in chunk_document(gen.document(f"r{len(texts)}"), tokenizer))
    texts = texts[:n]
    embedder = load_onnx_embedder()
    started = time.perf_counter()
    base = embedder.embed_documents(texts)
    encode_s = time.perf_counter() - started
    lines = SQUAD_QUESTIONS.read_text(encoding="utf-8").splitlines()[: config.queries]
    queries = np.stack([embedder.embed_query(json.loads(line)["question"]) for line in lines])
    faiss = load_faiss()
    k = 10
    _, truth = faiss.knn(queries, base, k, metric=faiss.METRIC_INNER_PRODUCT)
    store = FaissStore(embedder.dim, hnsw_threshold=1)  # HNSW even at this size
    store.add(np.arange(n, dtype=np.int64), base)
    faiss.omp_set_num_threads(1)
    found, times = 0, []
    for qi, q in enumerate(queries):
        started = time.perf_counter()
        hits = store.search(q, k)
        times.append((time.perf_counter() - started) * 1000)
        found += len({h[0] for h in hits} & set(truth[qi].tolist()))
    note = f"real ONNX encodings of generated text; {len(queries)} SQuAD questions as queries"
    return [
        ScaleRow(
            BACKEND,
            n,
            "ingest, real model (encode only)",
            f"{n / encode_s:,.0f} chunks/s",
            note=f"ONNX fp32 documents, {encode_s:.0f} s",
        ),
        ScaleRow(
            BACKEND,
            n,
            "HNSW recall@10 vs exact, search p50",
            f"{found / (k * len(queries)):.3f}, {_pct(times, 50):.2f} ms",
            note=note + "; the default index is exact (flat) below 50k",
        ),
    ]


def _seconds(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _times_ms(fn: Callable[[str], object], inputs: Sequence[str]) -> list[float]:
    for text in inputs[:3]:
        fn(text)  # warm-up
    return [_seconds(partial(fn, t)) * 1000 for t in inputs]


def _search(index: CorpusIndex, mode: Mode, query: str) -> object:
    return index.search(query, top_k=5, mode=mode)


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q))
