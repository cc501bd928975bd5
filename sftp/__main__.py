"""The SFTP process: ``python -m sftp --config PATH`` (started by the supervisor).

An asyncio process, no gevent: asyncssh serves the connections and pyzmq's asyncio
sockets carry the bus (wingspan.aiobus).
"""

from wingspan.startup import end_background_start, runtime_flags, start_child, \
    start_in_background

# before the imports, which are most of the start
FOREGROUND_NICENESS = start_in_background("sftp")

import asyncio  # noqa: E402
import functools  # noqa: E402
import logging  # noqa: E402
import warnings  # noqa: E402

from cryptography.utils import CryptographyDeprecationWarning  # noqa: E402

# asyncssh imports DSA support, which cryptography warns about on every start; no DSA key
# is ever accepted here (wings-behaviour.md §12.1)
warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)

from sftp.server import serve  # noqa: E402 (after the warning filter on purpose)


def main():
    args, cfg = start_child("sftp")
    debug, verify_tls = runtime_flags()
    # a line per connection and per channel otherwise: bots knock on port 2022 all day
    logging.getLogger("asyncssh").setLevel(logging.DEBUG if debug else logging.WARNING)
    asyncio.run(serve(cfg, args.supervisor_pidfd, verify_tls,
                      on_listening=functools.partial(end_background_start,
                                                     FOREGROUND_NICENESS)))


if __name__ == "__main__":
    main()
