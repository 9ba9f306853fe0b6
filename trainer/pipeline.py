"""Train -> evaluate -> quality gate -> export -> publish: the job that feeds the serving store.

A pipeline config is a TOML file with three tables (see configs/main.toml):

    [pipeline]  model_name (the store's model name), store, keep (versions kept), out_dir, download (bool)
    [gate]      min = {metric = lowest allowed}, max = {metric = highest allowed},
                compare = {metric = "higher" | "lower"}, max_drop (allowed worsening vs the published version)
    [train]     a TrainConfig (mgqe.trainer.config)

Metric names are "<split>.<metric>" as stored in the artifact header, e.g. "valid.hr@10", "test.ndcg@10",
"test.rmse". A gate failure raises GateFailedError (CLI exit status 1) and publishes nothing.

Data: a synthetic dataset is used only when named. A real dataset is read from [train].data_dir or
$MGQE_DATA_DIR; when it is not there and `download` is on, the official ml-1m archive is fetched
(checksum-verified) into $MGQE_DATA_DIR (or ~/.cache/mgqe/data when unset or not writable);
"ml-1m-sasrec", which GroupLens does not distribute, then falls back to "ml-1m" with a printed notice.
Otherwise DataUnavailableError says both ways to get data and names `--dataset synthetic`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import tomllib

from mgqe.proto import store as st
from mgqe.trainer.config import ConfigError, TrainConfig, from_dict

Direction = Literal["higher", "lower"]
Log = Callable[[str], None]

# dataset -> (download archive, dataset its archive provides)
_DOWNLOADABLE = {"ml-1m": ("movielens-1m", "ml-1m"), "ml-1m-sasrec": ("movielens-1m", "ml-1m"),
                 "ml-100k": ("movielens-100k", "ml-100k")}


class PipelineError(Exception):
    """A pipeline that cannot run (bad config, no data); nothing was published."""


class DataUnavailableError(PipelineError):
    """The dataset is neither under the data directory nor downloadable right now."""


class GateFailedError(PipelineError):
    """The model failed the quality gate; nothing was published. `reasons` lists every failed check."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("quality gate failed: " + "; ".join(reasons) + ". Nothing was published.")
        self.reasons = reasons


@dataclass(frozen=True)
class GateConfig:
    """Quality gate. Absolute bounds on the new model's metrics, and a comparison with the CURRENT version."""

    min: dict[str, float] = field(default_factory=dict)
    max: dict[str, float] = field(default_factory=dict)
    compare: dict[str, Direction] = field(default_factory=dict)
    max_drop: float = 0.0  # metric units (percentage points for HR/NDCG); >= 0


@dataclass(frozen=True)
class PipelineConfig:
    model_name: str
    train: TrainConfig
    gate: GateConfig = field(default_factory=GateConfig)
    store: str = "store"
    keep: int = st.DEFAULT_KEEP
    out_dir: str | None = None  # training run directory; default runs/pipeline/<model_name>
    download: bool = True


@dataclass
class PipelineResult:
    """What a pipeline run did. version is None when nothing was published (publish=False)."""

    model_name: str
    version: str | None
    artifact: Path  # the exported file in the run directory
    metrics: dict[str, float]
    gate: list[str]  # one line per check, passed ones included
    dataset: str
    previous: str | None  # the CURRENT version before this run


# ---- config ------------------------------------------------------------------------------------------


