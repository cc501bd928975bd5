"""A benchmark figure: wingspan's value, the same-run baseline, their ratio, and its target.

A target is written as a reader would say it: ``"<= 8 MiB"`` bounds the value (in the
figure's own unit), ``"ratio <= 2"`` bounds value/baseline, ``"p99 <= 20 ms"`` names what
the value is before the bound; ``≤``/``≥`` are accepted too. A target that states no bound
(``"bounded"``, ``"(context)"``) is shown but not checked.
"""

import re

_BOUND = re.compile(r"^\s*(?P<ratio>ratio\s+)?(?:[\w%]+\s+)?(?P<op><=|>=|<|>|≤|≥)\s*"
                    r"(?P<limit>-?\d+(?:\.\d+)?)")
_COMPARE = {"<=": float.__le__, "≤": float.__le__, ">=": float.__ge__, "≥": float.__ge__,
            "<": float.__lt__, ">": float.__gt__}
MET = "ok"
MISSED = "MISS"


class Target:
    """The bound a figure's target text states, or none (``checked`` is then False)."""

    def __init__(self, text):
        self.text = text or ""
        match = _BOUND.match(self.text)
        self.checked = match is not None
        if match:
            self.of_ratio = bool(match.group("ratio"))
            self.compare = _COMPARE[match.group("op")]
            self.limit = float(match.group("limit"))

    def met(self, figure):
        """True or False for a checked target with something to check, else None."""
        if not self.checked:
            return None
        measured = figure.ratio if self.of_ratio else figure.value
        if measured is None:
            return None
        return self.compare(float(measured), self.limit)

    def __str__(self):
        return self.text


class Figure:
    def __init__(self, name, value, baseline=None, unit="", target=None):
        self.name = name
        self.value = value
        self.baseline = baseline
        self.unit = unit
        self.target = Target(target)

    @property
    def ratio(self):
        if self.baseline in (None, 0) or self.value is None:
            return None
        return self.value / self.baseline

    @property
    def met(self):
        return self.target.met(self)

    def verdict(self):
        """``ok``, ``MISS``, or empty when the figure has no checkable target."""
        met = self.met
        return "" if met is None else (MET if met else MISSED)

    def show(self, number):
        if number is None:
            return "-"
        return "%.3g%s" % (number, self.unit)

    def show_ratio(self):
        return "-" if self.ratio is None else "%.2f" % self.ratio

    def as_dict(self):
        return {"name": self.name, "value": self.value, "baseline": self.baseline,
                "ratio": self.ratio, "unit": self.unit, "target": str(self.target) or None,
                "met": self.met}
