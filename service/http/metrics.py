"""Prometheus metrics of one app instance, in its own registry (so tests can build many apps)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from service.answering.types import Answer

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ServiceMetrics:
    """Request counts and latencies per route template, answer outcomes, index size."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "citeqa_http_requests_total",
            "HTTP requests by method, route template and status code",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "citeqa_http_request_duration_seconds",
            "HTTP request latency (until the last byte of the response) by route template",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "citeqa_http_requests_in_flight", "Requests being handled now", registry=r
        )
        self.answers = Counter(
            "citeqa_answers_total", "Answers produced, by endpoint", ["endpoint"], registry=r
        )
        self.abstained = Counter(
            "citeqa_answers_abstained_total",
            "Answers that abstained (not in the documents)",
            ["endpoint"],
            registry=r,
        )
        self.degraded = Counter(
            "citeqa_answers_degraded_total",
            "Answers produced in degraded mode (e.g. fallback generator)",
            ["endpoint"],
            registry=r,
        )
        self.fallbacks = Counter(
            "citeqa_generator_fallbacks_total",
            "Answers the default answerer gave in place of the LLM, by reason",
            ["reason"],
            registry=r,
        )
        self.generator_errors = Counter(
            "citeqa_generator_errors_total",
            "Answer requests that failed because the generator failed",
            registry=r,
        )
        self.rate_limited = Counter(
            "citeqa_rate_limited_total", "Requests refused by the rate limiter", registry=r
        )
        self.index_documents = Gauge(
            "citeqa_index_documents", "Documents in the served index", registry=r
        )
        self.index_chunks = Gauge("citeqa_index_chunks", "Chunks in the served index", registry=r)
        self.ready = Gauge("citeqa_ready", "1 once the model and index are loaded", registry=r)

    def bind_index_size(self, documents: Callable[[], float], chunks: Callable[[], float]) -> None:
        """Reads the index size at scrape time, so uploads and deletes show without bookkeeping."""
        self.index_documents.set_function(documents)
        self.index_chunks.set_function(chunks)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_answer(self, answer: Answer, endpoint: str) -> None:
        self.answers.labels(endpoint).inc()
        if answer.abstained:
            self.abstained.labels(endpoint).inc()
        if answer.degraded:
            self.degraded.labels(endpoint).inc()
        if answer.fallback_reason:
            self.fallbacks.labels(answer.fallback_reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
