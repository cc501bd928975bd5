"""The egg's file denylist: gitignore-style patterns naming files users may not modify
(wings-api.md §6.3, wings-behaviour.md §9.2).

Matching uses the ``pathspec`` library's gitignore patterns with "last matching pattern
wins" (so ``!`` re-includes), like Wings' go-gitignore: ``#`` comments, ``/`` anchoring to
the root, otherwise any depth, a match on a directory covering everything beneath it, and
``dir/`` matching what is inside ``dir`` but not a file named ``dir``. One deliberate
difference: ``?`` is gitignore's one-character wildcard here, where go-gitignore takes it
literally, so a pattern can only deny more, never less.

Paths are matched after lexical cleaning ([REC]): ``/./config.yml`` cannot slip past
``/config.yml`` as it does in Wings.
"""

import pathspec


class Denylist:
    def __init__(self, patterns=()):
        lines = [line.strip() for line in patterns]
        self.patterns = [line for line in lines if line and not line.startswith("#")]
        self._spec = pathspec.PathSpec.from_lines("gitignore", self.patterns) \
            if self.patterns else None

    def __bool__(self):
        return self._spec is not None

    def matches(self, parts):
        """Whether the resolved components of a server path are denied (the root never is)."""
        if self._spec is None or not parts:
            return False
        return self._spec.match_file("/".join(parts))
