#!/usr/bin/env bash
# Build the local test image wingspan-test/game:latest (no registry needed): statically
# linked busybox from Debian's busybox-static copied into a FROM scratch image.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here"/game/* "$work"/
cp /bin/busybox "$work"/busybox
docker build -q -t wingspan-test/game:latest "$work" >/dev/null 2>"$work/build.log" || { cat "$work/build.log" >&2; exit 1; }
echo "built wingspan-test/game:latest"
