"""Numba kernels: no validation, no Python objects, results written into a preallocated ``out``.

The public modules (``denoise``, ``labels``, ...) validate, make inputs C-contiguous with fixed
dtypes, allocate, and then call these kernels.
"""
