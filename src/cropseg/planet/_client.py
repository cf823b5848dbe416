"""Connecting to Planet and turning planet SDK failures into cropseg errors.

Everything here is plumbing shared by :mod:`cropseg.planet.search` and
:mod:`cropseg.planet.order`: build (or accept) a sync ``planet.Planet`` client, make sure
credentials exist before any request, validate names against the SDK's own product-bundle
spec, and map SDK exceptions at the boundary so users only ever see cropseg errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import planet
from planet import exceptions as pl_exc
from planet import specs

from cropseg.errors import InvalidInputError, PlanetAPIError, PlanetAuthError, ProductError

__all__ = ["connect"]

logger = logging.getLogger(__name__)

_KEY_HINT = (
    "set the PL_API_KEY environment variable to your Planet API key "
    "(https://www.planet.com/account/#/user-settings), pass api_key=..., "
    "or run `planet auth login`"
)


def connect(api_key: str | planet.Auth | None = None, *, base_url: str | None = None) -> planet.Planet:
    """Return a sync ``planet.Planet`` client with credentials checked before any request.

    Parameters
    ----------
    api_key : str or planet.Auth, optional
        A Planet API key or any ``planet.Auth``. When omitted, the SDK's usual lookup is used
        (``PL_API_KEY``, ``PL_AUTH_*`` variables, the ``~/.planet.json`` profile).
    base_url : str, optional
        Root of the Planet API, ``https://api.planet.com`` by default (no trailing slash; the
        SDK appends ``/data/v1`` and ``/compute/ops``).

    Returns
    -------
    planet.Planet
        The SDK's synchronous client; it works in scripts and inside a running event loop.

    Raises
    ------
    PlanetAuthError
        When no credentials can be found; the message says how to set ``PL_API_KEY``.

    Examples
    --------
    >>> pl = connect("my-api-key", base_url="http://127.0.0.1:8080")
    >>> type(pl).__name__
    'Planet'
    """
    if base_url is not None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"base_url must be an http(s) URL such as 'https://api.planet.com', got {base_url!r}"
            )
        base_url = base_url.rstrip("/")
    if api_key is None:
        auth = planet.Auth.from_user_default_session()
        if not auth.is_initialized():
            raise PlanetAuthError(f"no Planet credentials found; {_KEY_HINT}")
    elif isinstance(api_key, planet.Auth):
        auth = api_key
    elif isinstance(api_key, str):
        if not api_key.strip():
            raise PlanetAuthError(f"api_key is an empty string; {_KEY_HINT}")
        auth = planet.Auth.from_key(api_key.strip())
    else:
        raise InvalidInputError(
            f"api_key must be a str or a planet.Auth, got {type(api_key).__name__}; {_KEY_HINT}"
        )
    return planet.Planet(session=planet.Session(auth=auth), base_url=base_url)


@contextmanager
def client_scope(client: planet.Planet | None, api_key: str | planet.Auth | None) -> Iterator[planet.Planet]:
    """Yield ``client``, or a new client from ``api_key`` that is closed afterwards."""
    if client is not None:
        if api_key is not None:
            raise InvalidInputError("pass either client= or api_key=, not both; the client has its own auth")
        if not isinstance(client, planet.Planet):
            raise InvalidInputError(
                f"client must be a planet.Planet (see cropseg.planet.connect), got {type(client).__name__}"
            )
        yield client
        return
    own = connect(api_key)
    try:
        yield own
    finally:
        # planet.Planet has no public close(); this is the SDK's own sync bridge
        # closing the httpx client on the session's background loop.
        session = own._session
        if session._loop is not None:
            session._call_sync(session.aclose())
            session._loop.call_soon_threadsafe(session._loop.stop)


def _status_of(exc: BaseException) -> int | None:
    """Return the HTTP status behind an SDK APIError (the SDK raises it while handling httpx's)."""
    context = exc.__context__
    if isinstance(context, httpx.HTTPStatusError):
        return context.response.status_code
    return None


@contextmanager
def planet_errors(action: str) -> Iterator[None]:
    """Re-raise planet SDK and transport failures during ``action`` as cropseg errors.

    The server's response text is kept in the message. Credentials never appear in it: the
    SDK's exceptions carry only the response body.
    """
    try:
        yield
    except pl_exc.InvalidAPIKey as exc:
        raise PlanetAuthError(f"{action}: the Planet API refused the credentials (HTTP 401: {exc}); "
                              f"{_KEY_HINT}") from exc
    except pl_exc.APIError as exc:
        status = _status_of(exc)
        raise PlanetAPIError(f"{action}: Planet API error (HTTP {status}): {exc}", status=status) from exc
    except specs.SpecificationException as exc:
        raise ProductError(f"{action}: {exc}") from exc
    except specs.FetchBundlesSpecError as exc:
        raise PlanetAPIError(f"{action}: could not fetch Planet's product-bundle spec: {exc}") from exc
    except pl_exc.PlanetError as exc:
        raise PlanetAPIError(f"{action}: {exc}") from exc
    except httpx.HTTPError as exc:
        raise PlanetAPIError(
            f"{action}: could not talk to the Planet API ({type(exc).__name__}: {exc}); "
            "check the network and retry"
        ) from exc


def check_item_type(item_type: str, *, for_orders: bool) -> str:
    """Return ``item_type`` (a str) in the spec's spelling or raise :class:`ProductError`."""
    with planet_errors("checking item_type"):
        if for_orders:
            return specs.validate_item_type(item_type)
        return specs.validate_data_item_type(item_type)


def check_bundle(item_type: str, bundle: str, name: str = "bundle") -> str:
    """Return ``bundle`` (a str) in the spec's spelling if ``item_type`` supports it, else raise."""
    with planet_errors(f"checking {name}"):
        supported = specs.get_product_bundles(item_type)
    match = next((b for b in supported if b.lower() == bundle.lower()), None)
    if match is None:
        raise ProductError(
            f"{name} {bundle!r} is not a product bundle of item type {item_type!r}; "
            f"choose one of {', '.join(sorted(supported))}"
        )
    return match
