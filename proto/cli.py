"""`mgqe-artifact`: look inside and check MGQE artifacts.

    mgqe-artifact inspect FILE [--json]   header summary + size breakdown next to the Table 1 figure
    mgqe-artifact verify FILE             full read with checksums; exit 1 with the named error on any damage
    mgqe-artifact schema                  print the header's JSON Schema (the source of header.schema.json)
    mgqe-artifact rollback | versions     artifact store commands (proto/store_cli.py)

Exit status: 0 ok, 1 the file is not a valid artifact (the ArtifactError's name and message on stderr),
2 usage error. Subcommands live in COMMANDS (name -> Command); adding one is a new entry there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from . import sizes, store_cli
from .artifact import KNOWN_NAMES, ArtifactHeader, read_artifact, read_header
from .config import EmbeddingConfig
from .errors import ArtifactError


class Command(NamedTuple):
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# ---- size report --------------------------------------------------------------------------------------


def size_report(header: ArtifactHeader, file_size: int) -> dict[str, Any]:
    """Where every byte of the file goes, per table next to its Table 1 size (sizes.py).

    Categories add up to file_size exactly: prefix_and_header + embedding payloads + vocabularies + dense +
    known_items + alignment_padding. known_items (the users' training items, known.*) is serving metadata,
    neither a model weight nor part of the Table 1 size.
    A table's payload (its code and float buffers) is Table 1 bits / 8 plus the padding of
    each code buffer to a whole byte (code_byte_padding_bits).
    """
    tables: dict[str, Any] = {}
    for t, cfg in header.spec.tables.items():
        bufs = [b for b in header.buffers if b.name.startswith(f"{t}.")]
        codes = []
        for b in bufs:
            if b.bits is None:
                continue
            group = _group_of(cfg, b.name)
            codes.append(
                {
                    "name": b.name,
                    "rows": b.shape[0],
                    "D": b.shape[1],
                    "bits": b.bits,
                    **({"K": group.K, "ids": [group.start, group.stop]} if group else {}),
                    "code_bits": b.count * b.bits,
                    "nbytes": b.nbytes,
                }
            )
        floats = {b.name: b.nbytes for b in bufs if b.bits is None}
        payload = sum(b.nbytes for b in bufs)
        table1 = sizes.embedding_size_bits(cfg)
        tables[t] = {
            "method": cfg.method,
            "n": cfg.n,
            "d": cfg.d,
            "config": cfg.model_dump(mode="json", exclude_none=True, exclude={"method", "n", "d"}),
            "codes": codes,
            "float_buffers": floats,
            "payload_bytes": payload,
            "table1_bits": table1,
            "code_byte_padding_bits": payload * 8 - table1,
            "payload_matches_sizes_py": payload == sizes.embedding_payload_bytes(cfg),
            "full_embedding_bits": sizes.FLOAT_BITS * cfg.n * cfg.d,
        }
    vocab = {b.name: b.nbytes for b in header.buffers if b.name.startswith("vocab.")}
    dense = [b for b in header.buffers if b.name.startswith("dense.")]
    known = [b for b in header.buffers if b.name in KNOWN_NAMES]
    dense_params = sum(b.count for b in dense)
    head = file_size - _data_size(header)
    last = header.buffers[-1] if header.buffers else None
    data_end = last.offset + last.nbytes if last else 0
    padding = data_end - sum(b.nbytes for b in header.buffers)
    model_bits = sizes.model_size_bits(header.spec.tables, dense_params)
    fe_bits = sum(v["full_embedding_bits"] for v in tables.values()) + sizes.FLOAT_BITS * dense_params
    return {
        "file_bytes": file_size,
        "prefix_and_header_bytes": head,
        "embedding_payload_bytes": sum(v["payload_bytes"] for v in tables.values()),
        "vocabulary_bytes": sum(vocab.values()),
        "dense_bytes": sum(b.nbytes for b in dense),
        "dense_params": dense_params,
        "known_items_bytes": sum(b.nbytes for b in known),
        "known_items": known[-1].count if known else None,
        "alignment_padding_bytes": padding,
        "tables": tables,
        "model_table1_bits": model_bits,
        "model_size_vs_full_embedding": model_bits / fe_bits,
    }


def _data_size(header: ArtifactHeader) -> int:
    last = header.buffers[-1] if header.buffers else None
    return last.offset + last.nbytes if last else 0


def _group_of(cfg: EmbeddingConfig, name: str):  # type: ignore[no-untyped-def]
    if ".codes.g" not in name:
        return None
    return cfg.groups[int(name.rsplit(".g", 1)[1])]


def _known_line(rep: dict[str, Any]) -> str:
    if rep["known_items"] is None:
        return "none (recommend cannot exclude users' known items)"
    pairs = rep["known_items"]
    return f"{_fmt_bytes(rep['known_items_bytes'])} ({pairs:,} user-item pairs, not model weights)"


def _fmt_bytes(x: float) -> str:
    return f"{x:,.0f} B" if x < 1024 else f"{x:,.0f} B ({x / 1024:,.1f} KiB)"


def format_report(path: str, header: ArtifactHeader, rep: dict[str, Any]) -> str:
    spec = header.spec
    prov = header.provenance
    lines = [
        f"{path}: MGQE artifact, format version {header.format_version}, {_fmt_bytes(rep['file_bytes'])}",
        f"model      {spec.model_type}, d={spec.d}, hparams {json.dumps(spec.hparams, sort_keys=True)}",
        f"metrics    {json.dumps(header.metrics, sort_keys=True)}",
        f"provenance {json.dumps(prov, sort_keys=True)[:300]}",
        "",
        "size breakdown",
        f"  prefix + header            {_fmt_bytes(rep['prefix_and_header_bytes'])}",
    ]
    for t, v in rep["tables"].items():
        # groups are shown one line per code buffer below
        cfg = {k: x for k, x in v["config"].items() if k != "groups"}
        lines.append(f"  table {t!r}: {v['method']} n={v['n']} d={v['d']} {json.dumps(cfg)}")
        for c in v["codes"]:
            kinfo = f" K={c['K']} ids [{c['ids'][0]}, {c['ids'][1]})" if "K" in c else ""
            shape = f"{c['rows']} x {c['D']} x {c['bits']} bits"
            lines.append(f"    {c['name']:<22} {shape}{kinfo}  {_fmt_bytes(c['nbytes'])}")
        for name, nb in v["float_buffers"].items():
            lines.append(f"    {name:<22} float32  {_fmt_bytes(nb)}")
        bits = v["table1_bits"]
        lines.append(
            f"    payload {_fmt_bytes(v['payload_bytes'])} = Table 1 {bits:,} bits / 8 = {bits / 8:,.3f} B "
            f"+ {v['code_byte_padding_bits']} bits code byte padding; "
            f"{v['payload_bytes'] * 8 / v['full_embedding_bits']:.1%} of full embedding"
        )
    lines += [
        f"  vocabularies (int64)       {_fmt_bytes(rep['vocabulary_bytes'])}",
        f"  dense weights              {_fmt_bytes(rep['dense_bytes'])} ({rep['dense_params']:,} float32)",
        f"  known items (CSR)          {_known_line(rep)}",
        f"  alignment padding          {_fmt_bytes(rep['alignment_padding_bytes'])}",
        f"model size (Table 1, embeddings + dense): {rep['model_table1_bits']:,} bits = "
        f"{rep['model_size_vs_full_embedding']:.1%} of the full-embedding model",
    ]
    return "\n".join(lines)


# ---- subcommands --------------------------------------------------------------------------------------


def _add_file(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", type=Path, help="path of the artifact (.mgqe)")


def _inspect_args(p: argparse.ArgumentParser) -> None:
    _add_file(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (header + size report) instead")


def _inspect(args: argparse.Namespace) -> int:
    header = read_header(args.file)  # the whole structure is validated; checksums are verify's job
    rep = size_report(header, os.path.getsize(args.file))
    if args.json:
        print(json.dumps({"header": header.model_dump(mode="json"), "sizes": rep}, indent=2))
    else:
        print(format_report(str(args.file), header, rep))
    return 0


def _verify(args: argparse.Namespace) -> int:
    art = read_artifact(args.file, verify_checksums=True)
    n = len(art.header.buffers)
    print(f"OK {args.file}: {n} buffers, {os.path.getsize(args.file):,} bytes, all SHA-256 checksums match")
    return 0


def _schema(args: argparse.Namespace) -> int:
    sys.stdout.write(header_json_schema())
    return 0


def header_json_schema() -> str:
    """The JSON Schema of the header, as stored in proto/header.schema.json."""
    schema = ArtifactHeader.model_json_schema()
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/mgqe/mgqe/proto/header.schema.json",
        **schema,
        "description": "Header of an MGQE artifact (format version 1, see proto/ARTIFACT.md). Structural "
        "schema: the reader also checks the model-spec rules of proto/config.py, buffer layout and sizes.",
    }
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


COMMANDS: dict[str, Command] = {
    "inspect": Command(
        "print the header summary and a size breakdown next to the Table 1 size", _inspect_args, _inspect
    ),
    "verify": Command(
        "read the whole file and check every checksum; exit 1 on any damage", _add_file, _verify
    ),
    "schema": Command("print the JSON Schema of the artifact header", lambda p: None, _schema),
    # artifact store commands (proto/store_cli.py)
    "rollback": Command(store_cli.ROLLBACK_HELP, store_cli.rollback_arguments, store_cli.rollback),
    "versions": Command(store_cli.VERSIONS_HELP, store_cli.versions_arguments, store_cli.versions),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mgqe-artifact",
        description="Inspect and verify MGQE model artifacts (format: proto/ARTIFACT.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args))
    except ArtifactError as e:
        print(f"mgqe-artifact {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
