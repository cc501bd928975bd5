"""gevent's monkey patching, for the processes that run on its hub (supervisor, API,
zygote and so the workers)."""

from importlib import metadata


def patch_all():
    """``gevent.monkey.patch_all()`` with one scan of the installed distributions.

    gevent looks its plugins up in the entry points of every installed distribution for
    each event it fires: 25 full scans of the packages' metadata for one patch_all, a
    quarter of a second of each process's start on a node with many packages. One scan
    answers all of them; the plugins found and called are the same."""
    from gevent import monkey
    every = metadata.entry_points()
    scan = metadata.entry_points
    metadata.entry_points = lambda **selection: every.select(**selection)
    try:
        monkey.patch_all()
    finally:
        metadata.entry_points = scan
