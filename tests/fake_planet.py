"""A loopback fake of the Planet Data and Orders APIs for testing cropseg.planet.

A real threaded HTTP/1.1 server on 127.0.0.1 (free port) that the real ``planet`` SDK talks
to through ``base_url``. It serves:

- ``POST /data/v1/quick-search`` evaluating the AndFilter (geometry, acquired, cloud_cover,
  quality, instrument, assets) over its items, paginated with absolute ``_links._next``;
- ``GET /data/v1/searches/<sid>/results?_page=N``;
- ``POST /compute/ops/orders/v2``, ``GET /compute/ops/orders/v2/<uuid>`` stepping through a
  configurable state sequence, results named ``<oid>/...`` with absolute locations;
- ``GET /compute/ops/download/?token=T`` redirecting (302) to ``/storage/T``, which streams the
  bytes with ``Content-Length``; ``manifest.json`` carries real md5/sha256 digests.

Faults are injected per path prefix (status + body, N times), per file (corrupt bytes N
times, or a connection cut mid-body). Every request is logged.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import planet
import pytest
import shapely
from affine import Affine
from rasterio.io import MemoryFile
from shapely.geometry import shape

VALID_KEY = "fake-key-123"
PAGE_SIZE = 2


@dataclass
class Fault:
    prefix: str
    status: int
    body: str
    times: int
    method: str | None = None


@dataclass
class FakeOrder:
    id: str
    request: dict
    states: list[str]
    polls: int = 0

    @property
    def state(self) -> str:
        return self.states[min(self.polls, len(self.states) - 1)]


@dataclass
class FakePlanet:
    """State of the fake API; tests mutate it between calls."""

    url: str = ""
    items: list[dict] = field(default_factory=list)
    files: dict[str, dict[str, tuple[bytes, dict]]] = field(default_factory=dict)
    order_states: list[str] = field(default_factory=lambda: ["queued", "running", "success"])
    failure_message: str = "Order failed: item 20151119_025740_0c74 is not available for download"
    page_size: int = PAGE_SIZE
    faults: list[Fault] = field(default_factory=list)
    corrupt: dict[str, int] = field(default_factory=dict)
    cut: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    bodies: list[dict] = field(default_factory=list)
    orders: dict[str, FakeOrder] = field(default_factory=dict)
    searches: dict[str, list[dict]] = field(default_factory=dict)
    extra_results: list[dict] = field(default_factory=list)
    omit_manifest: bool = False
    page_cycle: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, prefix: str, status: int, body: str, times: int = 1, method: str | None = None) -> None:
        """Answer the next ``times`` requests whose path starts with ``prefix`` with an error."""
        self.faults.append(Fault(prefix, status, body, times, method))

    def add_item_files(self, item_id: str, files: dict[str, tuple[bytes, dict]]) -> None:
        """Register the delivered files (relative path -> (bytes, manifest annotations)) of an item."""
        self.files[item_id] = files

    def paths(self, prefix: str) -> list[str]:
        return [p for _m, p, _h in self.requests if p.startswith(prefix)]


def _matches(filt: dict, item: dict) -> bool:
    kind = filt["type"]
    props = item["properties"]
    if kind == "AndFilter":
        return all(_matches(f, item) for f in filt["config"])
    if kind == "OrFilter":
        return any(_matches(f, item) for f in filt["config"])
    if kind == "NotFilter":
        return not _matches(filt["config"], item)
    if kind == "GeometryFilter":
        return shape(filt["config"]).intersects(shape(item["geometry"]))
    if kind == "PermissionFilter":
        return True
    if kind == "AssetFilter":
        return all(a in item.get("assets", []) for a in filt["config"])
    if kind == "StringInFilter":
        return props.get(filt["field_name"]) in filt["config"]
    value = props.get(filt["field_name"])
    if kind == "DateRangeFilter":
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        conv = {k: datetime.fromisoformat(v.replace("Z", "+00:00")) for k, v in filt["config"].items()}
    elif kind == "RangeFilter":
        conv = filt["config"]
    else:
        raise ValueError(f"fake server does not know filter {kind}")
    ops = {"gt": value.__gt__, "gte": value.__ge__, "lt": value.__lt__, "lte": value.__le__}
    return all(ops[k](v) for k, v in conv.items())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        pass

    # -- helpers -------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str = "application/json", headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode())

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else {}

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        body = self._body() if method in ("POST", "PUT") else {}
        with fake.lock:
            fake.requests.append((method, path, dict(self.headers)))
            if body:
                fake.bodies.append(body)
            for fault in fake.faults:
                if fault.times > 0 and path.startswith(fault.prefix) and fault.method in (None, method):
                    fault.times -= 1
                    return self._send(fault.status, fault.body.encode(), "text/plain")
        if not path.startswith("/storage/"):
            auth = self.headers.get("Authorization", "")
            if auth != f"api-key {VALID_KEY}":
                return self._json(401, {"message": "Please enter your API key, or email and password."})
        try:
            self._route(method, path, query, body)
        except KeyError as exc:
            self._json(404, {"message": f"not found: {exc}"})

    def _route(self, method: str, path: str, query: dict, body: dict) -> None:
        fake = self.server.fake
        base = fake.url
        if method == "POST" and path == "/data/v1/quick-search":
            hits = [i for i in fake.items if i["properties"]["item_type"] in body["item_types"]
                    and _matches(body["filter"], i)]
            if query.get("_sort") == ["acquired asc"]:
                hits.sort(key=lambda i: i["properties"]["acquired"])
            sid = uuid.uuid4().hex
            fake.searches[sid] = hits
            return self._json(200, self._page(sid, 0))
        if method == "GET" and path.startswith("/data/v1/searches/") and path.endswith("/results"):
            sid = path.split("/")[4]
            return self._json(200, self._page(sid, int(query["_page"][0])))
        if method == "POST" and path == "/compute/ops/orders/v2":
            oid = str(uuid.uuid4())
            for product in body["products"]:
                for item_id in product["item_ids"]:
                    if item_id not in fake.files:
                        detail = {"message": f"no access to {item_id}"}
                        return self._json(400, {"field": {"Details": [detail]}})
            fake.orders[oid] = FakeOrder(oid, body, list(fake.order_states))
            return self._json(202, self._order(fake.orders[oid]))
        if method == "GET" and path.startswith("/compute/ops/orders/v2/"):
            order = fake.orders[path.rsplit("/", 1)[1]]
            out = self._order(order)
            order.polls += 1
            return self._json(200, out)
        if method == "GET" and path.startswith("/compute/ops/download/"):
            token = query["token"][0]
            return self._send(302, b"", "text/plain", {"Location": f"{base}/storage/{token}"})
        if method == "GET" and path.startswith("/storage/"):
            oid, rel = path[len("/storage/"):].split("/", 1)
            data = self._file_bytes(fake.orders[oid], rel)
            with fake.lock:
                if fake.corrupt.get(rel, 0) > 0:
                    fake.corrupt[rel] -= 1
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                cut = fake.cut.get(rel, 0) > 0
                if cut:
                    fake.cut[rel] -= 1
            if cut:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return None
            return self._send(200, data, "application/octet-stream")
        raise KeyError(path)

    def _page(self, sid: str, page: int) -> dict:
        fake = self.server.fake
        hits = fake.searches[sid]
        size = fake.page_size
        links = {"_self": f"{fake.url}/data/v1/searches/{sid}/results?_page={page}"}
        if (page + 1) * size < len(hits):
            links["_next"] = f"{fake.url}/data/v1/searches/{sid}/results?_page={page + 1}"
        if fake.page_cycle and page >= 1:
            links["_next"] = links["_self"]
        return {"type": "FeatureCollection", "_links": links, "features": hits[page * size:(page + 1) * size]}

    def _order_files(self, order: FakeOrder) -> dict[str, tuple[bytes, dict]]:
        out: dict[str, tuple[bytes, dict]] = {}
        for product in order.request["products"]:
            for item_id in product["item_ids"]:
                out.update(self.server.fake.files[item_id])
        return out

    def _file_bytes(self, order: FakeOrder, rel: str) -> bytes:
        files = self._order_files(order)
        if rel == "manifest.json":
            manifest = {"name": "", "files": [
                {"path": p, "media_type": "application/octet-stream", "size": len(data),
                 "digests": {"md5": hashlib.md5(data).hexdigest(),
                             "sha256": hashlib.sha256(data).hexdigest()},
                 "annotations": notes}
                for p, (data, notes) in files.items()]}
            return json.dumps(manifest).encode()
        return files[rel][0]

    def _order(self, order: FakeOrder) -> dict:
        base = self.server.fake.url
        state = order.state
        failed = state == "failed"
        links: dict[str, Any] = {"_self": f"{base}/compute/ops/orders/v2/{order.id}"}
        if state in ("success", "partial"):
            names = [*self._order_files(order)]
            names += [] if self.server.fake.omit_manifest else ["manifest.json"]
            links["results"] = [
                {"delivery": "success", "expires_at": "2099-01-01T00:00:00.000Z",
                 "location": f"{base}/compute/ops/download/?token={order.id}/{rel}",
                 "name": f"{order.id}/{rel}"}
                for rel in names] + self.server.fake.extra_results
        return {"id": order.id, "name": order.request["name"], "state": state,
                "created_on": "2023-06-02T10:00:00.000Z", "last_modified": "2023-06-02T10:05:00.000Z",
                "last_message": self.server.fake.failure_message if failed else "Manifest delivery completed",
                "error_hints": ["item not available"] if failed else [],
                "order_type": "full", "products": order.request["products"],
                "tools": order.request.get("tools", []), "_links": links}

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakePlanet


def start(fake: FakePlanet) -> tuple[_Server, threading.Thread]:
    """Serve ``fake`` on 127.0.0.1 at a free port; sets ``fake.url``."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    return server, thread


