"""Run segment_scene's tiles on a Dask cluster (here a local one with two worker processes).

    python examples/dask_cluster.py [--scheduler tcp://host:8786] [--rows 2000 --cols 2000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dask.distributed import Client, LocalCluster

import cropseg
from cropseg.datasets import make_synthetic_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", default=None, help="address of an existing scheduler")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--cols", type=int, default=2000)
    parser.add_argument("--out", default="dask-run")
    args = parser.parse_args()
    out = Path(args.out)
    paths = make_synthetic_scene(out / "scene", size=(args.rows, args.cols), seed=5)
    model = cropseg.train_model(paths.scene, paths.ground_truth, max_samples=50_000).best_estimator
    cluster = None if args.scheduler else LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None)
    with Client(args.scheduler or cluster) as client:
        fields = cropseg.segment_scene(paths.scene, model, tile_size=512, client=client)
    if cluster is not None:
        cluster.close()
    local = cropseg.segment_scene(paths.scene, model, tile_size=512)
    same = len(fields) == len(local) and all(a.equals(b) for a, b in zip(fields.geometry, local.geometry, strict=True))
    print(f"{len(fields)} fields on the cluster; identical to the local run: {same}")


if __name__ == "__main__":
    main()
