"""Integration tests of the files API and signed URLs (wings-api.md §5-§7)."""

import pytest

# The helpers hold most assertions: have pytest explain their failures too.
pytest.register_assert_rewrite("tests.integration.files.helpers")
