"""The one size policy for immutable segments (keyword postings, document files).

Segments are tiered by size: tier 0 up to ``min_size``, each next tier ``factor`` times larger.
Once ``factor`` segments share a tier they are merged into one, so an item is rewritten about
``log_factor(N / min_size)`` times over its life and a store keeps a few dozen segments at most
(Lucene's log merge policy, simplified).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def merge_group(sizes: Sequence[int], *, factor: int, min_size: int) -> list[int]:
    """Indexes of segments to merge into one now (empty: none), given each one's live size.

    A segment with nothing live is returned alone, so it is dropped.
    """
    tiers: dict[int, list[int]] = {}
    for i, size in enumerate(sizes):
        if size <= 0:
            return [i]
        tier = int(math.log(max(size, min_size) / min_size, factor))
        tiers.setdefault(tier, []).append(i)
    for members in tiers.values():
        if len(members) >= factor:
            return members
    return []
