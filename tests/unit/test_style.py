"""The tree passes the linter with the project's settings (ruff.toml): pyflakes' errors
(unused imports and names, undefined names) and pycodestyle's, lines within 100 columns."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUFF = os.path.join(os.path.dirname(sys.executable), "ruff")


def test_tree_is_lint_clean():
    result = subprocess.run([RUFF, "check", "--no-cache", "--output-format", "concise", ROOT],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
