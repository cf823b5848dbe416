"""cropseg.planet.search against the real planet SDK talking to a loopback fake Planet API."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from datetime import date, datetime, timezone

import geopandas as gpd
import httpx
import pandas as pd
import planet
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import mapping, shape

from cropseg.errors import GeometryError, InvalidInputError, PlanetAPIError, PlanetAuthError, ProductError
from cropseg.planet import SEARCH_COLUMNS, as_aoi, connect, search
from tests import fake_planet as fp
from tests.fake_planet import AOI, VALID_KEY, make_client, make_item

# the loopback fake Planet API and its helpers, as fixtures of this module
bundles_spec, fake, client, no_credentials = fp.bundles_spec, fp.fake, fp.client, fp.no_credentials

WINDOW = ("2022-01-01", "2022-01-31")


def reference_coverage(footprint: dict, aoi=AOI) -> float:
    """Fraction of the AOI inside the footprint, computed in a global equal-area CRS."""
    dense = [shapely.segmentize(g, 0.0005) for g in (aoi, shape(footprint))]
    s = gpd.GeoSeries(dense, crs=4326).to_crs("EPSG:6933")
    return s.iloc[0].intersection(s.iloc[1]).area / s.iloc[0].area


def expected(fake, *, max_cloud=0.1, start="2022-01-01T00:00:00+00:00", end="2022-02-01T00:00:00+00:00"):
    """Items a correct search must return, worked out from the fake's item list independently."""
    out = []
    for item in fake.items:
        p = item["properties"]
        when = datetime.fromisoformat(p["acquired"].replace("Z", "+00:00"))
        if (shape(item["geometry"]).intersects(AOI) and p["cloud_cover"] <= max_cloud
                and datetime.fromisoformat(start) <= when < datetime.fromisoformat(end)):
            out.append(item)
    return sorted(out, key=lambda i: i["properties"]["acquired"])


def test_search_reads_every_page_sorted_with_coverage(fake, client):
    scenes = search(AOI, *WINDOW, client=client)
    want = expected(fake)
    assert len(want) == 4 and fake.page_size == 2  # two pages at least
    assert list(scenes.columns) == list(SEARCH_COLUMNS)
    assert scenes.crs == "EPSG:4326"
    assert list(scenes["id"]) == [i["id"] for i in want]
    assert scenes["acquired"].is_monotonic_increasing
    assert str(scenes["acquired"].dt.tz) == "UTC"
    for row, item in zip(scenes.itertuples(), want, strict=True):
        assert row.aoi_coverage == pytest.approx(reference_coverage(item["geometry"]), rel=1e-4)
        assert row.geometry.equals(shape(item["geometry"]))
        assert row.cloud_cover == item["properties"]["cloud_cover"]
        assert row.clear_percent == item["properties"]["clear_percent"]
        assert row.instrument == item["properties"]["instrument"]
    assert len(fake.paths("/data/v1/searches/")) == 1  # the second page was followed


def test_search_request_uses_sdk_filters(fake, client):
    search(mapping(AOI), date(2022, 1, 1), date(2022, 1, 31), max_cloud=0.05, client=client)
    body = fake.bodies[-1]
    assert body["item_types"] == ["PSScene"]
    by_type = {f["type"]: f for f in body["filter"]["config"]}
    assert shape(by_type["GeometryFilter"]["config"]).equals(AOI)
    dates = {"gte": "2022-01-01T00:00:00Z", "lt": "2022-02-01T00:00:00Z"}
    assert by_type["DateRangeFilter"]["config"] == dates
    cloud = {"type": "RangeFilter", "field_name": "cloud_cover", "config": {"lte": 0.05}}
    assert by_type["RangeFilter"] == cloud
    assert by_type["StringInFilter"]["config"] == ["standard"]
    assert by_type["PermissionFilter"]["config"] == ["assets:download"]
    sent = [h for m, p, h in fake.requests if p == "/data/v1/quick-search"][-1]
    assert sent["Authorization"] == f"api-key {VALID_KEY}"


