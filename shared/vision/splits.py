"""How images are split for evaluation: a stratified 4:1 hold-out, or k-fold when a tag is small.

Pure Python, seeded. Stratified by each image's rarest label, so every tag lands in every fold
as far as its count allows.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Hashable, Sequence

__all__ = ["FOLDS", "assign_folds", "uses_k_fold"]

FOLDS = 5  # 4:1 is one fold of five held out
# Below this many images, a tag's single held-out fold would hold too few images to measure it:
# evaluate on every fold instead (k-fold).
K_FOLD_BELOW = 25


def uses_k_fold(label_counts: Sequence[int]) -> bool:
    return bool(label_counts) and min(label_counts) < K_FOLD_BELOW


def assign_folds(labels: Sequence[Sequence[Hashable]], *, seed: int = 0, folds: int = FOLDS) -> list[int]:
    """A fold number in ``0..folds-1`` per image; fold 0 is the 4:1 hold-out.

    ``labels[i]`` are image i's labels (an empty sequence for a negative image). Images are
    dealt round-robin per stratum (their rarest label), after a seeded shuffle, so each stratum
    is spread evenly over the folds.
    """
    counts = Counter(label for image in labels for label in set(image))
    strata: dict[Hashable, list[int]] = {}
    for index, image in enumerate(labels):
        key = min(set(image), key=lambda label: (counts[label], str(label))) if image else "__none__"
        strata.setdefault(key, []).append(index)
    rng = random.Random(seed)
    fold_of = [0] * len(labels)
    offset = 0
    for key in sorted(strata, key=str):
        members = strata[key]
        rng.shuffle(members)
        for position, index in enumerate(members):
            fold_of[index] = (offset + position) % folds
        offset += len(members)  # keeps small strata from all starting at fold 0
    return fold_of
