"""bench/machine.py: the CPU model from /proc/cpuinfo, and a name still where it has none or is gone."""

from __future__ import annotations

import platform
from pathlib import Path

import machine


def test_model_name_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n"
                    "processor\t: 1\nmodel name\t: AMD EPYC 7B13\n")
    assert machine.cpu_name(info) == "AMD EPYC 7B13"


def test_cpuinfo_without_model_name_falls_back(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t:   \nFeatures\t: fp asimd\n")  # some ARM boards
    assert machine.cpu_name(info) == (platform.processor() or platform.machine() or "unknown CPU")


def test_missing_cpuinfo_falls_back(tmp_path: Path) -> None:
    got = machine.cpu_name(tmp_path / "absent")
    assert got == (platform.processor() or platform.machine() or "unknown CPU") and got
