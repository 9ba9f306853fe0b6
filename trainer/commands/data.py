"""`mgqe-train data`: dataset statistics and downloads."""

from __future__ import annotations

import argparse
import json

HELP = "Inspect datasets (stats) and fetch the official MovieLens archives (download)."


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="data directory holding ml-1m/, ml-100k/ (default: $MGQE_DATA_DIR)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mgqe.trainer.data.loaders import DATASETS  # light: numpy only

    sub = parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    st = sub.add_parser("stats", help="print users, items, interactions and the frequency profile",
                        description="Print users, items, interactions and the share of interactions held "
                        "by the most popular items. Synthetic data is labelled as such.")
    st.add_argument("--dataset", required=True, choices=DATASETS, help="dataset name")
    _add_data_dir(st)
    st.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    st.add_argument("--n-users", type=int, default=1000, help="synthetic only: number of users")
    st.add_argument("--n-items", type=int, default=10_000, help="synthetic only: vocabulary size")
    st.add_argument("--mean-length", type=float, default=20.0, help="synthetic only: mean history length")
    st.add_argument("--alpha", type=float, default=1.0, help="synthetic only: Zipf exponent")
    st.add_argument("--seed", type=int, default=0, help="synthetic only: random seed")
    st.set_defaults(_data_run=_run_stats)

    from mgqe.trainer.data.download import ARCHIVES  # light: stdlib only

    dl = sub.add_parser("download", help="fetch an official MovieLens archive, verify it, unpack it",
                        description="Download the official GroupLens archive, verify its sha256 and unpack "
                        "it into DATA_DIR/ml-1m or DATA_DIR/ml-100k (the GroupLens licence forbids "
                        "redistribution: keep the files out of public repositories).")
    dl.add_argument("archive", choices=sorted(ARCHIVES), help="which archive to fetch")
    _add_data_dir(dl)
    dl.add_argument("--url", default=None, help="fetch from this URL (a mirror) instead of grouplens.org")
    dl.add_argument("--sha256", default=None, help="expected sha256 of the file at --url "
                    "(default: the official archive's)")
    dl.add_argument("--force", action="store_true", help="overwrite files already in the dataset folder")
    dl.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds")
    dl.set_defaults(_data_run=_run_download)

    rel = sub.add_parser("relevance", help="summarise the Task 3 graded-relevance proxy data",
                         description="Build the two public Task 3 proxies from the explicit ratings of "
                         "MovieLens-1M users 1-2999 and print their sizes, label statistics and the test "
                         "RMSE of predicting the training mean (the floor a model must beat).")
    _add_data_dir(rel)
    rel.add_argument("--min-coraters", type=int, default=None,
                     help="item pairs need at least this many co-raters (default: the library default)")
    rel.add_argument("--seed", type=int, default=0, help="seed of the random 90/10 splits")
    rel.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    rel.set_defaults(_data_run=_run_relevance)


def _run_stats(args: argparse.Namespace) -> int:
    from mgqe.trainer.data.loaders import load_interactions
    from mgqe.trainer.data.stats import dataset_stats

    if args.dataset == "synthetic":
        log = load_interactions("synthetic", n_users=args.n_users, n_items=args.n_items,
                                mean_length=args.mean_length, alpha=args.alpha, seed=args.seed)
    else:
        log = load_interactions(args.dataset, args.data_dir)
    stats = dataset_stats(log)
    if args.json:
        print(json.dumps(stats))
    else:
        width = max(len(k) for k in stats)
        for key, val in stats.items():
            shown = f"{val:,}" if isinstance(val, int) and not isinstance(val, bool) else str(val)
            print(f"{key:<{width}}  {shown}")
    return 0


def _run_download(args: argparse.Namespace) -> int:
    import os

    from mgqe.trainer.data.download import download_dataset
    from mgqe.trainer.data.errors import DataDirError
    from mgqe.trainer.data.loaders import ENV_DATA_DIR

    # the target need not exist yet, so only the "none given" half of resolve_data_dir applies
    data_dir = args.data_dir or os.environ.get(ENV_DATA_DIR)
    if not data_dir:
        raise DataDirError(f"no data directory: pass --data-dir DIR or set ${ENV_DATA_DIR}")
    written = download_dataset(args.archive, data_dir, url=args.url, sha256=args.sha256, force=args.force,
                               timeout=args.timeout)
    print(f"verified and unpacked {len(written)} files into {written[0].parent}")
    return 0


def _run_relevance(args: argparse.Namespace) -> int:
    from mgqe.trainer.data.relevance import DEFAULT_MIN_CORATERS, load_item_relevance, load_rating_regression

    n_min = DEFAULT_MIN_CORATERS if args.min_coraters is None else args.min_coraters
    if n_min < 2:
        from mgqe.trainer.data.errors import DataError

        raise DataError(f"--min-coraters {n_min} must be >= 2")
    rat = load_rating_regression(args.data_dir, seed=args.seed)
    rel = load_item_relevance(args.data_dir, min_coraters=n_min, seed=args.seed)
    out = {
        "ratings.source": rat.source,
        "ratings.users": rat.n_users, "ratings.items": rat.n_items,
        "ratings.train": int(rat.train_ratings.size), "ratings.test": int(rat.test_ratings.size),
        "ratings.mean_baseline_test_rmse": round(rat.mean_baseline_rmse(), 4),
        "pairs.source": rel.source,
        "pairs.min_coraters": n_min, "pairs.items": rel.n_items,
        "pairs.train": int(rel.train_y.size), "pairs.test": int(rel.test_y.size),
        "pairs.label_mean": round(float(rel.train_y.mean()), 3),
        "pairs.label_std": round(float(rel.train_y.std()), 3),
        "pairs.label_min": round(float(rel.train_y.min()), 3),
        "pairs.label_max": round(float(rel.train_y.max()), 3),
        "pairs.mean_baseline_test_rmse": round(rel.mean_baseline_rmse(), 4),
    }
    if args.json:
        print(json.dumps(out))
    else:
        width = max(len(k) for k in out)
        for key, val in out.items():
            print(f"{key:<{width}}  {f'{val:,}' if isinstance(val, int) else val}")
    return 0


def run(args: argparse.Namespace) -> int:
    from mgqe.trainer.cli import CLIError
    from mgqe.trainer.data.errors import DataError

    try:
        return int(args._data_run(args))
    except DataError as e:
        raise CLIError(str(e)) from e
