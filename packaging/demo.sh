#!/usr/bin/env bash
# Set up and run wingspan in panel-less mode with one demo game server, on a fresh Debian
# machine (as root). Everything lives under $DEMO (default /var/lib/wingspan-demo); the
# daemon runs in the foreground until Ctrl-C. Game servers keep running after it stops.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
DEMO="${DEMO:-/var/lib/wingspan-demo}"
PORT="${PORT:-8080}"
GAME_PORT="${GAME_PORT:-25565}"
SERVER_UUID="${SERVER_UUID:-5f6b6a4e-3c2d-4e1f-9a8b-7c6d5e4f3a2b}"

need_packages=()
command -v docker >/dev/null || need_packages+=(docker.io)
[ -x /bin/busybox ] || need_packages+=(busybox-static)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_packages+=(python3-venv)
command -v cc >/dev/null || need_packages+=(gcc)
python3 -c 'import os, sysconfig; os.stat(sysconfig.get_paths()["include"] + "/Python.h")' \
    2>/dev/null || need_packages+=(python3-dev)
if [ ${#need_packages[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}"
fi
if ! docker info >/dev/null 2>&1; then
    (dockerd >/var/log/dockerd-wingspan-demo.log 2>&1 &)
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start" >&2; exit 1; }
fi

mkdir -p "$DEMO"
[ -x "$DEMO/venv/bin/wingspan" ] || python3 -m venv "$DEMO/venv"
"$DEMO/venv/bin/pip" install -q "$REPO"
bash "$REPO/tests/images/build.sh"

TOKEN_FILE="$DEMO/token"
[ -s "$TOKEN_FILE" ] || "$DEMO/venv/bin/python" -c 'import secrets; print(secrets.token_hex(32))' > "$TOKEN_FILE"
TOKEN="$(cat "$TOKEN_FILE")"

"$DEMO/venv/bin/python" - "$DEMO" "$TOKEN" "$PORT" "$GAME_PORT" "$SERVER_UUID" <<'PY'
import json, os, sys
import yaml
demo, token, port, game_port, uuid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
panel = os.path.join(demo, "panel")
os.makedirs(os.path.join(panel, "servers"), exist_ok=True)
config = {
    "debug": False, "uuid": "demo-node", "token_id": "demo0000demo0000", "token": token,
    "api": {"host": "127.0.0.1", "port": port},
    "system": {
        "root_directory": os.path.join(demo, "lib"), "log_directory": os.path.join(demo, "log"),
        "data": os.path.join(demo, "volumes"), "archive_directory": os.path.join(demo, "archives"),
        "backup_directory": os.path.join(demo, "backups"), "tmp_directory": os.path.join(demo, "tmp"),
        "sftp": {"bind_address": "127.0.0.1"},
    },
    "remote": "local://" + panel,
    "allowed_origins": ["*"],
    "wingspan": {"run_directory": os.path.join(demo, "run")},
}
path = os.path.join(demo, "config.yml")
if not os.path.exists(path):
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    os.chmod(path, 0o600)
server = {
    "settings": {
        "uuid": uuid, "meta": {"name": "Demo server", "description": "wingspan demo"},
        "suspended": False, "invocation": "sh /game.sh",
        "environment": {"GAME_MESSAGE": "hello from wingspan"},
        "skip_egg_scripts": True,
        "build": {"memory_limit": 256, "swap": 0, "io_weight": 500, "cpu_limit": 100,
                  "threads": None, "disk_space": 1024, "oom_disabled": False},
        "container": {"image": "~wingspan-test/game:latest"},
        "allocations": {"force_outgoing_ip": False,
                        "default": {"ip": "127.0.0.1", "port": game_port},
                        "mappings": {"127.0.0.1": [game_port]}},
        "mounts": [], "egg": {"id": "demo-egg", "file_denylist": []},
    },
    "process_configuration": {
        "startup": {"done": ["Server started"], "user_interaction": [], "strip_ansi": False},
        "stop": {"type": "command", "value": "stop"},
        "configs": [],
    },
    "install": {"container_image": "~wingspan-test/installer:latest", "entrypoint": "sh",
                "script": "echo installed > /mnt/server/installed.txt\n"},
}
with open(os.path.join(panel, "servers", uuid + ".json"), "w") as f:
    json.dump(server, f, indent=2)
PY

cat <<EOF

wingspan demo
  API:           http://127.0.0.1:$PORT
  node token:    $TOKEN
  demo server:   $SERVER_UUID

  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:$PORT/api/servers/$SERVER_UUID
  curl -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
       -d '{"action":"start"}' http://127.0.0.1:$PORT/api/servers/$SERVER_UUID/power
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:$PORT/api/servers/$SERVER_UUID/logs

  Console token (websocket ws://127.0.0.1:$PORT/api/servers/$SERVER_UUID/ws, 1 hour):
    $DEMO/venv/bin/wingspan --config $DEMO/config.yml token $SERVER_UUID

Starting the daemon (Ctrl-C stops it; the game server keeps running)...
EOF
exec "$DEMO/venv/bin/wingspan" --config "$DEMO/config.yml"
