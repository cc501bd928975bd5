"""The ``wingspan`` command, compatible with ``wings``' flags.

    wingspan [--config PATH] [--debug] [--ignore-certificate-errors]   run the daemon
    wingspan version                                                   print the version
    wingspan token SERVER_UUID [--ttl SECONDS]                         console token (panel-less)

Command-line switches that are not configuration (``--debug``,
``--ignore-certificate-errors``) reach the child processes through the environment, so
they are never written into config.yml.
"""

import argparse
import os
import sys

from wingspan import __version__

DEFAULT_CONFIG = "/etc/pterodactyl/config.yml"
ENV_DEBUG = "WINGSPAN_DEBUG"
ENV_INSECURE = "WINGSPAN_IGNORE_CERTIFICATE_ERRORS"


def build_parser():
    parser = argparse.ArgumentParser(prog="wingspan", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="path to config.yml")
    parser.add_argument("--debug", action="store_true", help="debug logging")
    parser.add_argument("--ignore-certificate-errors", action="store_true",
                        help="do not verify the Panel's TLS certificate")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("version", help="print the version and exit")
    token = commands.add_parser("token", help="mint a websocket console token for a server "
                                              "(panel-less mode: the Panel normally does this)")
    token.add_argument("server")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    return parser


def mint_console_token(cfg, server, ttl):
    """A websocket JWT as the Panel mints it for a server owner (panel-contract.md §3)."""
    import hashlib
    import time

    import jwt
    now = int(time.time())
    jti = hashlib.md5(("local" + server).encode()).hexdigest()
    claims = {"iss": "wingspan", "aud": [cfg.remote or "local"], "jti": jti, "iat": now,
              "nbf": now - 300, "exp": now + ttl, "server_uuid": server,
              "permissions": ["*", "admin.websocket.errors", "admin.websocket.install"],
              "user_uuid": "00000000-0000-4000-8000-000000000000"}
    return jwt.encode(claims, cfg.token, algorithm="HS256", headers={"jti": jti})


def runtime_flags():
    """``(debug, verify_tls)`` as set on the command line of the supervisor."""
    return os.environ.get(ENV_DEBUG) == "1", os.environ.get(ENV_INSECURE) != "1"


def load_config_or_exit(path):
    from wingspan.config import ConfigError, load
    try:
        cfg = load(path)
        cfg.validate_for_serving()
    except ConfigError as e:
        print("wingspan: %s" % e, file=sys.stderr)
        raise SystemExit(1) from None
    return cfg


def run_daemon(args):
    config_path = os.path.abspath(args.config)
    cfg = load_config_or_exit(config_path)
    if args.debug:
        os.environ[ENV_DEBUG] = "1"
    if args.ignore_certificate_errors:
        os.environ[ENV_INSECURE] = "1"
    from supervisor import runlock
    try:
        # held until this process ends: the kernel releases it however that happens
        runlock.acquire(cfg.wingspan.run_directory)
    except (runlock.AlreadyRunning, OSError) as e:
        print("wingspan: %s" % e, file=sys.stderr)
        return 1
    # The zygote must be forked before this process has a ZeroMQ context, a thread or a
    # gevent hub; nothing above this line creates one.
    from supervisor import zygote
    from wingspan import lifeline
    zygote.become_subreaper()
    supervisor_pidfd = lifeline.open_own_pidfd()
    forker = zygote.Zygote(config_path, supervisor_pidfd)
    forker.start()

    from gevent import monkey
    monkey.patch_all()
    import setproctitle

    from supervisor.manager import Manager
    from wingspan import logs

    setproctitle.setproctitle("wingspan: supervisor")
    debug, verify_tls = runtime_flags()
    logs.configure("supervisor", debug or cfg.debug, log_directory=cfg.system.log_directory)
    return Manager(cfg, config_path, forker, supervisor_pidfd, verify_tls=verify_tls).run()


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print("wingspan v%s" % __version__)
        return 0
    if args.command == "token":
        cfg = load_config_or_exit(os.path.abspath(args.config))
        print(mint_console_token(cfg, args.server, args.ttl))
        return 0
    return run_daemon(args)


if __name__ == "__main__":
    sys.exit(main())
