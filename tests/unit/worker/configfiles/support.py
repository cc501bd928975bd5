"""Test data: the Paper server of panel-contract.md §2.3, secrets a node config holds (so
that every test can check none of them leaks), and the sample files."""

from pathlib import Path

SAMPLES = Path(__file__).parent / "samples"

TOKEN = "Fz3kq9XhR2mWbT7sLpV4nY8cJ1dA6gE0uK5oIiQzS3rN"
TOKEN_ID = "aB3dE5gH7jK9mN1p"
REGISTRY_PASSWORD = "ghp_registryPassword0123456789"

# panel-contract.md §2.3, the Paper example (ids and numbers invented there)
SETTINGS = {
    "uuid": "d3aac109-e5a0-4331-b03e-3454f7e136dc",
    "meta": {"name": "Survival", "description": ""},
    "suspended": False,
    "environment": {
        "MINECRAFT_VERSION": "latest", "SERVER_JARFILE": "server.jar", "DL_PATH": "",
        "BUILD_NUMBER": "latest", "SERVER_NAME": "ARK #1 ; powered by Pterodactyl",
        "P_SERVER_LOCATION": "de1",
        "P_SERVER_UUID": "d3aac109-e5a0-4331-b03e-3454f7e136dc",
        "P_SERVER_ALLOCATION_LIMIT": 0,
        "NULL_VARIABLE": None,
    },
    "invocation": "java -jar {{SERVER_JARFILE}}",
    "skip_egg_scripts": False,
    "build": {"memory_limit": 2048, "swap": 0, "io_weight": 500, "cpu_limit": 200,
              "threads": None, "disk_space": 10240, "oom_disabled": True},
    "container": {"image": "ghcr.io/pterodactyl/yolks:java_21", "oom_disabled": True,
                  "requires_rebuild": False},
    "allocations": {"force_outgoing_ip": False, "default": {"ip": "0.0.0.0", "port": 25565},
                    "mappings": {"0.0.0.0": [25565, 25566]}},
    "mounts": [],
    "egg": {"id": "9ac39f3d-0c34-4d93-8174-c52ab9e6c57b", "file_denylist": []},
}


def sample(name):
    return (SAMPLES / name).read_bytes()


def assert_no_secret(text):
    for secret in (TOKEN, TOKEN_ID, REGISTRY_PASSWORD):
        assert secret not in text
