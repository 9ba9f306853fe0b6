"""Store layout, publish, pointer, rollback, retention and the reader API (mgqe.proto.store)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mgqe.proto import store as st


def _payload(tmp_path: Path, tag: str, size: int = 4096) -> Path:
    """A file whose content identifies `tag` (so tests can tell versions apart by bytes)."""
    p = tmp_path / f"src-{tag}.bin"
    body = hashlib.sha256(tag.encode()).digest() * (size // 32)
    p.write_bytes(body)
    return p


def _pub(store: Path, tmp_path: Path, tag: str, model: str = "m", **kw: object) -> str:
    return st.publish(store, model, _payload(tmp_path, tag), validate=None, **kw)  # type: ignore[arg-type]


def test_publish_layout_and_reader_api(tmp_path: Path) -> None:
    store = tmp_path / "store"
    src = _payload(tmp_path, "a")
    v = st.publish(store, "m", src, validate=None)
    assert v == "v1"
    art = store / "m" / "v1" / "model.mgqe"
    assert art.read_bytes() == src.read_bytes()
    assert (store / "m" / "CURRENT").read_text() == "v1\n"
    info = json.loads((store / "m" / "v1" / "info.json").read_text())
    assert info["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert info["bytes"] == src.stat().st_size
    assert st.list_models(store) == ["m"]
    assert st.current_version(store, "m") == "v1"
    assert st.resolve_current(store, "m") == art
    assert st.check_store(store) == []
    # no writer state left behind except the lock file
    assert sorted(p.name for p in (store / "m").iterdir()) == [".lock", "CURRENT", "v1"]


def test_versions_increase_and_current_follows(tmp_path: Path) -> None:
    store = tmp_path / "s"
    assert [_pub(store, tmp_path, t) for t in "abc"] == ["v1", "v2", "v3"]
    assert st.current_version(store, "m") == "v3"
    assert st.resolve_current(store, "m").read_bytes() == _payload(tmp_path, "c").read_bytes()
    infos = st.list_versions(store, "m")
    assert [i.version for i in infos] == ["v1", "v2", "v3"]
    assert [i.current for i in infos] == [False, False, True]
    assert all(i.sha256 is not None and i.published_at is not None for i in infos)


def test_version_numbers_sort_numerically(tmp_path: Path) -> None:
    store = tmp_path / "s"
    for i in range(11):
        _pub(store, tmp_path, str(i), keep=20)
    assert [i.version for i in st.list_versions(store, "m")][-3:] == ["v9", "v10", "v11"]
    assert st.current_version(store, "m") == "v11"


def test_make_current_false_keeps_pointer(tmp_path: Path) -> None:
    store = tmp_path / "s"
    _pub(store, tmp_path, "a")
    assert _pub(store, tmp_path, "b", make_current=False) == "v2"
    assert st.current_version(store, "m") == "v1"


def test_retention_keeps_newest_n(tmp_path: Path) -> None:
    store = tmp_path / "s"
    for t in "abcde":
        _pub(store, tmp_path, t, keep=2)
    assert [i.version for i in st.list_versions(store, "m")] == ["v4", "v5"]
    assert not any(p.name.startswith(".trash") for p in (store / "m").iterdir())


def test_retention_never_deletes_current(tmp_path: Path) -> None:
    store = tmp_path / "s"
    for t in "abc":
        _pub(store, tmp_path, t, keep=5)
    st.rollback(store, "m", "v1")
    for t in "def":
        _pub(store, tmp_path, t, keep=2, make_current=False)
    # v1 is current and older than the newest two, yet it stays
    assert [i.version for i in st.list_versions(store, "m")] == ["v1", "v5", "v6"]
    assert st.current_version(store, "m") == "v1"
    assert st.prune(store, "m", keep=1) == ["v5"]
    assert [i.version for i in st.list_versions(store, "m")] == ["v1", "v6"]


def test_rollback_default_goes_to_previous(tmp_path: Path) -> None:
    store = tmp_path / "s"
    for t in "abc":
        _pub(store, tmp_path, t)
    assert st.rollback(store, "m") == ("v3", "v2")
    assert st.rollback(store, "m") == ("v2", "v1")
    assert st.resolve_current(store, "m").read_bytes() == _payload(tmp_path, "a").read_bytes()
    with pytest.raises(st.NothingToRollBackError, match="no kept version older than the current v1"):
        st.rollback(store, "m")
    # explicit version rolls forward too
    assert st.rollback(store, "m", "v3") == ("v1", "v3")
    # a publish after a rollback takes max + 1, never reuses a number
    st.rollback(store, "m", "v1")
    assert _pub(store, tmp_path, "d") == "v4"


def test_rollback_to_missing_version(tmp_path: Path) -> None:
    store = tmp_path / "s"
    _pub(store, tmp_path, "a")
    with pytest.raises(st.VersionNotFoundError, match="no version v7"):
        st.rollback(store, "m", "v7")
    assert st.current_version(store, "m") == "v1"


def test_rollback_repairs_corrupt_pointer(tmp_path: Path) -> None:
    store = tmp_path / "s"
    _pub(store, tmp_path, "a")
    (store / "m" / "CURRENT").write_text("garbage")
    assert st.rollback(store, "m", "v1") == (None, "v1")
    assert st.current_version(store, "m") == "v1"


def test_rollback_without_current(tmp_path: Path) -> None:
    store = tmp_path / "s"
    _pub(store, tmp_path, "a", make_current=False)
    with pytest.raises(st.NoCurrentVersionError, match="name the version"):
        st.rollback(store, "m")


def test_model_not_found(tmp_path: Path) -> None:
    store = tmp_path / "s"
    with pytest.raises(st.ModelNotFoundError, match="no model 'x'"):
        st.resolve_current(store, "x")
    with pytest.raises(st.ModelNotFoundError):
        st.rollback(store, "x")
    with pytest.raises(st.ModelNotFoundError):
        st.list_versions(store, "x")
    with pytest.raises(st.ModelNotFoundError):
        st.prune(store, "x")
    with pytest.raises(st.ModelNotFoundError):
        st.set_current(store, "x", "v1")


def test_empty_and_missing_store(tmp_path: Path) -> None:
    assert st.list_models(tmp_path / "nope") == []
    assert st.current_version(tmp_path / "nope", "m") is None
    assert st.check_store(tmp_path / "nope") == []


def test_no_current_version(tmp_path: Path) -> None:
    store = tmp_path / "s"
    _pub(store, tmp_path, "a", make_current=False)
    assert st.list_models(store) == []  # a model without CURRENT is not servable yet
    assert st.current_version(store, "m") is None
    with pytest.raises(st.NoCurrentVersionError, match="no CURRENT"):
        st.resolve_current(store, "m")


def test_corrupt_pointer(tmp_path: Path) -> None:
    store = tmp_path / "s"
    _pub(store, tmp_path, "a")
    (store / "m" / "CURRENT").write_text("../../etc/passwd\n")
    with pytest.raises(st.CorruptPointerError, match="expected one version name"):
        st.current_version(store, "m")
    with pytest.raises(st.CorruptPointerError):
        st.resolve_current(store, "m")
    assert any("expected one version name" in p for p in st.check_store(store))
    # retention refuses to delete anything while the pointer is broken
    _pub(store, tmp_path, "b", keep=1, make_current=False)
    assert [i.version for i in st.list_versions(store, "m")] == ["v1", "v2"]


def test_pointer_to_missing_version(tmp_path: Path) -> None:
    store = tmp_path / "s"
    _pub(store, tmp_path, "a")
    (store / "m" / "CURRENT").write_text("v9\n")
    with pytest.raises(st.VersionNotFoundError, match="names v9"):
        st.resolve_current(store, "m")
    assert any("names v9" in p for p in st.check_store(store))


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "..", "x" * 65, "sp ace", "CURRENT/.."])
def test_invalid_model_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(st.InvalidNameError, match="invalid model name"):
        st.publish(tmp_path, name, _payload(tmp_path, "a"), validate=None)
    with pytest.raises(st.InvalidNameError):
        st.current_version(tmp_path, name)


@pytest.mark.parametrize("name", ["1", "v0", "v01", "V1", "v1/..", "latest"])
def test_invalid_version_name(tmp_path: Path, name: str) -> None:
    store = tmp_path / "s"
    _pub(store, tmp_path, "a")
    with pytest.raises(st.InvalidNameError, match="invalid version name"):
        st.rollback(store, "m", name)


def test_publish_missing_source(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="artifact to publish not found"):
        st.publish(tmp_path / "s", "m", tmp_path / "missing.mgqe", validate=None)


def test_publish_bad_keep(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keep must be >= 1"):
        st.publish(tmp_path / "s", "m", _payload(tmp_path, "a"), keep=0, validate=None)
    with pytest.raises(ValueError, match="keep must be >= 1"):
        st.prune(tmp_path / "s", "m", keep=0)


def test_validate_rejects_before_anything_is_written(tmp_path: Path) -> None:
    store = tmp_path / "s"

    def reject(path: Path) -> None:
        raise ValueError(f"bad artifact {path.name}")

    with pytest.raises(ValueError, match="bad artifact"):
        st.publish(store, "m", _payload(tmp_path, "a"), validate=reject)
    assert not store.exists()


def test_stale_writer_state_is_ignored_then_cleaned(tmp_path: Path) -> None:
    store = tmp_path / "s"
    _pub(store, tmp_path, "a")
    mdir = store / "m"
    (mdir / ".tmp-v2-dead").mkdir()
    (mdir / ".tmp-v2-dead" / "model.mgqe").write_bytes(b"half")
    (mdir / ".CURRENT.tmp-dead").write_text("v2")
    (mdir / ".trash-v0-dead").mkdir()
    assert st.check_store(store) == []
    assert [i.version for i in st.list_versions(store, "m")] == ["v1"]
    assert _pub(store, tmp_path, "b") == "v2"
    assert sorted(p.name for p in mdir.iterdir()) == [".lock", "CURRENT", "v1", "v2"]


def test_check_store_detects_damage(tmp_path: Path) -> None:
    store = tmp_path / "s"
    _pub(store, tmp_path, "a")
    _pub(store, tmp_path, "b")
    (store / "m" / "v1" / "model.mgqe").write_bytes(b"truncated")
    art2 = store / "m" / "v2" / "model.mgqe"
    data = bytearray(art2.read_bytes())
    data[0] ^= 0xFF
    art2.write_bytes(bytes(data))
    (store / "m" / "v3").mkdir()
    (store / "m" / "junk.txt").write_text("x")
    problems = st.check_store(store)
    assert any("v1/model.mgqe: 9 bytes" in p for p in problems)
    assert any("v2/model.mgqe: sha256 differs" in p for p in problems)
    assert any("v3: incomplete version" in p for p in problems)
    assert any("junk.txt: unexpected entry" in p for p in problems)
    assert st.check_store(store, verify_hash=False) and len(st.check_store(store, verify_hash=False)) == 3


def test_several_models(tmp_path: Path) -> None:
    store = tmp_path / "s"
    _pub(store, tmp_path, "a", model="gmf")
    _pub(store, tmp_path, "b", model="sasrec")
    _pub(store, tmp_path, "c", model="sasrec")
    assert st.list_models(store) == ["gmf", "sasrec"]
    assert st.current_version(store, "gmf") == "v1"
    assert st.current_version(store, "sasrec") == "v2"


def test_version_number() -> None:
    assert st.version_number("v12") == 12
    with pytest.raises(st.InvalidNameError):
        st.version_number("12")
