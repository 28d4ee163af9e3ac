"""CBPE's expected AUC: one sort of a window serves every segment of it."""

from __future__ import annotations

import numpy as np

from mloop.monitoring.cbpe import expected_auc


def test_a_segment_ranked_from_the_whole_windows_sort_gives_the_same_auc() -> None:
    """The monitor sorts a version's window once; each segment's ranking is taken from it."""
    rng = np.random.default_rng(4)
    score = np.round(rng.random(5000), 2)  # ties, as rounded probabilities have
    p = np.clip(score + rng.normal(0, 0.1, 5000), 0, 1)
    ranked = np.argsort(-score, kind="stable")
    for at, size in ((0, 1700), (1700, 2100), (3800, 1200)):
        own = expected_auc(p[at : at + size], score[at : at + size])
        derived = ranked[(ranked >= at) & (ranked < at + size)] - at
        assert expected_auc(p[at : at + size], score[at : at + size], derived) == own
