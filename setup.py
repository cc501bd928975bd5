"""wingspan: a drop-in, wire-compatible replacement for Pterodactyl Wings."""

from setuptools import Extension, find_packages, setup

from wingspan import __version__

setup(
    name="wingspan",
    version=__version__,
    description="Game-server node daemon, wire-compatible with Pterodactyl Wings",
    python_requires=">=3.11",
    packages=find_packages(include=["wingspan", "wingspan.*", "supervisor", "supervisor.*",
                                    "worker", "worker.*", "api", "api.*", "sftp", "sftp.*"]),
    # The disk-usage walk's per-directory loop; building it needs a C compiler and
    # Python's headers (Debian: gcc, python3-dev).
    ext_modules=[Extension("wingspan.filesystem._sizes", ["wingspan/filesystem/_sizes.c"])],
    install_requires=[
        "gevent>=24.2",
        "gevent-websocket>=0.10.1",
        "bottle>=0.13",
        "docker>=7.1",
        "pyzmq>=26",
        "requests>=2.32",
        "psutil>=5.9",
        "PyJWT>=2.8",
        "PyYAML>=6.0",
        "prometheus_client>=0.20",
        "setproctitle>=1.3",
        "tenacity>=8.2",
        "ruamel.yaml>=0.18",
        "lxml>=5.0",
        "filetype>=1.2",
        "pathspec>=1.0",
        "py7zr>=1.0",
        "backports.zstd; python_version<\"3.14\"",
        "rarfile>=4.2",
        "multipart>=1.2",
        "urllib3>=2.0",
        "fastjsonschema>=2.19",
        "asyncssh>=2.24,<3",
    ],
    extras_require={
        "test": ["pytest>=8", "jsonschema>=4.18", "schemathesis>=4.0", "websocket-client>=1.8",
                 "pytest-timeout>=2.3", "ruff>=0.17,<0.18", "paramiko>=3.4", "moto[server]>=5.0"],
    },
    entry_points={"console_scripts": ["wingspan = supervisor.cli:main"]},
)
