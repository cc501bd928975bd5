"""gevent's patching with one scan of the installed distributions' entry points."""

import json
import subprocess
import sys
import textwrap

PATCH_AND_REPORT = textwrap.dedent("""
    import json, socket, sys, types
    from importlib import metadata

    scans = []
    called = []
    sys.modules["plugin"] = types.SimpleNamespace(hook=lambda e: called.append(type(e).__name__))
    plugin = metadata.EntryPoint(name="test", value="plugin:hook",
                                 group="gevent.plugins.monkey.will_patch_all")
    # the installed packages, as far as this test is concerned: one gevent plugin
    metadata.entry_points = lambda **selection: (
        scans.append(selection) or metadata.EntryPoints([plugin]).select(**selection))

    from wingspan import green
    green.patch_all()

    import gevent.socket
    print(json.dumps({"scans": len(scans), "patched": socket.socket is gevent.socket.socket,
                      "called": called}))
""")


def test_patching_scans_the_distributions_once_and_still_calls_the_plugins():
    run = subprocess.run([sys.executable, "-c", PATCH_AND_REPORT], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    # gevent alone scans them again for each event it fires (25 times)
    assert json.loads(run.stdout) == {"scans": 1, "patched": True,
                                      "called": ["GeventWillPatchAllEvent"]}
