"""A benchmark figure: wingspan's value, the same-run baseline and their ratio."""


class Figure:
    def __init__(self, name, value, baseline=None, unit="", target=None):
        self.name = name
        self.value = value
        self.baseline = baseline
        self.unit = unit
        self.target = target

    @property
    def ratio(self):
        if self.baseline in (None, 0) or self.value is None:
            return None
        return self.value / self.baseline

    def show(self, number):
        if number is None:
            return "-"
        return "%.3g%s" % (number, self.unit)

    def show_ratio(self):
        return "-" if self.ratio is None else "%.2f" % self.ratio

    def as_dict(self):
        return {"name": self.name, "value": self.value, "baseline": self.baseline,
                "ratio": self.ratio, "unit": self.unit, "target": self.target}
