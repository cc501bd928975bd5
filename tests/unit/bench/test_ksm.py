"""bench/ksm.py turns KSM on for a measurement and puts the machine back as it was."""

from bench import ksm


def fake_ksm(tmp_path, monkeypatch, run, pages="100", full_scans="7"):
    for name, value in (("run", run), ("pages_to_scan", pages), ("full_scans", full_scans)):
        (tmp_path / name).write_text(value + "\n")
    writes = []
    real_write = ksm._write

    def recording_write(name, value):
        writes.append((name, str(value)))
        real_write(name, value)

    monkeypatch.setattr(ksm, "KSM", str(tmp_path))
    monkeypatch.setattr(ksm, "_write", recording_write)
    return writes


def test_ksm_that_was_off_is_unmerged_and_off_again(tmp_path, monkeypatch):
    writes = fake_ksm(tmp_path, monkeypatch, run="0")
    with ksm.Running():
        assert (tmp_path / "run").read_text() == "1"
    assert writes[-2:] == [("run", "2"), ("run", "0")]
    assert (tmp_path / "pages_to_scan").read_text() == "100"


def test_ksm_that_was_on_stays_on_with_its_scan_rate(tmp_path, monkeypatch):
    writes = fake_ksm(tmp_path, monkeypatch, run="1", pages="250")
    with ksm.Running() as running:
        running.converge(lambda: 1.0, timeout=0)
    assert ("run", "2") not in writes
    assert (tmp_path / "run").read_text() == "1"
    assert (tmp_path / "pages_to_scan").read_text() == "250"
    assert ("pages_to_scan", str(ksm.CONVERGE_PAGES_TO_SCAN)) in writes
