"""Fixtures: a node config holding secrets, the placeholder context of the Paper server,
and an ``edit`` shortcut."""

import pytest

from wingspan import config
from worker.configfiles import PlaceholderContext, apply_config_file

from .support import REGISTRY_PASSWORD, SETTINGS, TOKEN, TOKEN_ID


@pytest.fixture
def cfg():
    node = config.Config()
    node.token = TOKEN
    node.token_id = TOKEN_ID
    node.docker.registries["ghcr.io"] = config.Registry("me", REGISTRY_PASSWORD)
    return node


@pytest.fixture
def context(cfg):
    return PlaceholderContext.from_settings(SETTINGS, cfg.placeholder_view())


@pytest.fixture
def edit(context):
    """``edit(parser, content, replacements)`` → the new file as text."""
    def run(parser, content, replacements):
        if isinstance(content, str):
            content = content.encode()
        return apply_config_file(parser, content, replacements, context).decode()
    return run
