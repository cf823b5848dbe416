"""Search Planet for PSScene imagery over an AOI and order it clipped, with checksums verified.

Needs PL_API_KEY (or a `planet auth login` profile). With --dry-run nothing is sent: the AOI and the
request are checked and printed.

    python examples/search_and_order.py AOI.geojson 2016-08-01 2016-09-30 --out orders [--dry-run]
"""

from __future__ import annotations

import argparse

from cropseg import planet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("aoi")
    parser.add_argument("start")
    parser.add_argument("end")
    parser.add_argument("--max-cloud", type=float, default=0.1)
    parser.add_argument("--min-coverage", type=float, default=0.9)
    parser.add_argument("--bundle", default="analytic_sr_udm2")
    parser.add_argument("--out", default="orders")
    parser.add_argument("--dry-run", action="store_true", help="check and print the request, send nothing")
    args = parser.parse_args()

    aoi = planet.as_aoi(args.aoi)
    print(f"AOI: {aoi.geom_type}, bounds {tuple(round(v, 5) for v in aoi.bounds)}")
    print(f"search: PSScene {args.start} .. {args.end}, cloud <= {args.max_cloud}, AOI coverage >= "
          f"{args.min_coverage}; order bundle {args.bundle!r} clipped to the AOI into {args.out}/")
    if args.dry_run:
        print("dry run: nothing sent")
        return
    scenes = planet.search(aoi, args.start, args.end, max_cloud=args.max_cloud, min_aoi_coverage=args.min_coverage)
    print(scenes[["id", "acquired", "cloud_cover", "aoi_coverage"]].to_string(index=False))
    if scenes.empty:
        return
    best = scenes.sort_values(["cloud_cover", "aoi_coverage"], ascending=[True, False]).iloc[0]
    result = planet.order([best.id], aoi=aoi, bundle=args.bundle, directory=args.out)
    for item in result.items.values():
        print(item.item_id, item.analytic, item.metadata_xml, item.udm2)


if __name__ == "__main__":
    main()
