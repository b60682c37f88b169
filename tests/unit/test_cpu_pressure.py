"""The llama.cpp engine computes prompts on every core only while the CPU is not contended."""

import pytest

from dialogue.lm.cpu_pressure import CpuPressure

pytestmark = pytest.mark.unit

QUIET = "some avg10=1.20 avg60=0.80 avg300=0.50 total=1234\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
BUSY = "some avg10=47.91 avg60=20.00 avg300=8.00 total=99999\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"


def test_pressure_stall_information_says_when_the_cpu_is_contended(tmp_path):
    path = tmp_path / "cpu"
    path.write_text(QUIET)
    pressure = CpuPressure(path, every=0.0)
    assert not pressure.busy()
    path.write_text(BUSY)
    assert pressure.busy()


def test_it_is_read_at_most_once_per_interval(tmp_path):
    path = tmp_path / "cpu"
    path.write_text(QUIET)
    pressure = CpuPressure(path, every=3600.0)
    assert not pressure.busy()
    path.write_text(BUSY)
    assert not pressure.busy()  # the next read is an hour away


def test_without_pressure_information_the_load_average_decides(tmp_path, monkeypatch):
    monkeypatch.setattr("os.getloadavg", lambda: (9.0, 9.0, 9.0))
    assert CpuPressure(tmp_path / "missing", every=0.0).busy()
    monkeypatch.setattr("os.getloadavg", lambda: (0.1, 0.1, 0.1))
    (tmp_path / "garbled").write_text("nothing useful\n")
    assert not CpuPressure(tmp_path / "garbled", every=0.0).busy()