def test_search_is_not_capped_at_100(fake, client):
    fake.items = [make_item(f"20220110_{i:06d}_00_1061", f"2022-01-10T{i // 60:02d}:{i % 60:02d}:00Z")
                  for i in range(130)]
    fake.page_size = 50
    scenes = search(AOI, *WINDOW, client=client)
    assert len(scenes) == 130
    assert list(scenes["id"]) == sorted(i["id"] for i in fake.items)
    assert len(fake.paths("/data/v1/searches/")) == 2


def test_min_aoi_coverage_drops_partial_scenes(fake, client):
    want = [i["id"] for i in expected(fake) if reference_coverage(i["geometry"]) >= 0.5]
    scenes = search(AOI, *WINDOW, min_aoi_coverage=0.5, client=client)
    assert list(scenes["id"]) == want
    assert 0 < len(want) < len(expected(fake))
    assert (scenes["aoi_coverage"] >= 0.5).all()


def test_limit_stops_after_enough_scenes(fake, client):
    scenes = search(AOI, *WINDOW, limit=2, client=client)
    assert list(scenes["id"]) == [i["id"] for i in expected(fake)[:2]]
    assert fake.paths("/data/v1/searches/") == []  # page two was never needed


def test_instrument_and_asset_filters(fake, client):
    scenes = search(AOI, *WINDOW, instruments=["PSB.SD"], asset_types=["ortho_analytic_4b_sr"], client=client)
    want = [i["id"] for i in expected(fake) if i["properties"]["instrument"] == "PSB.SD"]
    assert list(scenes["id"]) == want and len(want) == 1
    by_type = {f["type"]: f for f in fake.bodies[-1]["filter"]["config"]}
    assert by_type["AssetFilter"]["config"] == ["ortho_analytic_4b_sr"]
    none = search(AOI, *WINDOW, asset_types=["ortho_analytic_8b_sr"], client=client)
    assert len(none) == 0 and list(none.columns) == list(SEARCH_COLUMNS)


def test_datetimes_and_timezones(fake, client):
    # 18:00 on Jan 31 is excluded by an end datetime at noon; an aware start is converted to UTC
    start = datetime(2022, 1, 20, 9, 55, tzinfo=timezone.utc).astimezone(timezone.utc)
    scenes = search(AOI, start.isoformat(), "2022-01-31T12:00:00Z", client=client)
    want = expected(fake, start="2022-01-20T09:55:00+00:00", end="2022-01-31T12:00:00.000001+00:00")
    assert list(scenes["id"]) == [i["id"] for i in want]
    config = {f["type"]: f for f in fake.bodies[-1]["filter"]["config"]}["DateRangeFilter"]["config"]
    assert config == {"gte": "2022-01-20T09:55:00Z", "lte": "2022-01-31T12:00:00Z"}


def test_aoi_inputs_are_equivalent(fake, client, tmp_path):
    frame = gpd.GeoDataFrame(geometry=[AOI], crs=4326)
    path = tmp_path / "aoi.geojson"
    frame.to_file(path, driver="GeoJSON")
    feature = {"type": "Feature", "properties": {}, "geometry": mapping(AOI)}
    utm = frame.to_crs(frame.estimate_utm_crs())
    for aoi in (path, str(path), feature, {"type": "FeatureCollection", "features": [feature]}, utm):
        assert as_aoi(aoi).equals_exact(AOI, 1e-7) or as_aoi(aoi).symmetric_difference(AOI).area < 1e-12
    a = search(path, *WINDOW, client=client)
    b = search(utm, *WINDOW, client=client)
    assert list(a["id"]) == list(b["id"])
    pd.testing.assert_series_equal(a["aoi_coverage"], b["aoi_coverage"], rtol=1e-6)


def test_429_is_retried_then_succeeds(fake, client):
    fake.fail("/data/v1/quick-search", 429, "Too many requests, slow down", times=2)
    scenes = search(AOI, *WINDOW, client=client)
    assert len(scenes) == 4
    assert len(fake.paths("/data/v1/quick-search")) == 3


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_keep_status_and_text(fake, client, status):
    fake.fail("/data/v1/quick-search", status, f"upstream exploded ({status})")
    with pytest.raises(PlanetAPIError, match=rf"HTTP {status}.*upstream exploded \({status}\)") as info:
        search(AOI, *WINDOW, client=client)
    assert info.value.status == status