def _table(raw: Mapping[str, Any], name: str, allowed: set[str], where: str) -> dict[str, Any]:
    t = raw.get(name, {})
    if not isinstance(t, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    unknown = sorted(set(t) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} in [{name}]; known: {sorted(allowed)}")
    return t


def _metric_table(t: Mapping[str, Any], key: str, where: str) -> dict[str, float]:
    v = t.get(key, {})
    if not isinstance(v, dict):
        raise ConfigError(f"{where}: gate.{key} must be a table of metric = number")
    out = {}
    for k, x in v.items():
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
            raise ConfigError(f"{where}: gate.{key}.{k} must be a finite number, got {x!r}")
        out[str(k)] = float(x)
    return out


def parse_pipeline_config(raw: Mapping[str, Any], where: str = "config") -> PipelineConfig:
    """PipelineConfig from parsed TOML; every bad key or value raises ConfigError naming it."""
    unknown = sorted(set(raw) - {"pipeline", "gate", "train"})
    if unknown:
        raise ConfigError(f"{where}: unknown table(s) {unknown}; expected [pipeline], [gate], [train]")
    if "train" not in raw:
        raise ConfigError(f"{where}: missing [train] table")
    p = _table(raw, "pipeline", {"model_name", "store", "keep", "out_dir", "download"}, where)
    g = _table(raw, "gate", {"min", "max", "compare", "max_drop"}, where)
    if "model_name" not in p:
        raise ConfigError(f"{where}: [pipeline] needs model_name (the model's name in the store)")
    try:
        st.check_model_name(p["model_name"])
    except st.InvalidNameError as e:
        raise ConfigError(f"{where}: pipeline.model_name: {e}") from e
    keep = p.get("keep", st.DEFAULT_KEEP)
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ConfigError(f"{where}: pipeline.keep must be an integer >= 1, got {keep!r}")
    for k in ("store", "out_dir"):
        if k in p and not isinstance(p[k], str):
            raise ConfigError(f"{where}: pipeline.{k} must be a string, got {p[k]!r}")
    if not isinstance(p.get("download", True), bool):
        raise ConfigError(f"{where}: pipeline.download must be true or false")
    compare = g.get("compare", {})
    if not isinstance(compare, dict) or any(v not in ("higher", "lower") for v in compare.values()):
        raise ConfigError(f"{where}: gate.compare must map metric names to \"higher\" or \"lower\" (better)")
    max_drop = g.get("max_drop", 0.0)
    if isinstance(max_drop, bool) or not isinstance(max_drop, int | float) or not 0 <= max_drop < math.inf:
        raise ConfigError(f"{where}: gate.max_drop must be a number >= 0, got {max_drop!r}")
    gate = GateConfig(min=_metric_table(g, "min", where), max=_metric_table(g, "max", where),
                      compare=dict(compare), max_drop=float(max_drop))
    try:
        train = from_dict(raw["train"])
    except ConfigError as e:
        raise ConfigError(f"{where}: [train]: {e}") from e
    return PipelineConfig(model_name=p["model_name"], train=train, gate=gate, store=p.get("store", "store"),
                          keep=keep, out_dir=p.get("out_dir"), download=p.get("download", True))


def load_pipeline_config(path: str | Path) -> PipelineConfig:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"pipeline config not found: {p}")
    try:
        raw = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"cannot parse {p}: {e}") from e
    return parse_pipeline_config(raw, str(p))


# ---- data ----------------------------------------------------------------------------------------------


def _default_download_dir() -> Path:
    """$MGQE_DATA_DIR when it is writable (a read-only data mount, as in the trainer container, is not),
    else the user's cache directory."""
    env = os.environ.get("MGQE_DATA_DIR")
    if env and (not Path(env).exists() or os.access(env, os.W_OK)):
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mgqe" / "data"


def _unavailable(dataset: str, why: str) -> DataUnavailableError:
    return DataUnavailableError(
        f"dataset {dataset} is not available: {why}. Either point MGQE_DATA_DIR (or [train].data_dir) at a "
        "directory holding ml-1m/ (e.g. ../shared/data), or download it with "
        "`mgqe-train data download movielens-1m --data-dir DIR` (needs network; checksum-verified); "
        "or train on the built-in synthetic data with `--dataset synthetic` (never chosen automatically)"
    )


