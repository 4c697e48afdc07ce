"""``kill -9`` at random moments of real ingests: the index always reopens, whole and consistent."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.corpus import CorpusIndex
from index.models import Document
from index.storage.manifest import read_manifest
from tests.fakes import HashingEmbedder

REPO = Path(__file__).resolve().parent.parent

# The child runs the real CorpusIndex write path in a loop: upserts of many documents (so a write
# spends real time chunking, saving FAISS/BM25 files, fsyncing and switching the manifest) and
# deletes. It prints READY once imports are done, so kills land inside writes.
CHILD = """
import sys
from pathlib import Path
from index.corpus import CorpusIndex
from tests.fakes import HashingEmbedder
from index.models import Document
emb = HashingEmbedder(dim=64)
index = CorpusIndex.open(Path(sys.argv[1]), emb)
print("READY", flush=True)
words = "troops pact Kursk artillery drones treaty Pyongyang Moscow front shells".split()
round_ = 0
while True:
    round_ += 1
    docs = [
        Document(
            id=f"w{round_ % 3}-{i}",
            text=" ".join(words[(i + j + round_) % len(words)] for j in range(60)) + ".",
            title=f"doc {i}",
        )
        for i in range(150)
    ]
    index.add_documents(docs)
    if round_ % 4 == 0:
        index.delete_document(docs[0].id)
"""


def _check_consistent(path: Path, emb: HashingEmbedder) -> int:
    index = CorpusIndex.open(path, emb)
    manifest = read_manifest(path)
    assert index.n_documents == manifest.n_documents
    assert index.n_chunks == manifest.n_chunks
    for doc in index.list_documents():
        for chunk in index.chunks_for(doc.id):
            assert doc.text[chunk.start : chunk.end] == chunk.text
    if index.n_chunks:
        assert index.search("troops pact", 3)
    return index.n_documents


@pytest.mark.integration
def test_kill_minus_nine_during_ingest_leaves_loadable_index(tmp_path: Path) -> None:
    emb = HashingEmbedder(dim=64)
    path = tmp_path / "idx"
    index = CorpusIndex.create(path, emb)
    index.add_documents([Document(id="base", text="The base document about troops.", title="t")])
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    seen_counts: set[int] = set()
    kills = torn_writes = 0
    started = time.monotonic()
    # At least 8 kills, and keep going (bounded) until one lands inside a commit: on a quiet
    # machine the commit window is short, so a fixed number of random kills can miss it.
    while (kills < 8 or torn_writes == 0) and kills < 40 and time.monotonic() - started < 120:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        assert child.stdout is not None
        line = child.stdout.readline()
        if b"READY" not in line:
            child.kill()
            _, err = child.communicate()
            pytest.fail(f"child failed to start: {err.decode()[-2000:]}")
        time.sleep(rng.uniform(0.05, 2.0))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        kills += 1
        live = read_manifest(path).generation
        if any(p.name.startswith("gen-") and p.name > live for p in path.iterdir()):
            torn_writes += 1  # killed after starting a generation, before its manifest switch
        seen_counts.add(_check_consistent(path, emb))
    assert kills >= 4
    print(f"kills={kills} torn_writes={torn_writes} doc_counts={sorted(seen_counts)}")
    assert torn_writes >= 1, "no kill landed inside a commit; lengthen the writes"
    # Some kills landed after at least one commit, so the test exercised real progress.
    assert max(seen_counts) > 1
    # And the index is still writable afterwards (stray generation folders are cleaned up).
    index = CorpusIndex.open(path, emb)
    index.add_documents([Document(id="after", text="Written after the crashes.", title="t")])
    assert CorpusIndex.open(path, emb).get_document("after").text == "Written after the crashes."
    gens = [p for p in path.iterdir() if p.name.startswith("gen-")]
    assert len(gens) <= 2
