"""The dashboard's PromQL, as far as the tests need it: selectors, `by (...)` and legends.

No Python library parses PromQL, and the dashboard's queries keep to a regular shape (a
metric name, optional `{label op "value", ...}`, aggregations `by (labels)`), so a few
regular expressions read them; each one is tested on an inline query too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
GRAFANA = DEPLOY / "grafana"
DASHBOARD_FILE = GRAFANA / "dashboards" / "tf_serving.json"
MODEL_NAME = "MMModel"
# What the dashboard's variables are set to while its queries are checked.
VARIABLES = {"$model": MODEL_NAME, "$__rate_interval": "1m"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

SELECTOR = re.compile(r"(?P<name>:tensorflow:[A-Za-z0-9_:]+)(?:\{(?P<matchers>[^}]*)\})?")
MATCHER = re.compile(r'\s*(?P<label>[A-Za-z_]\w*)\s*(?P<op>=~|!~|!=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*,?')
BY = re.compile(r"\bby\s*\((?P<labels>[^)]*)\)")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, operator, value)

    def matches(self, labels: dict[str, str]) -> bool:
        return all(_match(labels.get(label, ""), op, value) for label, op, value in self.matchers)


def _match(actual: str, op: str, value: str) -> bool:
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    found = re.fullmatch(value, actual) is not None  # PromQL regexes are anchored
    return found if op == "=~" else not found


def selectors(expr: str) -> list[Selector]:
    found = []
    for match in SELECTOR.finditer(expr):
        text = match.group("matchers") or ""
        matchers = tuple((m.group("label"), m.group("op"), m.group("value")) for m in MATCHER.finditer(text))
        # Every character of the braces must belong to a matcher this test understands.
        assert "".join(m.group(0) for m in MATCHER.finditer(text)) == text, expr
        found.append(Selector(match.group("name"), matchers))
    return found


def by_labels(expr: str) -> set[str]:
    return {
        label.strip() for m in BY.finditer(expr) for label in m.group("labels").split(",") if label.strip()
    }


def with_variables(text: str) -> str:
    for variable, value in VARIABLES.items():
        text = text.replace(variable, value)
    return text


def dashboard_targets(dashboard: dict) -> list[dict]:
    return [target for panel in dashboard["panels"] for target in panel["targets"]]


def variable_queries(dashboard: dict) -> list[str]:
    return [
        variable["definition"] for variable in dashboard["templating"]["list"] if variable["type"] == "query"
    ]


def load_dashboard() -> dict:
    return json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
