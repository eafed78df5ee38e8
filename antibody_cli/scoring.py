"""Ranking metrics for `score`: how well the likelihood ratio separates labelled harmful samples.

Lower r = more suspect; r < 0 means the model would rather refuse (the flagged set).
"""

from __future__ import annotations

from collections.abc import Sequence


def auroc(scores: Sequence[float], positive: Sequence[bool]) -> float | None:
    """P(score of a random positive > score of a random negative), ties count half (Mann–Whitney U)."""
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    if not pos or not neg:
        return None
    ranked = sorted((s, i) for i, s in enumerate(scores))
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(ranked):  # average ranks over ties
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[ranked[k][1]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, p in zip(ranks, positive) if p)
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def roc_curve(scores: Sequence[float], positive: Sequence[bool]) -> tuple[list[float], list[float]]:
    """(false-positive rates, true-positive rates) as the threshold falls through the scores, from (0, 0)
    to (1, 1); tied scores make one point, so the area under it (trapezoids) is `auroc`."""
    pos = sum(map(bool, positive))
    neg = len(positive) - pos
    ranked = sorted(zip(scores, positive), key=lambda pair: -pair[0])
    fpr, tpr, true_pos = [0.0], [0.0], 0
    for i, (score, is_positive) in enumerate(ranked):
        true_pos += bool(is_positive)
        if i + 1 == len(ranked) or ranked[i + 1][0] != score:
            fpr.append((i + 1 - true_pos) / neg)
            tpr.append(true_pos / pos)
    return fpr, tpr


def flagged_metrics(ratios: Sequence[float], harmful: Sequence[bool]) -> dict[str, float | int | None]:
    """AUROC of −r for 'harmful', and precision/recall of the flagged set {r < 0}."""
    flagged = [r < 0 for r in ratios]
    true_pos = sum(f and h for f, h in zip(flagged, harmful))
    return {
        "auroc": auroc([-r for r in ratios], harmful),
        "flagged": sum(flagged),
        "precision_flagged": true_pos / sum(flagged) if any(flagged) else None,
        "recall_flagged": true_pos / sum(harmful) if any(harmful) else None,
    }
