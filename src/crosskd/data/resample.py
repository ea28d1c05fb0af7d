"""Align a clip's two streams and resample them to fixed lengths.

The inertial and skeleton streams of one clip do not share a clock (UTD-MHAD's length ratio
ranges 2.38-4.51, not 50/30), but both span the same action. So each stream is mapped onto
its own duration, normalised to [0, 1], and sampled there: sample i of n sits at i / (n-1).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import interp1d


def resample_time(x: np.ndarray, length: int, axis: int = 0) -> np.ndarray:
    """Linearly resample ``x`` along ``axis`` to ``length`` samples over the same span.

    Linear (not FFT) interpolation: clips are not periodic, and FFT resampling rings at the
    ends. Works for up- and down-sampling of any array.
    """
    n = x.shape[axis]
    if n < 2:
        raise ValueError(f"cannot resample a stream of {n} sample(s)")
    if length < 2:
        raise ValueError(f"target length must be >= 2, got {length}")
    src = np.linspace(0.0, 1.0, n)
    dst = np.linspace(0.0, 1.0, length)
    return interp1d(src, x, axis=axis, kind="linear", assume_sorted=True)(dst)