def test_error_on_second_page(fake, client):
    fake.fail("/data/v1/searches/", 500, "page two is gone")
    with pytest.raises(PlanetAPIError, match="page two is gone"):
        search(AOI, *WINDOW, client=client)


def test_401_gives_key_help(fake):
    bad = make_client(fake.url, key="wrong-key")
    with pytest.raises(PlanetAuthError, match=r"refused the credentials \(HTTP 401.*PL_API_KEY"):
        search(AOI, *WINDOW, client=bad)


def test_no_credentials_fails_before_any_request(fake, no_credentials):
    with pytest.raises(PlanetAuthError, match="no Planet credentials found; set the PL_API_KEY"):
        search(AOI, *WINDOW)
    with pytest.raises(PlanetAuthError, match="PL_API_KEY"):
        connect(base_url=fake.url)
    with pytest.raises(PlanetAuthError, match="empty string"):
        connect("  ")
    assert fake.requests == []


def test_env_key_is_used(fake, no_credentials, monkeypatch, caplog):
    monkeypatch.setenv("PL_API_KEY", VALID_KEY)
    caplog.set_level(logging.DEBUG)
    pl = connect(base_url=fake.url)
    scenes = search(AOI, *WINDOW, client=pl)
    assert len(scenes) == 4
    assert VALID_KEY not in caplog.text  # the SDK logs headers at DEBUG, masked


def test_explicit_api_key_and_auth(fake, no_credentials, caplog):
    caplog.set_level(logging.DEBUG)
    assert len(search(AOI, *WINDOW, client=connect(VALID_KEY, base_url=fake.url))) == 4
    auth = planet.Auth.from_key(VALID_KEY)
    assert len(search(AOI, *WINDOW, client=connect(auth, base_url=fake.url + "/"))) == 4
    assert VALID_KEY not in caplog.text


def test_works_inside_a_running_event_loop(fake, client):
    async def notebook_cell():
        asyncio.get_running_loop()  # we really are inside a loop, as in Jupyter
        return search(AOI, *WINDOW, client=client)

    scenes = asyncio.run(notebook_cell())
    assert list(scenes["id"]) == [i["id"] for i in expected(fake)]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"aoi": shapely.Point(46.9, 8.4)}, GeometryError, "must be a Polygon or MultiPolygon, got Point"),
        ({"aoi": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}, GeometryError, "got LineString"),
        ({"aoi": shapely.Polygon()}, GeometryError, "is empty"),
        ({"aoi": shapely.box(500000, 900000, 510000, 910000)}, GeometryError, "not lon/lat degrees"),
        ({"aoi": shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])}, GeometryError, "not a valid polygon"),
        ({"aoi": {"type": "Polygon"}}, GeometryError, "not valid GeoJSON"),
        ({"aoi": gpd.GeoDataFrame(geometry=[AOI])}, GeometryError, "has no CRS"),
        ({"aoi": "/nonexistent/aoi.geojson"}, GeometryError, "does not exist"),
        ({"aoi": 42}, GeometryError, "must be a GeoJSON dict"),
        ({"start": "2022-02-01", "end": "2022-01-01"}, InvalidInputError, "is after end"),
        ({"start": "01/02/2022"}, InvalidInputError, "is not an ISO date"),
        ({"end": 20220131}, InvalidInputError, "end must be a date"),
        ({"max_cloud": 1.5}, InvalidInputError, "max_cloud must be a fraction between 0 and 1"),
        ({"max_cloud": -0.1}, InvalidInputError, "max_cloud must be a fraction"),
        ({"max_cloud": "low"}, InvalidInputError, "max_cloud must be a fraction"),
        ({"min_aoi_coverage": 2}, InvalidInputError, "min_aoi_coverage must be a fraction"),
        ({"item_types": ["NotAnItem"]}, ProductError, "item_type - 'NotAnItem' is not one of"),
        ({"item_types": []}, InvalidInputError, "item_types must be a non-empty list"),
        ({"instruments": [3]}, InvalidInputError, "instruments must be a non-empty list of strings"),
        ({"limit": 0}, InvalidInputError, "limit must be a positive int"),
        ({"limit": True}, InvalidInputError, "limit must be a positive int"),
    ],
)
def test_bad_input_is_caught_before_any_request(fake, client, kwargs, error, match):
    args = {"aoi": AOI, "start": WINDOW[0], "end": WINDOW[1], **kwargs}
    with pytest.raises(error, match=match):
        search(args.pop("aoi"), args.pop("start"), args.pop("end"), client=client, **args)
    assert fake.requests == []


