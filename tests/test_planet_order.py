"""cropseg.planet.order / download against the real planet SDK and a loopback fake Planet API."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest
import rasterio
from planet import order_request
from shapely.geometry import shape

from cropseg.errors import (
    ChecksumError,
    GeometryError,
    InvalidInputError,
    OrderFailedError,
    OutputError,
    PlanetAPIError,
    PlanetAuthError,
    ProductError,
)
from cropseg.planet import ItemFiles, OrderResult, download, order
from tests import fake_planet as fp
from tests.fake_planet import AOI, ORDER_SAMPLE, SAMPLE_ID, SECOND_ID, make_client, sample_files

bundles_spec, fake, client, no_credentials = fp.bundles_spec, fp.fake, fp.client, fp.no_credentials

UDM2 = f"PSScene/{SAMPLE_ID}_3B_udm2_clip.tif"
XML = f"PSScene/{SAMPLE_ID}_3B_AnalyticMS_metadata_clip.xml"
ANALYTIC = f"PSScene/{SAMPLE_ID}_3B_AnalyticMS_clip.tif"
ITEM_JSON = f"PSScene/{SAMPLE_ID}_metadata.json"


def run_order(client, tmp_path, ids=(SAMPLE_ID,), **kwargs) -> OrderResult:
    kwargs.setdefault("progress", False)
    kwargs.setdefault("poll_interval", 0)
    return order(list(ids), directory=tmp_path, client=client, **kwargs)


def storage_hits(fake, rel: str) -> int:
    return sum(1 for p in fake.paths("/storage/") if p.endswith("/" + rel))


def no_partials(folder) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".part")]


def test_order_downloads_verified_files_grouped_per_item(fake, client, tmp_path):
    result = run_order(client, tmp_path, aoi=AOI)
    oid = result.order_id
    assert result.state == "success"
    assert result.directory == tmp_path / oid
    assert result.manifest == tmp_path / oid / "manifest.json"
    # every delivered file is byte-identical to what the server holds, and matches the manifest
    manifest = json.loads(result.manifest.read_text())
    assert len(manifest["files"]) == 4
    for entry in manifest["files"]:
        data = (tmp_path / oid / entry["path"]).read_bytes()
        assert data == sample_files(SAMPLE_ID)[entry["path"]][0]
        assert hashlib.sha256(data).hexdigest() == entry["digests"]["sha256"]
    assert (tmp_path / oid / UDM2).read_bytes() == (ORDER_SAMPLE / UDM2.split("/")[1]).read_bytes()
    files = result.items[SAMPLE_ID]
    assert files == ItemFiles(item_id=SAMPLE_ID, analytic=tmp_path / oid / ANALYTIC,
                              metadata_xml=tmp_path / oid / XML, udm2=tmp_path / oid / UDM2,
                              item_json=tmp_path / oid / ITEM_JSON)
    with rasterio.open(files.udm2) as ds:
        assert ds.count == 8
    assert sorted(result.paths) == sorted(tmp_path / oid / e["path"] for e in manifest["files"])
    assert len(result.downloaded) == 5  # 4 files + manifest
    assert no_partials(tmp_path)
    # the request was built by planet.order_request: product + clip to the AOI
    request = fake.orders[oid].request
    assert request["products"] == [{"item_ids": [SAMPLE_ID], "item_type": "PSScene",
                                    "product_bundle": "analytic_sr_udm2"}]
    assert request["name"] == f"cropseg-{SAMPLE_ID}"
    assert shape(request["tools"][0]["clip"]["aoi"]).equals(AOI)
    # waited through queued -> running -> success
    assert len(fake.paths(f"/compute/ops/orders/v2/{oid}")) == 3


def test_two_items_and_extra_tools(fake, client, tmp_path):
    result = run_order(client, tmp_path, ids=(SAMPLE_ID, SECOND_ID), bundle="Analytic_SR_UDM2",
                       fallback_bundle="analytic_udm2", tools=[order_request.toar_tool(scale_factor=10000)],
                       name="two scenes", checksum="md5")
    assert list(result.items) == [SAMPLE_ID, SECOND_ID]
    assert result.items[SECOND_ID].analytic.name == f"{SECOND_ID}_3B_AnalyticMS_clip.tif"
    request = fake.orders[result.order_id].request
    assert request["products"][0]["product_bundle"] == "analytic_sr_udm2,analytic_udm2"
    assert request["tools"] == [{"toar": {"scale_factor": 10000}}]
    assert request["name"] == "two scenes"


def test_rerun_downloads_nothing(fake, client, tmp_path):
    first = run_order(client, tmp_path)
    before = len(fake.paths("/storage/"))
    again = download(first.order_id, tmp_path, client=client, poll_interval=0)
    assert again.downloaded == ()
    assert len(fake.paths("/storage/")) == before
    assert again.items == first.items


def test_order_that_fails(fake, client, tmp_path):
    fake.order_states = ["queued", "running", "failed"]
    with pytest.raises(OrderFailedError, match=r"ended 'failed': Order failed: item .* not available"):
        run_order(client, tmp_path)
    assert fake.paths("/storage/") == []


def test_order_that_is_cancelled(fake, client, tmp_path):
    fake.order_states = ["queued", "cancelled"]
    with pytest.raises(OrderFailedError, match="ended 'cancelled'"):
        run_order(client, tmp_path)


def test_wait_timeout(fake, client, tmp_path):
    fake.order_states = ["queued", "running"]
    with pytest.raises(OrderFailedError, match=r"still 'running' after 0.05 s; resume later"):
        run_order(client, tmp_path, timeout=0.05, poll_interval=0.01)


def test_bad_bytes_are_downloaded_again_once(fake, client, tmp_path):
    fake.corrupt[UDM2] = 1
    result = run_order(client, tmp_path)
    assert storage_hits(fake, UDM2) == 2
    data = result.items[SAMPLE_ID].udm2.read_bytes()
    assert data == sample_files(SAMPLE_ID)[UDM2][0]
    assert no_partials(tmp_path)


def test_bad_bytes_twice_raise_and_leave_no_file(fake, client, tmp_path):
    fake.corrupt[UDM2] = 2
    pattern = r"1 file\(s\) did not match.*udm2_clip.tif: sha256 \w+ does not match the manifest's \w+ after"
    with pytest.raises(ChecksumError, match=pattern + " a second download"):
        run_order(client, tmp_path)
    oid = next(iter(fake.orders))
    assert storage_hits(fake, UDM2) == 2
    assert not (tmp_path / oid / UDM2).exists()
    assert (tmp_path / oid / XML).is_file()  # the other files were still fetched and verified
    assert no_partials(tmp_path)
    # a later run fetches only what is still missing
    fake.requests.clear()
    result = download(oid, tmp_path, client=client, poll_interval=0)
    assert [p.name for p in result.downloaded] == [UDM2.split("/")[1]]


def test_interrupted_run_resumes_without_refetching_good_files(fake, client, tmp_path):
    fake.cut[XML] = 1  # the connection drops half way through this file
    with pytest.raises(PlanetAPIError, match="downloading .*metadata_clip.xml"):
        run_order(client, tmp_path)
    oid = next(iter(fake.orders))
    assert not (tmp_path / oid / XML).exists() and no_partials(tmp_path)
    done = [p for p in (tmp_path / oid).rglob("*") if p.is_file()]
    assert done  # something finished before the cut
    fake.requests.clear()
    result = download(oid, tmp_path, client=client, poll_interval=0)
    assert set(result.downloaded) == {p for p in result.paths if p not in done}
    assert XML.split("/")[1] in {p.name for p in result.downloaded}
    for rel in {p.relative_to(tmp_path / oid).as_posix() for p in done} - {"manifest.json"}:
        assert storage_hits(fake, rel) == 0
    assert storage_hits(fake, "manifest.json") == 0


def test_a_tampered_local_file_is_fetched_again(fake, client, tmp_path):
    result = run_order(client, tmp_path)
    result.items[SAMPLE_ID].metadata_xml.write_text("<not the real xml/>")
    again = download(result.order_id, tmp_path, client=client, poll_interval=0)
    assert again.downloaded == (result.items[SAMPLE_ID].metadata_xml,)
    assert again.items[SAMPLE_ID].metadata_xml.read_bytes() == sample_files(SAMPLE_ID)[XML][0]


@pytest.mark.parametrize("status", [500, 503])
def test_create_errors_keep_status_and_text(fake, client, tmp_path, status):
    fake.fail("/compute/ops/orders/v2", status, "order service unavailable", method="POST")
    pattern = rf"creating the Planet order: .*HTTP {status}.*unavailable"
    with pytest.raises(PlanetAPIError, match=pattern) as info:
        run_order(client, tmp_path)
    assert info.value.status == status


def test_poll_429_is_retried(fake, client, tmp_path):
    fake.fail("/compute/ops/orders/v2/", 429, "slow down", times=2)
    assert run_order(client, tmp_path).state == "success"


def test_400_from_the_server_keeps_its_text(fake, client, tmp_path):
    with pytest.raises(PlanetAPIError, match="no access to 20990101_000000_0000") as info:
        run_order(client, tmp_path, ids=["20990101_000000_0000"])
    assert info.value.status == 400


def test_401(fake, tmp_path):
    with pytest.raises(PlanetAuthError, match="HTTP 401.*PL_API_KEY"):
        run_order(make_client(fake.url, "nope"), tmp_path)


def test_no_credentials(fake, no_credentials, tmp_path):
    with pytest.raises(PlanetAuthError, match="no Planet credentials found"):
        order([SAMPLE_ID], directory=tmp_path)
    with pytest.raises(PlanetAuthError, match="no Planet credentials found"):
        download("37d53033-089d-40cd-8a98-161f400bbebe", tmp_path)
    assert fake.requests == []


def test_works_inside_a_running_event_loop(fake, client, tmp_path):
    async def notebook_cell():
        asyncio.get_running_loop()
        return run_order(client, tmp_path, aoi=AOI)

    result = asyncio.run(notebook_cell())
    assert result.items[SAMPLE_ID].udm2.is_file()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"item_ids": []}, InvalidInputError, "item_ids must be a non-empty list"),
        ({"item_ids": 5}, InvalidInputError, "item_ids must be a list"),
        ({"item_ids": [SAMPLE_ID, ""]}, InvalidInputError, "must all be non-empty strings"),
        ({"item_ids": [SAMPLE_ID, SAMPLE_ID]}, InvalidInputError, "more than once"),
        ({"bundle": "analytic_bogus"}, ProductError, "'analytic_bogus' is not a product bundle of item type"),
        ({"bundle": "analytic_5b"}, ProductError, "'analytic_5b' is not a product bundle of item type 'PSSc"),
        ({"bundle": 3}, InvalidInputError, "bundle must be a str"),
        ({"item_type": None}, InvalidInputError, "item_type must be a str"),
        ({"fallback_bundle": "nope"}, ProductError, "fallback_bundle 'nope' is not a product bundle"),
        ({"item_type": "PSSceneX"}, ProductError, "item_type - 'PSSceneX' is not one of"),
        ({"aoi": {"type": "Point", "coordinates": [46.9, 8.4]}}, GeometryError, "got Point"),
        ({"tools": {"toar": {}}}, InvalidInputError, "tools must be a list of planet.order_request tools"),
        ({"name": ""}, InvalidInputError, "name must be a non-empty str"),
        ({"checksum": "crc32"}, InvalidInputError, "checksum must be 'SHA256' or 'MD5'"),
        ({"directory": "/nonexistent/folder"}, OutputError, "does not exist; create it first"),
        ({"directory": 7}, InvalidInputError, "directory must be a folder path"),
        ({"timeout": 0}, InvalidInputError, "timeout must be a positive number"),
        ({"poll_interval": -1}, InvalidInputError, "poll_interval must be a number"),
    ],
)
def test_bad_order_input_is_caught_before_any_request(fake, client, tmp_path, kwargs, error, match):
    args = {"item_ids": [SAMPLE_ID], "directory": tmp_path, **kwargs}
    with pytest.raises(error, match=match):
        order(args.pop("item_ids"), client=client, progress=False, **args)
    assert fake.requests == []


def test_bad_download_input(fake, client, tmp_path):
    with pytest.raises(InvalidInputError, match="'123' is not a Planet order id"):
        download("123", tmp_path, client=client)
    with pytest.raises(OutputError, match="does not exist"):
        download("37d53033-089d-40cd-8a98-161f400bbebe", tmp_path / "missing", client=client)
    with pytest.raises(PlanetAPIError, match="HTTP 404"):
        download("37d53033-089d-40cd-8a98-161f400bbebe", tmp_path, client=client, poll_interval=0)


def test_order_without_manifest_cannot_be_verified(fake, client, tmp_path):
    fake.omit_manifest = True
    with pytest.raises(OrderFailedError, match="has no manifest.json among its results"):
        run_order(client, tmp_path)
    assert fake.paths("/storage/") == []


def test_unsafe_result_name_is_refused(fake, client, tmp_path):
    fake.extra_results = [{"delivery": "success", "location": f"{fake.url}/storage/x/y",
                           "name": "../evil.txt"}]
    with pytest.raises(OrderFailedError, match=r"unsafe result name '\.\./evil\.txt'"):
        run_order(client, tmp_path)
    assert not (tmp_path / "evil.txt").exists()


def test_result_missing_from_manifest_is_refused(fake, client, tmp_path):
    fake.extra_results = [{"delivery": "success", "location": f"{fake.url}/storage/x/y",
                           "name": "PSScene/unlisted.tif"}]
    with pytest.raises(ChecksumError, match="'PSScene/unlisted.tif' is not listed in manifest.json"):
        run_order(client, tmp_path)


def test_partial_order_keeps_what_was_delivered(fake, client, tmp_path, caplog):
    fake.order_states = ["queued", "partial"]
    fake.extra_results = [None, {"delivery": "failed", "location": f"{fake.url}/storage/x/y",
                                 "name": "PSScene/never.tif"}]
    result = run_order(client, tmp_path)
    assert result.state == "partial"
    assert "ended 'partial'" in caplog.text
    assert not (result.directory / "PSScene" / "never.tif").exists()
    assert len(result.downloaded) == 5
