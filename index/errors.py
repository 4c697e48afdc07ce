"""The project's exception tree, used by the core and mapped to HTTP in one adapter module.

CiteqaError
 +-- InvalidDocumentError      a file or text that cannot be ingested (reason says why)
 +-- IndexStoreError           base for index-on-disk problems
 |    +-- IndexNotFoundError    no index at the given folder
 |    +-- IndexMismatchError    built with another model, weights or format version
 |    +-- IndexCorruptError     files missing or inconsistent
 +-- DocumentNotFoundError     no document with that id
 +-- ModelIntegrityError       embedding weights missing or with an unexpected hash
 +-- InvalidQueryError         a question or search request that cannot be served
 +-- GenerationError           the LLM call failed (timeout, provider error, bad output)
 |    +-- GenerationTimeoutError
 +-- ServiceNotReadyError      the service is still loading its model and index (or failed to)
"""

from __future__ import annotations


class CiteqaError(Exception):
    """Base of every error citeqa raises on purpose."""

    code = "citeqa_error"


class InvalidDocumentError(CiteqaError):
    """A document that cannot be ingested; ``reason`` is short and user-facing."""

    code = "invalid_document"

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class IndexStoreError(CiteqaError):
    """Base for problems with the index on disk."""

    code = "index_error"


class IndexNotFoundError(IndexStoreError):
    code = "index_not_found"


class IndexMismatchError(IndexStoreError):
    code = "index_mismatch"


class IndexCorruptError(IndexStoreError):
    code = "index_corrupt"


class DocumentNotFoundError(CiteqaError):
    code = "document_not_found"


class ModelIntegrityError(CiteqaError):
    code = "model_integrity"


class InvalidQueryError(CiteqaError):
    code = "invalid_query"


class GenerationError(CiteqaError):
    code = "generation_error"


class GenerationTimeoutError(GenerationError):
    code = "generation_timeout"


class ServiceNotReadyError(CiteqaError):
    """Raised by adapters (HTTP, Slack) while the model and index are still loading."""

    code = "not_ready"
