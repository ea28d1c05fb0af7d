"""Subject ids for a small synthetic copy: spread over both sides of the subject split."""

from __future__ import annotations

from crosskd.errors import ConfigError


def spread_subject_ids(subjects: int, train: range, test: range) -> list[int]:
    """``subjects`` ids taken from ``train`` and ``test`` in proportion to their sizes (at
    least one of each once there are two), so a small copy still has a test side."""
    total = len(train) + len(test)
    if not 1 <= subjects <= total:
        raise ConfigError(f"synthetic subjects must be 1-{total}, got {subjects}")
    n_test = 0 if subjects == 1 else min(len(test), max(1, round(subjects * len(test) / total)))
    return list(train[: subjects - n_test]) + list(test[:n_test])
