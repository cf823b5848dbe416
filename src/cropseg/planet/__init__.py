"""Search and order Planet scenes: a thin, tested layer over the official ``planet`` SDK.

Everything is synchronous (built on ``planet.Planet``) and also works inside a running
event loop such as a Jupyter cell. Credentials come from ``api_key=`` / a ``planet.Auth``,
else the SDK's usual lookup (``PL_API_KEY``, ``planet auth login`` profiles).
"""

from __future__ import annotations

from cropseg.planet._client import connect
from cropseg.planet.order import ItemFiles, OrderResult, download, order
from cropseg.planet.search import SEARCH_COLUMNS, as_aoi, search

__all__ = ["connect", "search", "as_aoi", "SEARCH_COLUMNS", "order", "download", "OrderResult", "ItemFiles"]
