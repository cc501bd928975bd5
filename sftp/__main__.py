"""The SFTP process: ``python -m sftp --config PATH`` (started by the supervisor).

An asyncio process, no gevent: asyncssh serves the connections and pyzmq's asyncio
sockets carry the bus (wingspan.aiobus).
"""

import argparse
import asyncio
import logging
import warnings

import setproctitle
from cryptography.utils import CryptographyDeprecationWarning

from wingspan import logs
from wingspan.startup import load_config_or_exit, runtime_flags

# asyncssh imports DSA support, which cryptography warns about on every start; no DSA key
# is ever accepted here (wings-behaviour.md §12.1)
warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)

from sftp.server import serve  # noqa: E402 (after the warning filter on purpose)


def main():
    parser = argparse.ArgumentParser(prog="wingspan-sftp")
    parser.add_argument("--config", required=True)
    parser.add_argument("--supervisor-pidfd", type=int, required=True)
    parser.add_argument("--ignore-certificate-errors", action="store_true")
    args = parser.parse_args()
    setproctitle.setproctitle("wingspan: sftp")
    cfg = load_config_or_exit(args.config)
    debug, _ = runtime_flags()
    logs.configure("sftp", debug or cfg.debug)
    # a line per connection and per channel otherwise: bots knock on port 2022 all day
    logging.getLogger("asyncssh").setLevel(logging.DEBUG if debug else logging.WARNING)
    asyncio.run(serve(cfg, args.supervisor_pidfd, not args.ignore_certificate_errors))


if __name__ == "__main__":
    main()