def resolve_training_data(cfg: TrainConfig, download: bool, log: Log,
                          downloader: Callable[[str, Path], object] | None = None) -> TrainConfig:
    """Return cfg with dataset/data_dir that load, downloading when allowed (see module docstring)."""
    from mgqe.trainer.data import DataError, load_interactions

    if cfg.dataset == "synthetic":
        log("data: synthetic (generated, not real interactions)")
        return cfg
    try:
        log_ = load_interactions(cfg.dataset, cfg.data_dir)
        log(f"data: {cfg.dataset} from {log_.source}")
        return cfg
    except DataError as e:
        first_error = str(e)
    if cfg.dataset not in _DOWNLOADABLE:
        raise _unavailable(cfg.dataset, first_error)
    if not download:
        raise _unavailable(cfg.dataset, f"{first_error} (downloads are off: pipeline.download = false)")
    archive, provided = _DOWNLOADABLE[cfg.dataset]
    target = Path(cfg.data_dir) if cfg.data_dir else _default_download_dir()
    try:  # a previous run may have downloaded it already
        load_interactions(provided, target)
        log(f"data: {cfg.dataset} not found ({first_error}); using {provided} already downloaded in {target}")
    except DataError:
        log(f"data: {cfg.dataset} not found ({first_error}); downloading {archive} into {target}")
        fetch: Callable[[str, Path], object]
        if downloader is None:
            from mgqe.trainer.data.download import download_dataset

            fetch = download_dataset
        else:
            fetch = downloader
        try:
            fetch(archive, target)
            load_interactions(provided, target)
        except (DataError, OSError) as e:
            raise _unavailable(cfg.dataset, f"{first_error}; downloading {archive} failed: {e}") from e
    if provided != cfg.dataset:
        log(f"NOTICE: {cfg.dataset} is not distributed by GroupLens; training on {provided} (the official "
            f"ratings) instead. Set MGQE_DATA_DIR to a directory with ml-1m/sasrec/ml-1m.txt for "
            f"{cfg.dataset}.")
    return cfg.replace(dataset=provided, data_dir=str(target))


# ---- gate ----------------------------------------------------------------------------------------------


def published_metrics(store: Path | str, model_name: str) -> tuple[str | None, dict[str, float] | None, str]:
    """(current version, its header metrics, note); metrics None without a (readable) published version."""
    try:
        version = st.current_version(store, model_name)
    except st.CorruptPointerError as e:
        return None, None, f"published version unknown ({e})"
    if version is None:
        return None, None, f"no published version of {model_name} yet: nothing to compare against"
    from mgqe.proto.artifact import read_header
    from mgqe.proto.errors import ArtifactError

    try:
        header = read_header(st.resolve_current(store, model_name))
    except (ArtifactError, st.StoreError, OSError) as e:
        return version, None, f"published {version} could not be read ({e}): comparison skipped"
    return version, dict(header.metrics), f"compared with published {version}"


def check_gate(
    gate: GateConfig,
    metrics: Mapping[str, float],
    published: Mapping[str, float] | None,
    published_version: str | None,
) -> tuple[list[str], list[str]]:
    """(report lines, failure reasons). A metric the gate names but the run did not produce is a failure."""
    report: list[str] = []
    fail: list[str] = []

    def get(name: str) -> float | None:
        if name not in metrics:
            fail.append(f"metric {name} is not produced by this run (it has {', '.join(sorted(metrics))})")
            return None
        return metrics[name]

    for name, lo in gate.min.items():
        v = get(name)
        if v is not None:
            ok = v >= lo
            report.append(f"{'ok  ' if ok else 'FAIL'} {name} = {v:.4f} (minimum {lo:g})")
            if not ok:
                fail.append(f"{name} = {v:.4f} is below the minimum {lo:g}")
    for name, hi in gate.max.items():
        v = get(name)
        if v is not None:
            ok = v <= hi
            report.append(f"{'ok  ' if ok else 'FAIL'} {name} = {v:.4f} (maximum {hi:g})")
            if not ok:
                fail.append(f"{name} = {v:.4f} is above the maximum {hi:g}")
    for name, better in gate.compare.items():
        v = get(name)
        if v is None or published is None:
            continue
        if name not in published:
            report.append(f"skip {name}: published {published_version} has no such metric")
            continue
        old = published[name]
        worse_by = (old - v) if better == "higher" else (v - old)
        ok = worse_by <= gate.max_drop
        report.append(f"{'ok  ' if ok else 'FAIL'} {name} = {v:.4f} vs published {published_version} "
                      f"{old:.4f} (may be worse by at most {gate.max_drop:g})")
        if not ok:
            fail.append(f"{name} = {v:.4f} is {worse_by:.4f} worse than the published {published_version} "
                        f"({old:.4f}), more than the allowed {gate.max_drop:g}")
    return report, fail