# -- pytest fixtures (imported by tests/test_planet_*.py) --------------------------------

TESTS = Path(__file__).parent
API_DATA = TESTS / "data" / "planet-api"
ORDER_SAMPLE = TESTS.parent / "src" / "cropseg" / "datasets" / "data" / "planet-order-sample"
REAL_ITEM = json.loads((API_DATA / "data_item_20220125_075509_67_1061.json").read_text())
SAMPLE_ID = "20151119_025740_0c74"
SECOND_ID = "20151119_025741_0c74"
#: An AOI well inside the real item's footprint (lon/lat).
AOI = shapely.box(46.90, 8.36, 46.97, 8.42)


def make_item(item_id: str, acquired: str, *, dx: float = 0.0, cloud: float = 0.0,
              instrument: str | None = None) -> dict:
    """The real PSScene item with a new id, acquisition time, cloud cover and shifted footprint."""
    item = copy.deepcopy(REAL_ITEM)
    item["id"] = item_id
    item["properties"]["acquired"] = acquired
    item["properties"]["cloud_cover"] = cloud
    if instrument is not None:
        item["properties"]["instrument"] = instrument
    geom = shapely.affinity.translate(shape(item["geometry"]), xoff=dx)
    item["geometry"] = shapely.geometry.mapping(geom)
    item["geometry"] = json.loads(json.dumps(item["geometry"]))  # tuples -> lists, as on the wire
    return item


