"""cropseg.planet.search against the bare planet SDK search, over the loopback fake Planet API.

Both read the same N items (pages of 250, as the real API sends) from the same local server with the
same filter; the SDK alone only returns dicts, cropseg also computes each scene's AOI coverage and
builds the GeoDataFrame. The ratio is cropseg's overhead over the SDK's own HTTP + paging cost.
Also times order+download of the sample order (4 files, ~0.4 MB) with checksum verification
against the SDK's ``download_order`` + ``validate_checksum``.

Run: ``.venv/bin/python benchmarks/bench_planet.py [--items N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import planet
from planet import data_filter, order_request
from shapely.geometry import mapping

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import fake_planet as fp  # noqa: E402

from cropseg.planet import order, search  # noqa: E402


def best(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    bundles = json.loads((fp.API_DATA / "orders_product_bundle_2023-02-24.json").read_text())["bundles"]
    planet.specs.PRODUCT_BUNDLES.cache = {"bundles": bundles, "bundle_names": bundles.keys(),
                                          "item_types": {t for b in bundles.values() for t in b["assets"]}}
    planet.http.RATE_LIMIT = 0
    planet.http.MAX_ACTIVE = 0
    fake = fp.FakePlanet(page_size=250)
    fake.items = [fp.make_item(f"20220110_{i:06d}_00_1061", f"2022-01-10T{i // 3600 % 24:02d}:"
                               f"{i // 60 % 60:02d}:{i % 60:02d}Z", dx=(i % 7) * -0.02)
                  for i in range(args.items)]
    fake.add_item_files(fp.SAMPLE_ID, fp.sample_files(fp.SAMPLE_ID))
    server, _thread = fp.start(fake)
    pl = fp.make_client(fake.url)
    window = ("2022-01-01", "2022-01-31")

    def ours():
        assert len(search(fp.AOI, *window, client=pl)) == args.items

    def sdk():
        from datetime import datetime

        f = data_filter.and_filter([
            data_filter.geometry_filter(mapping(fp.AOI)),
            data_filter.date_range_filter("acquired", gte=datetime(2022, 1, 1), lt=datetime(2022, 2, 1)),
            data_filter.range_filter("cloud_cover", lte=0.1),
            data_filter.std_quality_filter(), data_filter.permission_filter()])
        found = list(pl.data.search(["PSScene"], search_filter=f, sort="acquired asc", limit=0))
        assert len(found) == args.items

    ours()  # warm up imports / pyproj
    t_ours, m_ours = best(ours, args.repeats)
    t_sdk, m_sdk = best(sdk, args.repeats)
    print(f"search {args.items} items: cropseg {t_ours:.3f} s (median {m_ours:.3f}), "
          f"planet SDK {t_sdk:.3f} s (median {m_sdk:.3f}), ratio {t_ours / t_sdk:.2f}")

    def ours_order():
        with tempfile.TemporaryDirectory() as d:
            order([fp.SAMPLE_ID], directory=d, client=pl, progress=False, poll_interval=0)

    def sdk_order():
        with tempfile.TemporaryDirectory() as d:
            req = order_request.build_request("b", [order_request.product([fp.SAMPLE_ID], "analytic_sr_udm2",
                                                                          "PSScene")])
            oid = pl.orders.create_order(req)["id"]
            pl.orders.wait(oid, delay=0)
            pl.orders.download_order(oid, directory=Path(d))
            pl.orders.validate_checksum(Path(d) / oid, "SHA256")

    t_ours, m_ours = best(ours_order, args.repeats)
    t_sdk, m_sdk = best(sdk_order, args.repeats)
    print(f"order + verified download: cropseg {t_ours:.3f} s (median {m_ours:.3f}), "
          f"planet SDK {t_sdk:.3f} s (median {m_sdk:.3f}), ratio {t_ours / t_sdk:.2f}")
    server.shutdown()


if __name__ == "__main__":
    main()
