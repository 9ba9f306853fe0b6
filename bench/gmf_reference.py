"""An independent, compact GMF trainer (the method notes' calibration setup) to find why ours scores lower.

Two subcommands, both writing one JSON record per run (appended to --json-out) with per-epoch valid/test
HR@10 / NDCG@10 and the test metrics at the best-validation epoch:

    reference   a ~100-line GMF that reads the SASRec 5-core file itself (no project code): N(0, init_std)
                embeddings, Linear(d, 1) output, Adam, BCE with n_neg uniform negatives re-drawn each epoch,
                full ranking with training items masked (and the validation item at test time).
    trainer     the project's `mgqe.trainer.train_model` (any method, e.g. mgqe) with the same knobs patched
                in at run time (output-layer init, Adam eps) so a candidate fix can be measured on the
                real code without editing it.

`diag` (bench/quant_diag.py) diagnoses an MGQE/DPQ checkpoint of a GMF or NeuMF trainer run; `cached` turns
a finished experiment cell into a run record; `report` renders docs/gmf-gap.md from the records.

Example:  nice -n 10 .venv/bin/python bench/gmf_reference.py reference --seed 0 --out-init lecun \
              --json-out results/gmf_gap.json --label "ref lecun"
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the diag subcommand lives in bench/quant_diag.py
from quant_diag import ReferenceError, run_diag  # ReferenceError: the named error of this script too

OUT_INITS = ("torch", "lecun", "normal0.01", "ones")
DEFAULT_DATA = "/work/shared/data/ml-1m/sasrec/ml-1m.txt.gz"


def init_out(layer: nn.Linear, how: str) -> None:
    """Re-initialise a Linear(d, 1): torch = PyTorch default U(+-1/sqrt(d)) (what mgqe's GMF gets);
    lecun = Keras lecun_uniform U(+-sqrt(3/d)) with zero bias (the NCF paper's code); normal0.01 = N(0, 0.01)
    like the embeddings; ones = all-ones weights, zero bias (plain MF scaled by the bias)."""
    d = layer.weight.shape[1]
    with torch.no_grad():
        if how == "lecun":
            layer.weight.uniform_(-math.sqrt(3.0 / d), math.sqrt(3.0 / d))
            layer.bias.zero_()
        elif how == "normal0.01":
            layer.weight.normal_(0.0, 0.01)
            layer.bias.zero_()
        elif how == "ones":
            layer.weight.fill_(1.0)
            layer.bias.zero_()
        elif how != "torch":
            raise ReferenceError(f"--out-init {how!r}: expected one of {OUT_INITS}")


def load_split(path: Path) -> dict[str, Any]:
    """SASRec `user item` lines (chronological per user) -> leave-last-out split, 0-based raw ids."""
    if not path.is_file():
        raise ReferenceError(f"--data {path}: file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = np.array(f.read().split(), dtype=np.int64)
    if raw.size == 0 or raw.size % 2:
        raise ReferenceError(f"--data {path}: expected 'user item' integer pairs per line")
    ui = raw.reshape(-1, 2) - 1
    order = np.argsort(ui[:, 0], kind="stable")  # group by user, keep each user's time order
    u, i = ui[order, 0], ui[order, 1]
    n_users, n_items = int(u.max()) + 1, int(i.max()) + 1
    ends = np.r_[np.flatnonzero(np.diff(u)), u.size - 1]
    lens = np.bincount(u, minlength=n_users)
    hold = lens[u] >= 3
    is_test = np.zeros(u.size, bool)
    is_test[ends] = True
    is_valid = np.zeros(u.size, bool)
    is_valid[ends - 1] = True
    is_test &= hold
    is_valid &= hold & (np.r_[u[1:], -1] == u)
    train = ~(is_test | is_valid)
    valid, test = np.full(n_users, -1), np.full(n_users, -1)
    valid[u[is_valid]], test[u[is_test]] = i[is_valid], i[is_test]
    return {"n_users": n_users, "n_items": n_items, "tu": u[train], "ti": i[train],
            "valid": valid, "test": test}


@torch.no_grad()
def full_ranking(score: torch.Tensor, s: dict[str, Any], which: str) -> dict[str, float]:
    """score: (n_users, n_items) float32. Rank = items scoring strictly higher, training items masked."""
    score = score.clone()
    score[torch.from_numpy(s["tu"]), torch.from_numpy(s["ti"])] = -torch.inf
    users = np.flatnonzero(s[which] >= 0)
    if which == "test":
        has_v = users[s["valid"][users] >= 0]
        score[torch.from_numpy(has_v), torch.from_numpy(s["valid"][has_v])] = -torch.inf
    ut = torch.from_numpy(users)
    t = score[ut, torch.from_numpy(s[which][users])]
    rank = (score[ut] > t[:, None]).sum(1).numpy()
    hit = rank < 10
    return {"hr@10": 100.0 * hit.mean(), "ndcg@10": 100.0 * (hit / np.log2(rank + 2.0)).mean()}


def filtered_negatives(seen: np.ndarray, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniform item per entry of users (M,) int64, re-drawn while it is a training item of that user
    (the NCF code's rule). seen: (n_users, n_items) bool. Returns (M,) int64."""
    neg = rng.integers(0, seen.shape[1], users.size)
    bad = np.flatnonzero(seen[users, neg])
    while bad.size:
        neg[bad] = rng.integers(0, seen.shape[1], bad.size)
        bad = bad[seen[users[bad], neg[bad]]]
    return neg


def run_reference(a: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    s = load_split(Path(a.data))
    U = nn.Parameter(torch.randn(s["n_users"], a.d) * a.init_std)
    V = nn.Parameter(torch.randn(s["n_items"], a.d) * a.init_std)
    out = nn.Linear(a.d, 1)
    init_out(out, a.out_init)
    opt = torch.optim.Adam([U, V, *out.parameters()], lr=a.lr, eps=a.adam_eps)
    N = s["tu"].size
    seen = np.zeros((s["n_users"], s["n_items"]), bool)
    seen[s["tu"], s["ti"]] = True
    hist = []
    for ep in range(1, a.epochs + 1):
        t0 = time.time()
        un = np.tile(s["tu"], a.n_neg)
        neg = filtered_negatives(seen, un, rng) if a.neg_filter else rng.integers(0, s["n_items"], un.size)
        users = torch.from_numpy(np.r_[s["tu"], un])
        items = torch.from_numpy(np.r_[s["ti"], neg])
        y = torch.cat([torch.ones(N), torch.zeros(N * a.n_neg)])
        perm = torch.from_numpy(rng.permutation(users.numel()))
        tot = 0.0
        for b in perm.split(a.batch_size):
            logit = out(U[users[b]] * V[items[b]]).squeeze(-1)
            loss = nn.functional.binary_cross_entropy_with_logits(logit, y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * b.numel()
        with torch.no_grad():
            sc = (U * out.weight[0]) @ V.T + out.bias
        hist.append({"epoch": ep, "loss": tot / users.numel(), "seconds": time.time() - t0,
                     "valid": full_ranking(sc, s, "valid"), "test": full_ranking(sc, s, "test")})
        print(json.dumps(hist[-1]), file=sys.stderr)
    return summarise(a, hist)


def parse_set(items: list[str]) -> dict[str, Any]:
    """['K=[256,64]', ...] -> {'K': [256, 64]}; each value is JSON."""
    out: dict[str, Any] = {}
    for kv in items:
        key, sep, val = kv.partition("=")
        try:
            if not sep or not key:
                raise ValueError("missing '='")
            out[key] = json.loads(val)
        except ValueError as e:  # JSONDecodeError is a ValueError
            raise ReferenceError(f"--set {kv!r}: expected KEY=JSON ({e})") from e
    return out


def run_trainer(a: argparse.Namespace) -> dict[str, Any]:
    """The project trainer with the output init / Adam eps patched in for this process only."""
    from mgqe.trainer import train as tr
    from mgqe.trainer.config import ConfigError, from_dict
    from mgqe.trainer.models import gmf
    from mgqe.trainer.objectives import PointwiseRanking

    orig_init, orig_adam = gmf.GMF.__init__, torch.optim.Adam

    built: list[nn.Module] = []

    def patched_init(self: Any, *args: Any, **kw: Any) -> None:
        orig_init(self, *args, **kw)
        init_out(self.out, a.out_init)
        for name, p in self.named_parameters():
            if "centroids" in name and a.centroid_std is not None:  # DPQ/MGQE codebooks only
                with torch.no_grad():
                    p.normal_(0.0, a.centroid_std)
        built.append(self)

    def adam(params: Any, **kw: Any) -> torch.optim.Optimizer:
        named = list(built[-1].named_parameters())
        cent = [p for n, p in named if "centroids" in n]
        rest = [p for n, p in named if "centroids" not in n]
        groups = [{"params": rest}]
        if cent:
            groups.append({"params": cent, "lr": kw["lr"] * a.centroid_lr_mult})
        return orig_adam(groups, **{**kw, "eps": a.adam_eps})

    try:
        cfg = from_dict({"model": "gmf", "method": a.method, "seed": a.seed, "epochs": a.epochs,
                         "progress": False, "out_dir": a.out_dir, "lr": a.lr, "init_std": a.init_std,
                         **parse_set(a.set)})
    except ConfigError as e:
        raise ReferenceError(f"--method/--set: {e}") from e
    orig_epoch = PointwiseRanking.epoch

    def filtered_epoch(self: Any, rng: np.random.Generator, batch_size: int, device: torch.device) -> Any:
        """PointwiseRanking.epoch with negatives re-drawn off the user's training items."""
        sp = self.split
        if not hasattr(self, "_seen"):
            self._seen = np.zeros((sp.n_users, sp.n_items), bool)
            self._seen[sp.train_users, sp.train_items] = True
        un = np.tile(sp.train_users, self.n_neg)
        users = torch.from_numpy(np.r_[sp.train_users, un])
        items = torch.from_numpy(np.r_[sp.train_items, filtered_negatives(self._seen, un, rng)])
        y = torch.from_numpy(np.r_[np.ones(sp.n_train, np.float32), np.zeros(un.size, np.float32)])
        perm = rng.permutation(users.numel())
        for lo in range(0, perm.size, batch_size):  # the trainer's own batching
            ix = torch.from_numpy(perm[lo : lo + batch_size])
            yield users[ix].to(device), items[ix].to(device), y[ix].to(device)

    gmf.GMF.__init__ = patched_init  # type: ignore[method-assign]
    tr.torch.optim.Adam = adam  # type: ignore[assignment, misc]  # monkeypatching a class with a factory
    if a.neg_filter:
        PointwiseRanking.epoch = filtered_epoch  # type: ignore[method-assign]
    try:
        res = tr.train_model(cfg)
    finally:
        gmf.GMF.__init__, tr.torch.optim.Adam = orig_init, orig_adam  # type: ignore[method-assign, misc]
        PointwiseRanking.epoch = orig_epoch  # type: ignore[method-assign]
    hist = [{"epoch": h["epoch"], "loss": h["loss"], "valid": h.get("valid")} for h in res.history]
    return summarise(a, hist, final=res.metrics, best_epoch=res.best_epoch)


def summarise(a: argparse.Namespace, hist: list[dict[str, Any]], final: dict[str, Any] | None = None,
              best_epoch: int | None = None) -> dict[str, Any]:
    if best_epoch is None:  # first epoch with the highest validation HR@10 (the trainer's rule)
        best_epoch = max(hist, key=lambda h: (h["valid"]["hr@10"], -h["epoch"]))["epoch"]
    sel = final or {k: hist[best_epoch - 1][k] for k in ("valid", "test")}
    flags = {k: v for k, v in vars(a).items() if k not in ("json_out", "func", "label")}
    return {"label": a.label, "command": " ".join(sys.argv), "flags": flags, "best_epoch": best_epoch,
            "valid": sel["valid"], "test": sel["test"], "history": hist,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def run_cached(a: argparse.Namespace) -> dict[str, Any]:
    """A finished experiment cell (results/cache/<hash>.json, read only) as a run record, for comparison."""
    p = Path(a.cell)
    if not p.is_file():
        raise ReferenceError(f"--cell {p}: file not found")
    try:
        cell = json.loads(p.read_text())
        m, best, a.seed = cell["metrics"], cell["best_epoch"], cell["config"]["seed"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ReferenceError(f"--cell {p}: not an experiment cell with config and metrics ({e})") from e
    hist = [{"epoch": h["epoch"], "loss": h["loss"], "valid": h.get("valid")}
            for h in cell.get("history", [])]
    return summarise(a, hist, final=m, best_epoch=best)


def _stats(runs: list[dict[str, Any]], label: str, key: str = "test") -> str:
    v = np.array([r[key]["hr@10"] for r in runs if r["label"] == label])
    if v.size == 0:
        raise ReferenceError(f"notes mention label {label!r} which no run in the JSON has")
    return f"{v.mean():.2f}" + (f" ± {v.std(ddof=1):.2f}" if v.size > 1 else "") + f" (n={v.size})"


def report(runs_path: Path, notes_path: Path | None, data: str = DEFAULT_DATA) -> str:
    """Markdown: the notes (with {{mean:LABEL}} / {{valid:LABEL}} filled from the runs) + one row per run."""
    if not runs_path.is_file():
        raise ReferenceError(f"--runs {runs_path}: file not found")
    runs = json.loads(runs_path.read_text())
    if not isinstance(runs, list):
        raise ReferenceError(f"--runs {runs_path}: not a JSON list of run records")
    text = notes_path.read_text() if notes_path else ""
    diags = [r for r in runs if r.get("kind") == "diag"]
    runs = [r for r in runs if r.get("kind") != "diag"]

    def diff(m: re.Match[str]) -> str:
        labels = m.group(1).split("|")
        means = [[r["test"]["hr@10"] for r in runs if r["label"] == lb] for lb in labels]
        if len(labels) != 2 or not all(means):
            raise ReferenceError(f"notes compare {m.group(1)!r}: need two labels 'A|B' that both have runs")
        return f"{np.mean(means[0]) - np.mean(means[1]):+.2f}"

    def diag_value(m: re.Match[str]) -> str:
        """{{diag:LABEL|key|...}}: the number at that key path of the one diag record labelled LABEL
        (list entries by index), formatted as in the checkpoint table."""
        label, *path = m.group(1).split("|")
        recs = [r for r in diags if r["label"] == label]
        if len(recs) != 1 or not path:
            raise ReferenceError(f"notes cite diag {m.group(1)!r}: need 'LABEL|key|...' naming exactly one "
                                 f"diag record ({len(recs)} have that label)")
        v: Any = recs[0]
        try:
            for k in path:
                v = v[int(k)] if isinstance(v, list) else v[k]
            x = float(v)
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ReferenceError(f"notes cite diag {m.group(1)!r}: no number at that key path ({e})") from e
        fmt = {"rel_quant_error": ".3f"}.get(path[0], ".1f" if path[-1] == "tail_centroids_in_tail_5_95"
                                             else ".2f")
        return format(x, fmt)

    text = re.sub(r"\{\{diff:([^}]+)\}\}", diff, text)
    text = re.sub(r"\{\{diag:([^}]+)\}\}", diag_value, text)
    if "{{false_neg_share}}" in text:  # expected share of unfiltered uniform negatives that are positives
        sp = load_split(Path(data))
        n_u = np.bincount(sp["tu"], minlength=sp["n_users"]).astype(np.float64)
        share = 100 * (n_u**2).sum() / (sp["n_items"] * n_u.sum())
        text = text.replace("{{false_neg_share}}", f"{share:.1f}%")
    def stat(m: re.Match[str], which: str) -> str:
        return _stats(runs, m.group(1), which)

    for kind in ("mean", "valid"):
        text = re.sub(r"\{\{" + kind + r":([^}]+)\}\}",
                      partial(stat, which="test" if kind == "mean" else "valid"), text)
    rows = ["| variant | seed | best epoch | valid HR@10 | test HR@10 | test NDCG@10 | test HR@10 at "
            "epochs 16-20 (reference only) | command |", "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        n = len(r["history"])
        late = [h["test"]["hr@10"] for h in r["history"] if h.get("test") and h["epoch"] > n - 5]
        late_s = " / ".join(f"{x:.2f}" for x in late) if late else "—"
        rows.append(f"| {r['label']} | {r['flags']['seed']} | {r['best_epoch']} | "
                    f"{r['valid']['hr@10']:.2f} | {r['test']['hr@10']:.2f} | {r['test']['ndcg@10']:.2f} | "
                    f"{late_s} | `{r['command']}` |")
    labels = list(dict.fromkeys(r["label"] for r in runs))
    summary = ["| variant | valid HR@10 | test HR@10 |", "|---|---|---|"]
    summary += [f"| {lb} | {_stats(runs, lb, 'valid')} | {_stats(runs, lb)} |" for lb in labels]
    diag = ["| checkpoint | rel. quant. error users (head / tail) | items (head / tail) | median abs value: "
            "tail rows / tail-usable centroids / other centroids (users; items) | tail-usable centroids "
            "inside the 5-95% range of tail rows, mean per dim (users / items) | valid / test HR@10 "
            "decoded | full weights | full users, decoded items | command |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in diags:
        e, h, sp = r["rel_quant_error"], r["hr@10"], r.get("tail_spread", {})
        cells = [" / ".join(f"{x:.3f}" for x in e[s]) for s in ("user", "item")]
        keys = ("tail_x_abs_median", "tail_centroids_abs_median", "other_centroids_abs_median")
        cells.append("; ".join(" / ".join(f"{sp[s][k]:.2f}" for k in keys) for s in ("user", "item"))
                     if sp else "—")
        cells.append(" / ".join(f"{sp[s]['tail_centroids_in_tail_5_95']:.1f}" for s in ("user", "item"))
                     if sp else "—")
        cells += [f"{h[k]['valid']:.2f} / {h[k]['test']:.2f}" for k in
                  ("decoded", "full weights", "full users, decoded items")]
        diag.append(f"| {r['label']} | " + " | ".join(cells) + f" | `{r['command']}` |")
    return (text.rstrip() + "\n\n## Per variant (mean ± std over seeds)\n\n" + "\n".join(summary)
            + "\n\n## Every run\n\n" + "\n".join(rows)
            + ("\n\n## MGQE checkpoints: where accuracy is lost\n\n" + "\n".join(diag) if diags else "")
            + "\n")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, fn, hlp in (("reference", run_reference, "independent compact GMF (no project code)"),
                          ("trainer", run_trainer, "mgqe.trainer.train_model with the knobs patched in")):
        q = sub.add_parser(name, help=hlp)
        q.set_defaults(func=fn)
        q.add_argument("--seed", type=int, default=0, help="torch and numpy seed (default 0)")
        q.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
        q.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
        q.add_argument("--adam-eps", type=float, default=1e-8, help="Adam epsilon (default 1e-8, torch's)")
        q.add_argument("--init-std", type=float, default=0.01, help="embedding N(0, std) init (default 0.01)")
        q.add_argument("--out-init", choices=OUT_INITS, default="torch",
                       help="output Linear(d, 1) init: torch (default), lecun, normal0.01, ones")
        q.add_argument("--label", default="", help="free-text name of this variant in the JSON record")
        q.add_argument("--json-out", default=None, help="append the run record to this JSON list file")
        q.add_argument("--neg-filter", action="store_true",
                       help="re-draw a negative that is a training item of the user (NCF code); default off")
    r = sub.choices["reference"]
    r.add_argument("--data", default=DEFAULT_DATA, help="SASRec 5-core file (`user item` lines, .gz ok)")
    r.add_argument("--d", type=int, default=64, help="embedding width (default 64)")
    r.add_argument("--batch-size", type=int, default=8192, help="pairs per Adam step (default 8192)")
    r.add_argument("--n-neg", type=int, default=4, help="uniform negatives per positive (default 4)")
    r.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    t = sub.choices["trainer"]
    t.add_argument("--method", default="fe", help="embedding method of mgqe's GMF (fe, sq, dpq, mgqe, ...)")
    t.add_argument("--out-dir", default="/tmp/gmf_gap_run", help="trainer run folder (checkpoints)")
    t.add_argument("--centroid-std", type=float, default=None,
                   help="re-initialise DPQ/MGQE centroids N(0, std) (default: keep the trainer's init_std)")
    t.add_argument("--centroid-lr-mult", type=float, default=1.0,
                   help="Adam learning rate of the centroids = lr x this (default 1)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="any other TrainConfig field, e.g. --set 'K=[256,64]'")
    c = sub.add_parser("cached", help="append a finished results/cache cell (read only) as a run record")
    c.set_defaults(func=run_cached)
    c.add_argument("--cell", required=True, help="results/cache/<hash>.json of a gmf cell")
    c.add_argument("--label", default="", help="free-text name of this variant in the JSON record")
    c.add_argument("--json-out", default=None, help="append the run record to this JSON list file")
    g = sub.add_parser("diag", help="quantization error and HR@10 of decoded vs full weights of a checkpoint")
    g.set_defaults(func=run_diag)
    g.add_argument("--checkpoint", required=True,
                   help="best.pt of an MGQE/DPQ GMF or NeuMF trainer run (NeuMF: its config.json next to it)")
    g.add_argument("--data", default=DEFAULT_DATA, help="SASRec file; its data root is <file>/../../..")
    g.add_argument("--label", default="", help="free-text name of this diagnosis in the JSON record")
    g.add_argument("--json-out", default=None, help="append the record to this JSON list file")
    m = sub.add_parser("report", help="Markdown from a JSON list of runs (+ notes with placeholders)")
    m.add_argument("--runs", required=True, help="JSON list written by --json-out")
    m.add_argument("--notes", default=None,
                   help="Markdown put first; {{mean:LABEL}} / {{valid:LABEL}}: test / valid HR@10 mean±std; "
                   "{{diff:A|B}}: mean test HR@10 of A minus B; {{diag:LABEL|key|...}}: a number of a diag "
                   "record, e.g. {{diag:L|hr@10|decoded|test}}, {{diag:L|rel_quant_error|user|1}}")
    m.add_argument("--md-out", required=True, help="Markdown file to write")
    m.add_argument("--data", default=DEFAULT_DATA, help="SASRec file for the {{false_neg_share}} placeholder")
    return p


def check(a: argparse.Namespace) -> None:
    numbers = () if a.cmd in ("cached", "diag") else ("epochs",)
    for name in numbers + (("d", "batch_size", "n_neg", "threads") if a.cmd == "reference" else ()):
        if getattr(a, name) < 1:
            raise ReferenceError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(a, name)}")
    positive = () if a.cmd in ("cached", "diag") else ("lr", "adam_eps", "init_std")
    for name in positive + (("centroid_lr_mult",) if a.cmd == "trainer" else ()):
        if not getattr(a, name) > 0:
            raise ReferenceError(f"--{name.replace('_', '-')} must be > 0, got {getattr(a, name)}")
    if a.cmd == "trainer" and a.centroid_std is not None and not a.centroid_std > 0:
        raise ReferenceError(f"--centroid-std must be > 0, got {a.centroid_std}")
    if a.json_out and Path(a.json_out).is_file():
        try:
            if not isinstance(json.loads(Path(a.json_out).read_text()), list):
                raise ReferenceError(f"--json-out {a.json_out}: existing file is not a JSON list")
        except json.JSONDecodeError as e:
            raise ReferenceError(f"--json-out {a.json_out}: existing file is not valid JSON ({e})") from e


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    if a.cmd == "report":
        try:
            md = report(Path(a.runs), Path(a.notes) if a.notes else None, a.data)
        except ReferenceError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        Path(a.md_out).write_text(md)
        return 0
    try:
        check(a)
        rec = a.func(a)
    except ReferenceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    keys: tuple[str, ...] = ("label", "best_epoch", "valid", "test")
    if a.cmd == "diag":
        keys = ("label", "rel_quant_error", "hr@10")
    print(json.dumps({k: rec[k] for k in keys}))
    if a.json_out:
        p = Path(a.json_out)
        runs = json.loads(p.read_text()) if p.is_file() else []
        p.write_text(json.dumps([*runs, rec], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