@functools.cache
def sample_files(item_id: str = SAMPLE_ID) -> dict[str, tuple[bytes, dict]]:
    """Delivered files of the real tutorial order (analytic tif rebuilt small), renamed to ``item_id``."""
    manifest = json.loads((ORDER_SAMPLE / "manifest.json").read_text())
    out: dict[str, tuple[bytes, dict]] = {}
    for entry in manifest["files"]:
        path = entry["path"]
        local = ORDER_SAMPLE / Path(path).name
        if local.exists():
            data = local.read_bytes()
        else:  # the 12 MB analytic image is not shipped; deliver a small real GeoTIFF instead
            rng = np.random.default_rng(sum(item_id.encode()))
            with MemoryFile() as mem:
                with mem.open(driver="GTiff", width=8, height=6, count=4, dtype="uint16", crs="EPSG:32646",
                              transform=Affine(3, 0, 800000, 0, -3, 1760000)) as ds:
                    ds.write(rng.integers(1, 4000, (4, 6, 8), dtype=np.uint16))
                data = mem.read()
        notes = dict(entry["annotations"], **{"planet/item_id": item_id})
        out[path.replace(SAMPLE_ID, item_id)] = (data, notes)
    return out


@pytest.fixture
def bundles_spec(monkeypatch):
    """Seed the SDK's product-bundle spec from the real 2023-02-24 snapshot (no internet)."""
    bundles = json.loads((API_DATA / "orders_product_bundle_2023-02-24.json").read_text())["bundles"]
    item_types = {t for b in bundles.values() for t in b["assets"]}
    cache = {"bundles": bundles, "bundle_names": bundles.keys(), "item_types": item_types}
    monkeypatch.setattr(planet.specs.PRODUCT_BUNDLES, "cache", cache, raising=False)
    return bundles


@pytest.fixture
def fake(bundles_spec, monkeypatch):
    """A running fake Planet API with search items and the sample order's files."""
    monkeypatch.setattr(planet.http, "RATE_LIMIT", 0)
    monkeypatch.setattr(planet.http, "MAX_ACTIVE", 0)
    state = FakePlanet()
    state.items = [
        make_item("20220125_075509_67_1061", REAL_ITEM["properties"]["acquired"]),
        make_item("20220120_075500_00_1061", "2022-01-20T07:55:00Z", dx=-0.10),  # part of the AOI
        make_item("20220121_075500_00_1061", "2022-01-21T07:55:00Z", dx=1.0),  # misses the AOI
        make_item("20220122_075500_00_1061", "2022-01-22T07:55:00Z", cloud=0.5),  # cloudy
        make_item("20220301_075500_00_1061", "2022-03-01T07:55:00Z"),  # after the window
        make_item("20220128_075500_00_2402", "2022-01-28T07:55:00Z", instrument="PSB.SD"),
        make_item("20220131_180000_00_2402", "2022-01-31T18:00:00Z", dx=-0.145),  # a sliver
    ]
    state.add_item_files(SAMPLE_ID, sample_files(SAMPLE_ID))
    state.add_item_files(SECOND_ID, sample_files(SECOND_ID))
    server, thread = start(state)
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


def make_client(url: str, key: str = VALID_KEY) -> planet.Planet:
    session = planet.Session(auth=planet.Auth.from_key(key))
    session.max_retry_backoff = 0
    return planet.Planet(session=session, base_url=url)


@pytest.fixture
def client(fake):
    return make_client(fake.url)


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """An environment where the SDK finds no Planet credentials at all."""
    for var in ("PL_API_KEY", "PL_AUTH_API_KEY", "PL_AUTH_PROFILE", "PL_AUTH_CLIENT_ID",
                "PL_AUTH_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path
