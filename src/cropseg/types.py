"""Class codes and shared type aliases.

cropseg class maps are uint8 with ``CROP = 1``, ``NON_CROP = 0`` and ``NODATA = 255``
(the original Planet notebooks used 0 for crop; cropseg does not).
"""

from __future__ import annotations

import os
from typing import Final, Union

__all__ = ["CROP", "NON_CROP", "NODATA", "CLASS_NAMES", "PathLike"]

CROP: Final[int] = 1
NON_CROP: Final[int] = 0
NODATA: Final[int] = 255

#: Report order and names, crop first as the original study printed them.
CLASS_NAMES: Final[dict[int, str]] = {CROP: "crop", NON_CROP: "non-crop"}

PathLike = Union[str, "os.PathLike[str]"]
