#!/usr/bin/env bash
# Build the local test images without any registry, from a static busybox:
#   wingspan-test/game:latest       yolks-like game image (game/)
#   wingspan-test/installer:latest  installer image, sh/ash and no entrypoint (installer/)
#   wingspan-test/game-refuses-root:latest  the game image, exiting at once as root
#                                   (game-refuses-root/)
# An image whose wingspan.test.hash label matches its inputs (its directory, busybox and the
# image it is built on) is kept as it is.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
busybox="${BUSYBOX:-/bin/busybox}"

if [ ! -x "$busybox" ]; then
    echo "build.sh: $busybox is missing; install the Debian package busybox-static" >&2
    exit 1
fi
linkage="$(LC_ALL=C ldd "$busybox" 2>&1 || true)"
if [[ "$linkage" != *"not a dynamic executable"* ]]; then
    echo "build.sh: $busybox is dynamically linked; install busybox-static" >&2
    exit 1
fi

build() {
    local name="$1" dir="$here/$2" base="${3:-}" work hash current
    hash="$( (cd "$dir" && sha256sum -- * && sha256sum < "$busybox" &&
              if [ -n "$base" ]; then docker image inspect -f '{{.Id}}' "$base"; fi) |
             sha256sum | cut -c1-64)"
    current="$(docker image inspect -f '{{index .Config.Labels "wingspan.test.hash"}}' \
        "$name" 2>/dev/null || true)"
    if [ "$current" = "$hash" ]; then
        echo "$name is up to date"
        return
    fi
    work="$(mktemp -d)"
    cp "$dir"/* "$work"/
    cp "$busybox" "$work"/busybox
    if ! docker build --pull=false --label "wingspan.test.hash=$hash" -t "$name" "$work" \
            >"$work/build.log" 2>&1; then
        cat "$work/build.log" >&2
        rm -rf "$work"
        exit 1
    fi
    rm -rf "$work"
    echo "built $name"
}

build wingspan-test/game:latest game
build wingspan-test/installer:latest installer
build wingspan-test/game-refuses-root:latest game-refuses-root wingspan-test/game:latest
