"""The table ``citeqa bench`` prints: every figure next to its baseline and their ratio."""

from __future__ import annotations

from typing import Any


def print_table(r: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    enc, serve, ingest, scale = r["encode"], r["serve"], r["ingest"], r["scale"]
    fid = r["fidelity"]
    bare = enc["torch_p50_ms"]
    table = Table(title="citeqa bench" + (" (--quick: tiny samples)" if r.get("quick") else ""))
    for col in ("figure", "value", "baseline", "ratio", "target"):
        table.add_column(col, justify="left" if col in ("figure", "target") else "right")

    def row(name: str, value: Any, base: Any = "", ratio: Any = "", target: str = "") -> None:
        table.add_row(name, _fmt(value), _fmt(base), _fmt(ratio), target)

    row("encode p50, torch (bare model)", f"{bare} ms")
    row(
        "encode p50, torch, 1 thread",
        f"{enc['torch_1thread_p50_ms']} ms",
        f"{bare} ms",
        _ratio(enc["torch_1thread_p50_ms"], bare),
    )
    row(
        "encode p50, ONNX fp32",
        f"{enc['onnx_fp32_p50_ms']} ms",
        f"{bare} ms",
        _ratio(enc["onnx_fp32_p50_ms"], bare),
    )
    row(
        "encode p50, ONNX int8 (fused)",
        f"{enc['onnx_int8_p50_ms']} ms",
        f"{bare} ms",
        _ratio(enc["onnx_int8_p50_ms"], bare),
    )
    row(
        "cosine int8 vs torch (mean/min)",
        f"{fid['int8_cos_mean']}/{fid['int8_cos_min']}",
        "",
        "",
        ">= 0.99 mean",
    )
    ret = r["retrieval"]
    for mode in ("dense", "hybrid"):
        if f"torch_{mode}" in ret:
            a, b = ret[f"onnx_int8_{mode}"], ret[f"torch_{mode}"]
            row(
                f"{mode} hit@1 / MRR, int8 queries",
                f"{a['hit_at_1']} / {a['mrr_at_5']}",
                f"{b['hit_at_1']} / {b['mrr_at_5']}",
                "",
                "within noise",
            )
    if "inprocess_search_int8_p50_ms" in r:
        row(
            "search p50 in-process (int8)",
            f"{r['inprocess_search_int8_p50_ms']} ms",
            f"{bare} ms",
            _ratio(r["inprocess_search_int8_p50_ms"], bare),
        )
    if "error" in serve:
        row("serving", f"failed: {serve['error'][:60]}")
    else:
        row(
            f"/search p50 over HTTP ({serve['embedder']})",
            f"{serve['search_p50_ms']} ms",
            f"{bare} ms",
            serve.get("search_over_bare", ""),
            "<= 1.0",
        )
        row(
            "/search p50 vs torch 1 thread",
            f"{serve['search_p50_ms']} ms",
            f"{enc['torch_1thread_p50_ms']} ms",
            serve.get("search_over_bare_1thread", ""),
            "<= 1.0",
        )
        row(
            "/ask p50 over HTTP",
            f"{serve['ask_p50_ms']} ms",
            f"{bare} ms",
            serve.get("ask_over_bare", ""),
            "<= 2.0",
        )
        hist = serve.get("history") or {}
        if "ask_with_history_p50_ms" in hist:
            row(
                f"/ask p50 with history ({hist['cases']} follow-ups x {hist['runs']})",
                f"{hist['ask_with_history_p50_ms']} ms",
                f"{hist['ask_rewritten_query_p50_ms']} ms",
                f"{hist['history_adds_p50_ms']:+.3f} ms",
                "<= +5 ms",
            )
            row(
                "  rewrite step p50 / max (in the server)",
                f"{hist['rewrite_step_p50_ms']} / {hist['rewrite_step_max_ms']} ms",
                "",
                f"paired {hist['paired_difference_p50_ms']:+.3f} ms",
            )
        row(
            f"/search rps, {serve['clients']} clients",
            serve["concurrent_rps"],
            serve["sequential_rps"],
            serve["throughput_ratio"],
            ">= 2.0",
        )
        row("/healthz p50 (HTTP floor)", f"{serve['healthz_p50_ms']} ms")
        row("cold start to /readyz 200", f"{serve['cold_start_s']} s", "", "", "<= 3 s")
        row(
            "RSS serving (ready / after load)",
            f"{serve['rss_mb_ready']} / {serve['rss_mb_after_load']} MB",
            "",
            "",
            "< 600 MB",
        )
    row(
        "ingest tokens/s (full build)",
        ingest["tokens_per_s"],
        ingest["bare_forward_tokens_per_s"],
        ingest["ratio"],
        ">= 0.8",
    )
    row(
        "ingest tokens/s (full build, ONNX fp32)",
        ingest["onnx_build_tokens_per_s"],
        ingest["bare_forward_tokens_per_s"],
        ingest["onnx_build_ratio"],
        ">= 0.8",
    )
    pdf = r.get("pdf_ingest")
    if pdf:
        row(
            f"PDF ingest pages/s ({pdf['pages']} pages; bare embed {pdf['bare_embed_s']} s)",
            pdf["ingest_pages_per_s"],
            "",
            pdf["ingest_over_bare"],
        )
        row(
            "  PDF text extraction share of ingest", pdf["extract_share_of_ingest"], "", "", "< 0.2"
        )
    row(
        "  ONNX fp32 / int8 tokens/s",
        f"{ingest['onnx_fp32_tokens_per_s']} / {ingest['onnx_int8_tokens_per_s']}",
        ingest["bare_forward_tokens_per_s"],
    )
    row(
        f"vector search p50 at {scale['n']} ({scale['kind']})",
        f"{scale['p50_ms']} ms",
        f"{scale['exact_p50_ms']} ms exact",
        _ratio(scale["p50_ms"], scale["exact_p50_ms"]),
        "<= 5 ms at 1M",
    )
    row(
        "  recall@10 / load",
        f"{scale['recall_at_10']} / {scale['load_ms']} ms",
        "",
        "",
        ">= 0.95 / <= 1 s",
    )
    Console(width=max(Console().width, 120)).print(table)


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else 0.0


def _fmt(value: Any) -> str:
    return str(value)