def test_client_argument_checks(fake, client):
    with pytest.raises(InvalidInputError, match="either client= or api_key="):
        search(AOI, *WINDOW, client=client, api_key=VALID_KEY)
    with pytest.raises(InvalidInputError, match="client must be a planet.Planet"):
        search(AOI, *WINDOW, client="http://example.com")
    with pytest.raises(InvalidInputError, match="base_url must be an http"):
        connect(VALID_KEY, base_url="ftp://x")
    with pytest.raises(InvalidInputError, match="api_key must be a str or a planet.Auth"):
        connect(1234)


def test_item_type_case_is_fixed_by_the_spec(fake, client):
    search(AOI, *WINDOW, item_types=["psscene"], client=client)
    assert fake.bodies[-1]["item_types"] == ["PSScene"]


def test_geojson_roundtrip_of_results(fake, client, tmp_path):
    scenes = search(AOI, *WINDOW, client=client)
    path = tmp_path / "scenes.geojson"
    scenes.to_file(path, driver="GeoJSON")
    back = json.loads(path.read_text())
    assert [f["properties"]["id"] for f in back["features"]] == list(scenes["id"])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dx=st.floats(-0.3, 0.3), dy=st.floats(-0.2, 0.2), w=st.floats(0.01, 0.3), h=st.floats(0.01, 0.3))
def test_coverage_matches_an_equal_area_reference(fake, client, dx, dy, w, h):
    footprint = shapely.box(46.93 + dx, 8.39 + dy, 46.93 + dx + w, 8.39 + dy + h)
    item = make_item("20220110_000000_00_1061", "2022-01-10T00:00:00Z")
    item["geometry"] = json.loads(json.dumps(mapping(footprint)))
    fake.items = [item]
    scenes = search(AOI, *WINDOW, client=client)
    want = reference_coverage(item["geometry"])
    if not footprint.intersects(AOI):
        assert len(scenes) == 0
        return
    assert len(scenes) == 1
    got = scenes["aoi_coverage"].iloc[0]
    assert 0.0 <= got <= 1.0
    assert got == pytest.approx(want, rel=1e-4, abs=1e-9)
    if footprint.contains(AOI):
        assert got == pytest.approx(1.0, abs=1e-9)


def test_api_key_argument_builds_and_closes_its_own_client(fake, monkeypatch):
    # point the SDK's default host at the fake (the SDK has no env override for it)
    monkeypatch.setattr(planet.sync.client, "PLANET_BASE_URL", fake.url)
    before = threading.active_count()
    for _ in range(3):
        assert len(search(AOI, *WINDOW, api_key=VALID_KEY)) == 4
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() <= before  # each call's background loop thread has stopped


def test_sdk_client_errors_become_ours(fake, client):
    fake.page_cycle = True
    with pytest.raises(PlanetAPIError, match="searching Planet scenes: Page cycle detected"):
        search(AOI, *WINDOW, client=client)


def test_unreachable_server(fake):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = make_client(f"http://127.0.0.1:{port}")
    with pytest.raises(PlanetAPIError, match=r"could not talk to the Planet API \(ConnectError"):
        search(AOI, *WINDOW, client=dead)


def test_bundle_spec_unreachable(client, monkeypatch):
    monkeypatch.setattr(planet.specs.PRODUCT_BUNDLES, "cache", None)

    def offline(*args, **kwargs):
        raise httpx.ConnectError("offline")

    monkeypatch.setattr(planet.specs.httpx, "get", offline)
    with pytest.raises(PlanetAPIError, match="could not fetch Planet's product-bundle spec"):
        search(AOI, *WINDOW, client=client)
