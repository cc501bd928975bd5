"""The ``wingspan`` command: the daemon (the supervisor and the processes it starts) and the
operator's sub-commands, with Wings' and Pelican's flags (wings-behaviour.md §14.2).

Only the daemon itself imports the supervisor, and only after the zygote is forked; the
sub-commands import what they need when they run.
"""

import argparse
import os
import sys

from wingspan import __version__, startup

DEFAULT_CONFIG = "/etc/pterodactyl/config.yml"
USAGE = """\
commands:
  (none)        run the daemon
  configure     fetch this node's config.yml from the Panel
  diagnostics   print a report for a bug report (versions, redacted config, Docker, logs)
  token         mint a websocket console token for a server (panel-less mode)
  version       print the version
"""


def build_parser():
    # --config is accepted before or after the sub-command: ``wingspan --config P
    # diagnostics`` and ``wingspan diagnostics --config P`` mean the same.
    anywhere = argparse.ArgumentParser(add_help=False)
    anywhere.add_argument("--config", default=argparse.SUPPRESS,
                          help="path to config.yml (default: %s)" % DEFAULT_CONFIG)
    parser = argparse.ArgumentParser(
        prog="wingspan", description="Game-server node daemon, wire-compatible with "
        "Pterodactyl Wings.", epilog=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help="path to config.yml (default: %(default)s)")
    parser.add_argument("--debug", action="store_true", help="debug logging")
    parser.add_argument("--ignore-certificate-errors", action="store_true",
                        help="do not verify the Panel's TLS certificate")
    parser.add_argument("--version", action="version", version=version_line())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("version", parents=[anywhere], help="print the version and exit")
    add_configure(commands, anywhere)
    add_diagnostics(commands, anywhere)
    token = commands.add_parser("token", parents=[anywhere],
                                help="mint a websocket console token for a server "
                                     "(panel-less mode: the Panel normally does this)")
    token.add_argument("server")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    return parser


def add_configure(commands, anywhere):
    configure = commands.add_parser(
        "configure", parents=[anywhere], help="fetch this node's config.yml from the Panel",
        description="Fetch this node's configuration from the Panel with an application API "
        "key and write it to config.yml (mode 0600).")
    configure.add_argument("--panel-url", "-p", required=True, type=panel_url,
                           help="the Panel's base URL, e.g. https://panel.example.com")
    configure.add_argument("--token", "-t", required=True,
                           help="an application API key that may read nodes")
    configure.add_argument("--node", "-n", required=True, type=node_id,
                           help="the node's numeric id in the Panel")
    configure.add_argument("--config-path", "-c",
                           help="where to write the file (default: the --config path)")
    configure.add_argument("--override", action="store_true",
                           help="replace an existing configuration file")
    configure.add_argument("--allow-insecure", action="store_true",
                           help="do not verify the Panel's TLS certificate")


def add_diagnostics(commands, anywhere):
    from wingspan.diagnostics import DEFAULT_LOG_LINES
    diagnostics = commands.add_parser(
        "diagnostics", parents=[anywhere], help="print a diagnostics report",
        description="Print versions, the configuration with every secret redacted, Docker's "
        "information, the containers wingspan manages and the end of wings.log.")
    diagnostics.add_argument("--log-lines", type=log_lines, default=DEFAULT_LOG_LINES,
                             help="lines of wings.log to include (default: %(default)s; 0: "
                                  "none)")
    diagnostics.add_argument("--include-endpoints", action="store_true",
                             help="show the Panel URL, listen addresses and TLS paths "
                                  "instead of redacting them")


def panel_url(text):
    from urllib.parse import urlsplit
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError("must be an http:// or https:// URL, got %r" % text)
    return text


def node_id(text):
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError("must be the node's numeric id, got %r" % text)
    return text


def log_lines(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError("must be a whole number of lines, got %r" % text)
    return value


def version_line():
    return "wingspan v%s" % __version__


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


def configure(args):
    """``wingspan configure``: one line on stdout when done, one on stderr when not."""
    from wingspan import errors
    from wingspan.config import Config
    from wingspan.panel import fetch_node_configuration
    path = os.path.abspath(args.config_path or args.config)
    if os.path.lexists(path) and not args.override:
        return fail("configure", "%s already exists; add --override to replace it" % path)
    try:
        document = fetch_node_configuration(args.panel_url, args.token, args.node,
                                            verify_tls=not args.allow_insecure)
        cfg = Config.from_panel(document, source=args.panel_url)
    except errors.WingspanError as e:
        return fail("configure", e.detail or e.public_message)
    try:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        cfg.save(path)
    except OSError as e:
        return fail("configure", "could not write %s: %s" % (path, e.strerror or e))
    print("wingspan: node %s configured; configuration written to %s" % (args.node, path))
    return 0


def diagnostics(args):
    """``wingspan diagnostics``: the report on stdout, even when Docker or the config is
    broken (that is what the report is for)."""
    from wingspan import diagnostics as report
    from wingspan.config import ConfigError, load
    path = os.path.abspath(args.config)
    try:
        cfg, problem = load(path), None
    except ConfigError as e:
        cfg, problem = None, str(e)
    sys.stdout.write(report.generate(cfg, report.connect_engine, log_lines=args.log_lines,
                                     include_endpoints=args.include_endpoints,
                                     config_problem=problem))
    return 0


def fail(command, message):
    print("wingspan %s: %s" % (command, message), file=sys.stderr)
    return 1


def run_daemon(args):
    # until the supervisor handles SIGHUP: a `systemctl reload` now must not end the daemon
    startup.hold_reloads()
    config_path = os.path.abspath(args.config)
    cfg = startup.load_config_or_exit(config_path)
    startup.set_runtime_flags(args.debug, args.ignore_certificate_errors)
    from supervisor import runlock
    try:
        # held until this process ends: the kernel releases it however that happens
        runlock.acquire(cfg.wingspan.run_directory)
    except (runlock.AlreadyRunning, OSError) as e:
        print("wingspan: %s" % e, file=sys.stderr)
        return 1
    # The zygote must be forked before this process has a ZeroMQ context, a thread or a
    # gevent hub; nothing above this line creates one. The API and SFTP processes start
    # beside it and wait for the boot to release them (supervisor/prestart.py).
    from supervisor import zygote
    from wingspan import lifeline
    zygote.become_subreaper()
    supervisor_pidfd = lifeline.open_own_pidfd()
    forker = zygote.Zygote(config_path, supervisor_pidfd)
    forker.start()
    from supervisor.prestart import Prestarted
    prestarted = {module: Prestarted(module, config_path, supervisor_pidfd)
                  for module in ("api", "sftp")}

    from wingspan import green
    green.patch_all()
    import setproctitle

    from supervisor.manager import Manager
    from wingspan import logs

    setproctitle.setproctitle("wingspan: supervisor")
    debug, verify_tls = startup.runtime_flags()
    logs.configure("supervisor", debug or cfg.debug, log_directory=cfg.system.log_directory)
    return Manager(cfg, config_path, forker, supervisor_pidfd, verify_tls=verify_tls,
                   prestarted=prestarted).run()


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(version_line())
        return 0
    if args.command == "token":
        cfg = startup.load_config_or_exit(os.path.abspath(args.config))
        print(mint_console_token(cfg, args.server, args.ttl))
        return 0
    if args.command == "configure":
        return configure(args)
    if args.command == "diagnostics":
        return diagnostics(args)
    return run_daemon(args)


if __name__ == "__main__":
    sys.exit(main())
