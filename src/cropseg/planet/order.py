"""Order Planet scenes, wait for them, and download every file with verified checksums.

A thin layer over ``planet.Planet().orders``: the request is built with
``planet.order_request``; waiting checks the final state itself (the SDK returns ``failed``
and ``cancelled`` without raising) and has no give-up time unless ``timeout`` is given;
each result is fetched with the SDK's per-file ``download_asset`` into a temporary name,
checked against ``manifest.json`` and only then moved to its final name, so a re-run never
downloads a verified file again and never sees a partial file under a final name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import planet
import shapely
from planet import order_request
from planet.clients.orders import OrderStates
from planet.reporting import StateBar

from cropseg.errors import ChecksumError, InvalidInputError, OrderFailedError, OutputError
from cropseg.planet._client import check_bundle, check_item_type, client_scope, planet_errors
from cropseg.planet.search import as_aoi
from cropseg.types import PathLike

__all__ = ["order", "download", "OrderResult", "ItemFiles"]

logger = logging.getLogger(__name__)

_CHECKSUMS = {"SHA256": "sha256", "MD5": "md5"}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ItemFiles:
    """The downloaded files of one ordered item, ready for ``read_scene``.

    Attributes
    ----------
    item_id : str
        The Planet item id.
    analytic : Path or None
        The analytic GeoTIFF (``*_AnalyticMS[_SR][_8b][_clip].tif``).
    metadata_xml : Path or None
        The product metadata XML with the reflectance coefficients.
    udm2 : Path or None
        The UDM2 usable-data mask GeoTIFF.
    item_json : Path or None
        The Data API item (``*_metadata.json``).
    other : tuple of Path
        Any further files of this item.
    """

    item_id: str
    analytic: Path | None = None
    metadata_xml: Path | None = None
    udm2: Path | None = None
    item_json: Path | None = None
    other: tuple[Path, ...] = ()


@dataclass(frozen=True)
class OrderResult:
    """A finished, downloaded and verified Planet order.

    Attributes
    ----------
    order_id : str
        The order's UUID.
    state : str
        ``success`` or ``partial``.
    directory : Path
        The order folder (``<directory>/<order_id>``) holding ``manifest.json``.
    items : dict of str to ItemFiles
        Local files grouped per item id, in manifest order.
    manifest : Path
        The order's ``manifest.json``.
    downloaded : tuple of Path
        Files fetched by this call; verified files already present were skipped.
    """

    order_id: str
    state: str
    directory: Path
    items: dict[str, ItemFiles] = field(default_factory=dict)
    manifest: Path | None = None
    downloaded: tuple[Path, ...] = ()

    @property
    def paths(self) -> list[Path]:
        """Every local file of the order except the manifest."""
        out: list[Path] = []
        for files in self.items.values():
            out += [p for p in (files.analytic, files.metadata_xml, files.udm2, files.item_json) if p]
            out += list(files.other)
        return out


def _check_checksum(checksum: Any) -> str:
    if not isinstance(checksum, str) or checksum.upper() not in _CHECKSUMS:
        raise InvalidInputError(f"checksum must be 'SHA256' or 'MD5', got {checksum!r}")
    return _CHECKSUMS[checksum.upper()]


def _check_directory(directory: Any) -> Path:
    if not isinstance(directory, (str, os.PathLike)):
        raise InvalidInputError(f"directory must be a folder path, got {type(directory).__name__}")
    folder = Path(directory)
    if not folder.is_dir():
        raise OutputError(f"directory {str(folder)!r} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"directory {str(folder)!r} is not writable; choose another folder")
    return folder


def _check_timing(timeout: Any, poll_interval: Any) -> None:
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or timeout <= 0):
        raise InvalidInputError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)) or poll_interval < 0:
        raise InvalidInputError(f"poll_interval must be a number of seconds >= 0, got {poll_interval!r}")


def order(
    item_ids: Sequence[str],
    *,
    aoi: Any = None,
    bundle: str = "analytic_sr_udm2",
    item_type: str = "PSScene",
    name: str | None = None,
    directory: PathLike = ".",
    fallback_bundle: str | None = None,
    tools: Sequence[dict] | None = None,
    checksum: str = "SHA256",
    progress: bool = True,
    timeout: float | None = None,
    poll_interval: float = 5.0,
    client: planet.Planet | None = None,
    api_key: str | planet.Auth | None = None,
) -> OrderResult:
    """Order scenes, wait for the order, download and verify every file.

    Parameters
    ----------
    item_ids : sequence of str
        Planet item ids, e.g. the ``id`` column of :func:`~cropseg.planet.search`.
    aoi : dict, shapely geometry, GeoDataFrame or path, optional
        Clip the scenes to this area (the Orders API ``clip`` tool); see
        :func:`~cropseg.planet.search.as_aoi`.
    bundle : str
        Product bundle, checked against the SDK's bundle spec for ``item_type``.
    item_type : str
        Planet item type.
    name : str, optional
        Order name; ``cropseg-<first id>[+N]`` by default.
    directory : str or path
        Existing folder; files land in ``<directory>/<order_id>/``.
    fallback_bundle : str, optional
        Bundle used for items that lack ``bundle`` (e.g. 4-band SR when 8-band is asked).
    tools : sequence of dict, optional
        Further ``planet.order_request`` tools, applied after the clip.
    checksum : {'SHA256', 'MD5'}
        Manifest digest to verify downloads against.
    progress : bool
        Show the order-state bar and per-file download bars.
    timeout : float, optional
        Give up waiting after this many seconds (``None``: wait as long as it takes).
    poll_interval : float
        Seconds between order-state polls.
    client : planet.Planet, optional
        A client from :func:`~cropseg.planet.connect`.
    api_key : str or planet.Auth, optional
        Credentials when no ``client`` is given; else the SDK's lookup (``PL_API_KEY``).

    Returns
    -------
    OrderResult
        Local files grouped per item.

    Raises
    ------
    InvalidInputError, ProductError, GeometryError, OutputError
        Bad ids, bundle, item type, AOI, tools or folder, before the order is created.
    OrderFailedError
        The order ended ``failed`` or ``cancelled``, or ``timeout`` passed.
    ChecksumError
        A file still did not match the manifest after one re-download.
    PlanetAuthError, PlanetAPIError
        Missing or refused credentials, or an API failure (with the server's text).

    Examples
    --------
    >>> result = order(scenes["id"][:2], aoi=aoi, directory="data")  # doctest: +SKIP
    >>> files = result.items[scenes["id"][0]]  # doctest: +SKIP
    >>> files.analytic, files.metadata_xml, files.udm2  # doctest: +SKIP
    """
    try:
        ids = [item_ids] if isinstance(item_ids, str) else list(item_ids)
    except TypeError as exc:
        raise InvalidInputError(f"item_ids must be a list of Planet item ids, got {item_ids!r}") from exc
    if not ids:
        raise InvalidInputError(f"item_ids must be a non-empty list of Planet item ids, got {item_ids!r}")
    if not all(isinstance(i, str) and i.strip() for i in ids):
        raise InvalidInputError(f"item_ids must all be non-empty strings, got {ids!r}")
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise InvalidInputError(f"item_ids lists {dupes} more than once; pass each id once")
    for label, value, example in (("item_type", item_type, "PSScene"), ("bundle", bundle, "analytic_sr_udm2"),
                                  ("fallback_bundle", fallback_bundle or "", "analytic_udm2")):
        if not isinstance(value, str):
            raise InvalidInputError(f"{label} must be a str such as {example!r}, got {value!r}")
    if name is None:
        name = f"cropseg-{ids[0]}" + (f"+{len(ids) - 1}" if len(ids) > 1 else "")
    elif not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"name must be a non-empty str, got {name!r}")
    tool_list: list[dict] = []
    if aoi is not None:
        tool_list.append(order_request.clip_tool(shapely.geometry.mapping(as_aoi(aoi))))
    if tools is not None:
        if isinstance(tools, dict) or not all(isinstance(t, dict) and len(t) == 1 for t in tools):
            raise InvalidInputError(
                f"tools must be a list of planet.order_request tools such as [toar_tool()], got {tools!r}"
            )
        tool_list += list(tools)
    folder = _check_directory(directory)
    algo = _check_checksum(checksum)
    _check_timing(timeout, poll_interval)

    with client_scope(client, api_key) as pl:
        # checked against the SDK's bundle spec (which it may fetch) before anything is ordered
        item_type = check_item_type(item_type, for_orders=True)
        bundle = check_bundle(item_type, bundle)
        if fallback_bundle is not None:
            fallback_bundle = check_bundle(item_type, fallback_bundle, "fallback_bundle")
        with planet_errors("building the order request"):
            request = order_request.build_request(
                name,
                products=[order_request.product(ids, bundle, item_type, fallback_bundle=fallback_bundle)],
                tools=tool_list or None,
            )
        with planet_errors("creating the Planet order"):
            created = pl.orders.create_order(request)
        order_id = created["id"]
        logger.info("created Planet order %s (%s) for %d items", order_id, name, len(ids))
        return _wait_and_download(pl, order_id, folder, algo, progress, timeout, poll_interval)


def download(
    order_id: str,
    directory: PathLike = ".",
    *,
    checksum: str = "SHA256",
    progress: bool = False,
    timeout: float | None = None,
    poll_interval: float = 5.0,
    client: planet.Planet | None = None,
    api_key: str | planet.Auth | None = None,
) -> OrderResult:
    """Wait for an existing order if needed, then download and verify its files.

    Resumes safely: files already present whose digest matches the manifest are not fetched
    again, and a file is only ever written under its final name once verified.

    Parameters
    ----------
    order_id : str
        The order's UUID (as printed by :func:`order` or Planet's web app).
    directory : str or path
        Existing folder; files land in ``<directory>/<order_id>/``.
    checksum : {'SHA256', 'MD5'}
        Manifest digest to verify against.
    progress : bool
        Show the order-state bar and per-file download bars.
    timeout : float, optional
        Give up waiting after this many seconds (``None``: no limit).
    poll_interval : float
        Seconds between order-state polls.
    client : planet.Planet, optional
        A client from :func:`~cropseg.planet.connect`.
    api_key : str or planet.Auth, optional
        Credentials when no ``client`` is given; else the SDK's lookup (``PL_API_KEY``).

    Returns
    -------
    OrderResult

    Raises
    ------
    InvalidInputError, OutputError
        ``order_id`` is not a UUID, or the folder is missing.
    OrderFailedError, ChecksumError, PlanetAuthError, PlanetAPIError
        As for :func:`order`.

    Examples
    --------
    >>> download("37d53033-089d-40cd-8a98-161f400bbebe", "data")  # doctest: +SKIP
    """
    try:
        order_id = str(uuid.UUID(str(order_id)))
    except ValueError as exc:
        raise InvalidInputError(
            f"order_id {order_id!r} is not a Planet order id (a UUID such as "
            "'37d53033-089d-40cd-8a98-161f400bbebe')"
        ) from exc
    folder = _check_directory(directory)
    algo = _check_checksum(checksum)
    _check_timing(timeout, poll_interval)
    with client_scope(client, api_key) as pl:
        return _wait_and_download(pl, order_id, folder, algo, progress, timeout, poll_interval)


def _wait(pl: planet.Planet, order_id: str, progress: bool, timeout: float | None,
          poll_interval: float) -> dict:
    """Poll the order until it reaches a final state; return the order JSON."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with StateBar(order_id=order_id, disable=not progress) as bar:
        while True:
            with planet_errors(f"checking order {order_id}"):
                info = pl.orders.get_order(order_id)
            state = info["state"]
            bar.update_state(state)
            if OrderStates.is_final(state):
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise OrderFailedError(
                    f"order {order_id} is still {state!r} after {timeout} s; resume later with "
                    f"cropseg.planet.download({order_id!r}, directory)"
                )
            time.sleep(poll_interval)
    if state in ("failed", "cancelled"):
        hints = "; ".join(info.get("error_hints") or []) or "no error hints"
        raise OrderFailedError(
            f"order {order_id} ended {state!r}: {info.get('last_message', '')} ({hints})"
        )
    if state == "partial":
        logger.warning("order %s ended 'partial': %s", order_id, info.get("last_message", ""))
    return info


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fp:
        for chunk in iter(lambda: fp.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch(pl: planet.Planet, location: str, final: Path, progress: bool,
           verify: Callable[[Path], str | None]) -> str | None:
    """Download ``location`` beside ``final`` under a temporary name; move it there once verified.

    A file failing ``verify`` is fetched once more; returns the problem if it still fails (nothing
    is then left on disk), else ``None``.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    problem: str | None = None
    for attempt in range(2):
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            with planet_errors(f"downloading {final.name}"):
                pl.orders.download_asset(location, filename=str(tmp), directory=final.parent,
                                         overwrite=True, progress_bar=progress)
            problem = verify(tmp)
            if problem is None:
                os.replace(tmp, final)
                return None
            if attempt == 0:
                logger.warning("%s: %s; downloading it again", final.name, problem)
        finally:
            tmp.unlink(missing_ok=True)
    return f"{final}: {problem} after a second download"


def _wait_and_download(pl: planet.Planet, order_id: str, folder: Path, algo: str, progress: bool,
                       timeout: float | None, poll_interval: float) -> OrderResult:
    info = _wait(pl, order_id, progress, timeout, poll_interval)
    order_dir = folder / order_id
    results: dict[str, str] = {}
    for res in info.get("_links", {}).get("results") or []:
        if not res or res.get("delivery", "success") != "success":
            continue
        name = PurePosixPath(res["name"])
        if name.parts and name.parts[0] == order_id:
            name = PurePosixPath(*name.parts[1:])
        if name.is_absolute() or ".." in name.parts or not name.parts:
            raise OrderFailedError(f"order {order_id} lists an unsafe result name {res['name']!r}")
        results[str(name)] = res["location"]
    if "manifest.json" not in results:
        raise OrderFailedError(f"order {order_id} has no manifest.json among its results; "
                               "it cannot be verified. Retry the download later")

    downloaded: list[Path] = []
    manifest_path = order_dir / "manifest.json"
    if not _manifest_ok(manifest_path):
        problem = _fetch(pl, results["manifest.json"], manifest_path, progress,
                         lambda p: None if _manifest_ok(p) else "not a valid manifest.json")
        if problem:
            raise ChecksumError(f"{problem}; retry later")
        downloaded.append(manifest_path)
    entries = {e["path"]: e for e in _read_manifest(manifest_path)["files"]}
    failures: list[str] = []

    for rel, location in results.items():
        if rel == "manifest.json":
            continue
        entry = entries.get(rel)
        if entry is None:
            raise ChecksumError(f"order {order_id}: result {rel!r} is not listed in manifest.json, "
                                "so it cannot be verified")
        want = entry.get("digests", {}).get(algo)
        if not want:
            raise ChecksumError(f"order {order_id}: manifest.json has no {algo} digest for {rel!r}; "
                                f"use checksum={'MD5' if algo == 'sha256' else 'SHA256'!r}")
        final = order_dir / rel

        def verify(path: Path, want: str = want, size: int | None = entry.get("size")) -> str | None:
            if size is not None and path.stat().st_size != size:
                return f"size {path.stat().st_size} bytes does not match the manifest's {size}"
            got = _digest(path, algo)
            return None if got == want else f"{algo} {got} does not match the manifest's {want}"

        if final.is_file() and verify(final) is None:
            logger.info("%s already downloaded and verified; skipping", final)
            continue
        problem = _fetch(pl, location, final, progress, verify)
        if problem:
            failures.append(problem)
        else:
            downloaded.append(final)
    if failures:
        raise ChecksumError(
            f"order {order_id}: {len(failures)} file(s) did not match manifest.json and were not kept: "
            + "; ".join(failures) + f". Retry with cropseg.planet.download({order_id!r}, directory) "
            "later (verified files are kept), or contact Planet support"
        )

    items = _group(order_dir, [entries[r] for r in entries if r in results])
    return OrderResult(order_id=order_id, state=info["state"], directory=order_dir, items=items,
                       manifest=manifest_path, downloaded=tuple(downloaded))


def _read_manifest(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _manifest_ok(path: Path) -> bool:
    try:
        files = _read_manifest(path)["files"]
        return isinstance(files, list) and all("path" in f for f in files)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _group(order_dir: Path, entries: list[dict]) -> dict[str, ItemFiles]:
    """Group manifest entries per item id by their ``planet/asset_type`` annotations."""
    slots: dict[str, dict[str, Any]] = {}
    for entry in entries:
        notes = entry.get("annotations", {})
        item_id = notes.get("planet/item_id")
        if item_id is None:
            continue
        path = order_dir / entry["path"]
        slot = slots.setdefault(item_id, {"other": []})
        asset = notes.get("planet/asset_type", "")
        if asset == "ortho_udm2" or asset == "udm2":
            key = "udm2"
        elif asset.endswith("_xml"):
            key = "metadata_xml"
        elif asset.startswith(("ortho_analytic", "analytic")):
            key = "analytic"
        elif not asset and path.name.endswith("_metadata.json"):
            key = "item_json"
        else:
            key = "other"
        if key == "other" or key in slot:
            slot["other"].append(path)
        else:
            slot[key] = path
    return {
        item_id: ItemFiles(item_id=item_id, other=tuple(slot.pop("other")), **slot)
        for item_id, slot in slots.items()
    }
