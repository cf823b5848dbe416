"""The planet CLI commands, run with click's CliRunner against the loopback fake Planet API."""

from __future__ import annotations

import click
import geopandas as gpd
import pytest
from click.testing import CliRunner

from cropseg.planet import search
from cropseg.planet._cli import download_command, order_command, search_command
from tests import fake_planet as fp
from tests.fake_planet import AOI, SAMPLE_ID, VALID_KEY

bundles_spec, fake, client, no_credentials = fp.bundles_spec, fp.fake, fp.client, fp.no_credentials


@click.group()
def cli() -> None:
    """A local group standing in for the main ``cropseg`` group."""


cli.add_command(search_command)
cli.add_command(order_command)
cli.add_command(download_command)


@pytest.fixture
def run(fake, no_credentials):
    runner = CliRunner()
    env = {"PL_API_KEY": VALID_KEY, "CROPSEG_PLANET_BASE_URL": fake.url, "HOME": str(no_credentials)}

    def invoke(*args):
        return runner.invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def aoi_file(tmp_path):
    path = tmp_path / "aoi.geojson"
    gpd.GeoDataFrame(geometry=[AOI], crs=4326).to_file(path, driver="GeoJSON")
    return path


def test_search_writes_geojson(run, aoi_file, tmp_path, client):
    out = tmp_path / "scenes.geojson"
    result = run("search", aoi_file, "--start", "2022-01-01", "--end", "2022-01-31", "--max-cloud", "0.1",
                 "--min-coverage", "0.5", "--out", out)
    assert result.exit_code == 0, result.output
    back = gpd.read_file(out)
    want = search(aoi_file, "2022-01-01", "2022-01-31", min_aoi_coverage=0.5, client=client)
    assert list(back["id"]) == list(want["id"]) and len(want) > 0
    assert f"{len(want)} scenes written to {out}" in result.output


def test_search_prints_a_table(run, aoi_file, client):
    result = run("search", aoi_file, "--start", "2022-01-01", "--end", "2022-01-31", "--instrument", "PSB.SD")
    assert result.exit_code == 0, result.output
    want = search(aoi_file, "2022-01-01", "2022-01-31", instruments=["PSB.SD"], client=client)
    assert all(i in result.output for i in want["id"]) and "aoi_coverage" in result.output


def test_search_error_is_a_clean_message(run, aoi_file):
    result = run("search", aoi_file, "--start", "2022-02-01", "--end", "2022-01-01")
    assert result.exit_code == 1
    assert "Error: start '2022-02-01' is after end '2022-01-01'; swap them" in result.output


def test_order_then_download(run, aoi_file, tmp_path, fake):
    out = tmp_path / "orders"
    result = run("order", SAMPLE_ID, "--aoi", aoi_file, "--bundle", "analytic_sr_udm2", "--out", out,
                 "--poll-interval", "0")
    assert result.exit_code == 0, result.output
    oid = next(iter(fake.orders))
    assert f"order {oid}: success, 5 files downloaded" in result.output
    assert (out / oid / "manifest.json").is_file()
    assert "tools" in fake.orders[oid].request
    again = run("download", oid, "--out", out, "--poll-interval", "0")
    assert again.exit_code == 0, again.output
    assert f"order {oid}: success, 0 files downloaded" in again.output


def test_order_bad_bundle(run, tmp_path, fake):
    result = run("order", SAMPLE_ID, "--bundle", "nope", "--out", tmp_path)
    assert result.exit_code == 1
    assert "bundle 'nope' is not a product bundle of item type 'PSScene'" in result.output
    assert fake.requests == []


def test_no_credentials_message(fake, no_credentials, aoi_file):
    result = CliRunner().invoke(cli, ["search", str(aoi_file), "--start", "2022-01-01", "--end", "2022-01-31",
                                      "--base-url", fake.url], env={"HOME": str(no_credentials)})
    assert result.exit_code == 1
    assert "no Planet credentials found; set the PL_API_KEY" in result.output
