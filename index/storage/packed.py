"""Several numpy arrays in one file, readable through a memory map (``np.savez`` is not).

Layout: the magic line ``citeqa-arrays-1``, an 8-byte little-endian header length, a JSON header
``{name: {"dtype", "shape", "offset"}}``, then each array's bytes at its offset (64-byte aligned).
One file per immutable segment keeps the number of files a generation links, fsyncs and later
deletes small.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

MAGIC = b"citeqa-arrays-1\n"
_ALIGN = 64


def write_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` (C order) into a new file at ``path``."""
    header: dict[str, dict[str, object]] = {}
    offset = 0
    parts = []
    for name, array in arrays.items():
        data = np.ascontiguousarray(array)
        header[name] = {"dtype": data.dtype.str, "shape": list(data.shape), "offset": offset}
        parts.append(data)
        offset += -(-data.nbytes // _ALIGN) * _ALIGN
    encoded = json.dumps(header).encode()
    start = -(-(len(MAGIC) + 8 + len(encoded)) // _ALIGN) * _ALIGN
    with path.open("wb") as fh:
        fh.write(MAGIC + len(encoded).to_bytes(8, "little") + encoded)
        for name, data in zip(header, parts, strict=True):
            fh.seek(start + int(header[name]["offset"]))  # type: ignore[call-overload]
            fh.write(data.tobytes())
        fh.truncate(start + offset)


def read_arrays(path: Path, *, mmap: bool = True) -> dict[str, np.ndarray]:
    """The arrays of a file written by :func:`write_arrays` (memory-mapped, read-only)."""
    with path.open("rb") as fh:
        if fh.read(len(MAGIC)) != MAGIC:
            raise ValueError(f"{path} is not a citeqa arrays file")
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(size))
        start = -(-(len(MAGIC) + 8 + size) // _ALIGN) * _ALIGN
        if not mmap:
            fh.seek(start)
            blob = fh.read()
    out: dict[str, np.ndarray] = {}
    for name, spec in header.items():
        dtype, shape = np.dtype(spec["dtype"]), tuple(spec["shape"])
        count = int(np.prod(shape)) if shape else 1
        if count == 0:
            out[name] = np.zeros(shape, dtype=dtype)
        elif mmap:
            mapped = np.memmap(
                path, dtype=dtype, mode="r", offset=start + spec["offset"], shape=shape
            )
            out[name] = mapped.view(np.ndarray)  # slicing a plain view is much cheaper
        else:
            at = spec["offset"]  # the blob starts where the data does
            out[name] = np.frombuffer(blob, dtype=dtype, count=count, offset=at).reshape(shape)
    return out
