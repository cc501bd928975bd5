"""os-release, read in one place for ``GET /api/system`` (wings-api.md §3.1), the diagnostics
report (wings-behaviour.md §14.2), Pelican's disk tags (peers.md) and the system user
(wings-behaviour.md §14.1 step 5)."""

import pytest

from wingspan import host

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n'


def write(tmp_path, text):
    path = tmp_path / "os-release"
    path.write_text(text)
    return str(path)


def test_pairs_lose_their_quotes_and_comments_are_skipped(tmp_path):
    path = write(tmp_path, "# a comment=x\nID='alpine'\nVERSION_ID=3.19\n\nnot a pair\n")
    assert host.os_release(path) == {"ID": "alpine", "VERSION_ID": "3.19"}


def test_a_missing_file_has_no_pairs(tmp_path):
    assert host.os_release(str(tmp_path / "missing")) == {}


@pytest.mark.parametrize("text, expected", [
    (DEBIAN, "Debian GNU/Linux 12 (bookworm)"),
    ('NAME="Alpine Linux"\nID=alpine\n', "Alpine Linux"),
    ("ID=distroless\n", None),
])
def test_the_pretty_name_falls_back_to_the_name(tmp_path, text, expected):
    assert host.os_pretty_name(write(tmp_path, text)) == expected


@pytest.mark.parametrize("text, expected", [
    ("ID=distroless\n", True), ('ID="distroless"\n', True), (DEBIAN, False), ("", False),
])
def test_only_the_distroless_image_counts_as_a_container(tmp_path, text, expected):
    assert host.running_in_container(write(tmp_path, text)) is expected