# ---- the pipeline --------------------------------------------------------------------------------------


def _validate_artifact(path: Path) -> None:
    from mgqe.proto.artifact import read_artifact

    read_artifact(path)  # full read with checksums: never publish a file the server would reject


def run_pipeline(cfg: PipelineConfig, *, publish: bool = True, log: Log = print,
                 downloader: Callable[[str, Path], object] | None = None) -> PipelineResult:
    """Run the whole pipeline; raise GateFailedError / PipelineError / ConfigError instead of publishing.

    Under torchrun (WORLD_SIZE > 1) training is distributed (mgqe.trainer.distributed); only rank 0 gates,
    exports and publishes; the other ranks return a result with version None right after training.
    """
    out_dir = Path(cfg.out_dir or f"runs/pipeline/{cfg.model_name}")
    out_dir.mkdir(parents=True, exist_ok=True)  # fail before training when it cannot be written
    train_cfg = cfg.train.replace(out_dir=str(out_dir))
    train_cfg = resolve_training_data(train_cfg, cfg.download, log, downloader)
    # Read the published version's metrics before training so a slow run is not wasted on a broken store.
    prev_version, prev_metrics, note = published_metrics(cfg.store, cfg.model_name)

    log(f"train: {train_cfg.model} + {train_cfg.method} on {train_cfg.dataset}, {train_cfg.epochs} epochs "
        f"-> {out_dir}")
    from mgqe.trainer import distributed  # torch: imported only once the data and store are known good

    result = distributed.train(train_cfg)
    if result is None:  # a non-zero rank of a distributed run: rank 0 does the rest
        return PipelineResult(cfg.model_name, None, out_dir / "model.mgqe", {}, [], train_cfg.dataset,
                              prev_version)
    from mgqe.trainer.export import export_artifact, flat_metrics

    metrics = flat_metrics(result.metrics)  # "valid.hr@10", ... as stored in the artifact header
    log("evaluate: " + ", ".join(f"{k} = {v:.4f}" for k, v in sorted(metrics.items())))

    log(f"gate: {note}")
    report, fail = check_gate(cfg.gate, metrics, prev_metrics, prev_version)
    for line in report:
        log(f"gate: {line}")
    if fail:
        raise GateFailedError(fail)

    artifact = out_dir / "model.mgqe"
    provenance = {**result.provenance, "pipeline": {"model_name": cfg.model_name, "gate": report,
                                                    "previous_version": prev_version}}
    export_artifact(result.model, result.data, artifact, metrics, provenance)
    log(f"export: {artifact} ({artifact.stat().st_size:,} bytes, {result.size['percent']:.1f}% of full size)")
    version = None
    if publish:
        version = st.publish(cfg.store, cfg.model_name, artifact, keep=cfg.keep, validate=_validate_artifact)
        log(f"publish: {cfg.model_name} {version} -> {Path(cfg.store) / cfg.model_name / version} (CURRENT)")
    else:
        log("publish: skipped (--no-publish)")
    return PipelineResult(cfg.model_name, version, artifact, metrics, report, train_cfg.dataset, prev_version)


def with_overrides(cfg: PipelineConfig, **kw: Any) -> PipelineConfig:
    """Apply command-line overrides: pipeline fields by name, train fields under `train`."""
    train = kw.pop("train", {})
    if train:
        try:
            cfg = replace(cfg, train=cfg.train.replace(**train))
        except ConfigError as e:
            raise ConfigError(f"command-line override: {e}") from e
    if "model_name" in kw:
        st.check_model_name(kw["model_name"])
    return replace(cfg, **kw)
