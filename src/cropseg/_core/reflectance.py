"""Kernels for :mod:`cropseg.reflectance` and :func:`cropseg.scene.read_scene`: DN scaling and masking."""

from __future__ import annotations

import numpy as np
from numba import prange

from cropseg._core._jit import pjit

__all__ = ["scale_dn", "apply_valid"]


@pjit
def scale_dn(dn, factor, divisor, out):  # pragma: no cover - numba
    """Reflectance of DNs ``(bands, rows, cols)`` into float32 ``out``; ``nan`` where the DN is 0.

    With ``divisor > 0`` (surface reflectance): ``float32(dn) / float32(divisor)``; otherwise
    (radiance): ``float32(float64(dn) * factor[band])``, the float64 product rounded once, as numpy's
    ``(dn * factor).astype(float32)``.
    """
    n_bands, rows, cols = dn.shape
    div = np.float32(divisor)
    for r in prange(rows):
        for b in range(n_bands):
            src = dn[b, r]
            dst = out[b, r]
            if divisor > 0:
                for c in range(cols):
                    dst[c] = np.float32(src[c]) / div if src[c] != 0 else np.float32(np.nan)
            else:
                f = factor[b]
                for c in range(cols):
                    dst[c] = np.float32(np.float64(src[c]) * f) if src[c] != 0 else np.float32(np.nan)


@pjit
def apply_valid(reflectance, valid):  # pragma: no cover - numba
    """Clear ``valid`` where any band is ``nan``, then set every band to ``nan`` where ``valid`` is False."""
    n_bands, rows, cols = reflectance.shape
    for r in prange(rows):
        ok = valid[r]
        for b in range(n_bands):
            band = reflectance[b, r]
            for c in range(cols):
                ok[c] = ok[c] & (band[c] == band[c])
        for b in range(n_bands):
            band = reflectance[b, r]
            for c in range(cols):
                if not ok[c]:
                    band[c] = np.nan
