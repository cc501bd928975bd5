"""Where a server's files live on the node: ``<system.data>/<uuid>``.

The supervisor makes a server's root before the API or SFTP can be asked for the server and
before its worker is forked, so a request that arrives while the worker boots finds the
directory (wings-api.md §5.2 lists an empty root as ``[]``)."""

import os


def server_root(cfg, uuid):
    return os.path.join(cfg.system.data, uuid)


def make_server_root(cfg, uuid):
    """Create the server's root (0755, owned by the container user) unless it exists."""
    root = server_root(cfg, uuid)
    if not os.path.isdir(root):
        os.makedirs(root, mode=0o755, exist_ok=True)
        user = cfg.system.user
        os.chown(root, user.uid, user.gid)
    return root
