#!/usr/bin/env python3
"""Alerts, runbooks and the Grafana dashboard: one source each, checked.

    scripts/monitoring.py render   # writes the generated files from their sources
    scripts/monitoring.py check    # what `make docs-check` runs (with promtool, which it calls)

Sources and what is generated from them:
- deploy/prometheus/rules.yaml (the rules) -> deploy/k8s/monitoring/prometheusrule.yaml
  (the same groups in a Prometheus Operator PrometheusRule);
- deploy/grafana/dashboard.py (Grafana Foundation SDK) -> deploy/grafana/bv.json.

`check` fails when a generated file differs from its source's rendering, when bv.json does not
survive a round trip through the SDK's dashboard model, when an alert lacks a severity, a
summary, a description or a runbook_url naming an existing heading of docs/runbooks/, when an
alert has no promtool test where it fires and one where it must not (or a test names an alert
that does not exist), when a rule or a panel names a bv metric the code does not export (read
from crates/*/src/metrics.rs) or a foreign metric not listed below, and when a panel's query
is not valid PromQL (`promtool check rules` on the queries, Grafana variables filled in).
Run with the project's Python (var/venv/bin/python3, made by `make docs-check` from
tools/docs-check/requirements.txt: ruamel.yaml, grafana-foundation-sdk) and, for the PromQL
check, promtool.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import re
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ beside dashboard.py

ROOT = pathlib.Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy/prometheus/rules.yaml"
RULES_TEST = ROOT / "deploy/prometheus/rules.test.yaml"
PROMETHEUS_RULE = ROOT / "deploy/k8s/monitoring/prometheusrule.yaml"
DASHBOARD_SOURCE = ROOT / "deploy/grafana/dashboard.py"
DASHBOARD = ROOT / "deploy/grafana/bv.json"
RUNBOOKS = ROOT / "docs/runbooks"
METRICS_SOURCES = sorted(ROOT.glob("crates/*/src/metrics.rs"))

SEVERITIES = {"critical", "warning"}
# Metrics of other exporters the rules and the dashboard may read, by name prefix.
FOREIGN_METRICS = {
    "up": "Prometheus: scrape target health",
    "ALERTS": "Prometheus: firing alerts",
    "rabbitmq_detailed_queue_": "RabbitMQ rabbitmq_prometheus plugin, /metrics/detailed",
    "rabbitmq_queue_": "RabbitMQ rabbitmq_prometheus plugin, /metrics/per-object",
    "container_": "kubelet cAdvisor",
}

PROMETHEUS_RULE_HEADER = """\
# Generated from deploy/prometheus/rules.yaml by `scripts/monitoring.py render`: edit that file
# (the plain Prometheus rules file) and render again; `make docs-check` fails when they differ.
# Needs the Prometheus Operator's CRDs. If your Prometheus selects rules by label
# (spec.ruleSelector, e.g. `release: kube-prometheus-stack`), add that label in a kustomization
# of your own (see deploy/README.md, "Alerts and dashboard").
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: bv
  labels:
    app.kubernetes.io/name: bv
    app.kubernetes.io/part-of: biometric-validations
    app.kubernetes.io/component: monitoring
spec:
"""


def yaml_load(text: str):
    from ruamel.yaml import YAML

    return json.loads(json.dumps(YAML(typ="safe").load(text)))


# ---------------------------------------------------------------------------- rendering


def render_prometheus_rule() -> str:
    """The rules file's groups, indented under `spec:` (its own header comment left out)."""
    lines = RULES.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("groups:"))
    body = "".join(f"  {line}\n" if line.strip() else "\n" for line in lines[start:])
    return PROMETHEUS_RULE_HEADER + body


def render_dashboard() -> str:
    spec = importlib.util.spec_from_file_location("bv_dashboard", DASHBOARD_SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    return json.dumps(module.build(), cls=JSONEncoder, indent=2) + "\n"


def render() -> None:
    PROMETHEUS_RULE.parent.mkdir(parents=True, exist_ok=True)
    PROMETHEUS_RULE.write_text(render_prometheus_rule())
    DASHBOARD.write_text(render_dashboard())
    for path in (PROMETHEUS_RULE, DASHBOARD):
        print(f"wrote {path.relative_to(ROOT)}")


# ---------------------------------------------------------------------------- checking


class Checks:
    def __init__(self) -> None:
        self.failures = 0
        self.count = 0

    def __call__(self, ok: bool, what: str, why: str = "") -> None:
        self.count += 1
        if ok:
            print(f"  ok {what}")
        else:
            self.failures += 1
            print(f"FAIL {what}" + (f": {why}" if why else ""))


def exported_metrics() -> set[str]:
    """Every sample name bv's registries expose, read from the metrics.rs files: the prefix of
    `Registry::with_prefix` (if any), each `register[_with_unit]("name", ...)`, and the suffixes its kind
    gives it in the exposition (counter `_total`; histogram `_bucket`, `_sum`, `_count`; a unit
    appended). A kind the code does not make plain allows every suffix."""
    names: set[str] = set()
    register = re.compile(
        r'\.register(?:_with_unit)?\(\s*"(?P<name>\w+)",\s*"(?:[^"\\]|\\.)*",\s*'
        r"(?:Unit::(?P<unit>\w+),\s*)?(?P<var>\w+)(?:\.clone\(\))?,?\s*\)",
        re.S,
    )
    for source in METRICS_SOURCES:
        text = source.read_text()
        prefix = re.search(r'Registry::with_prefix\(\s*"(\w+)"', text)
        for m in register.finditer(text):
            base = f"{prefix.group(1)}_{m.group('name')}" if prefix else m.group("name")
            if m.group("unit"):
                base += "_" + m.group("unit").lower()
            let = re.search(rf"let\s+(?:mut\s+)?{m.group('var')}\s*(?::[^=]+)?=(.*?);", text, re.S)
            kind = let.group(1) if let else ""
            if "Gauge" in kind:
                suffixes = [""]
            elif "Counter" in kind:
                suffixes = ["_total"]
            elif "Histogram" in kind or "seconds_" in kind:
                suffixes = ["_bucket", "_sum", "_count"]
            elif "Info" in kind:
                suffixes = ["_info"]
            else:
                suffixes = ["", "_total", "_info", "_bucket", "_sum", "_count"]
            names.update(base + s for s in suffixes)
    return names


METRIC = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?=\s*[{\[)]|\s*$|\s+(?:offset|and|or|unless|[<>=!+*/-]))")


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers followed by a selector, a range, a
    closing parenthesis or a binary operator, less functions, keywords and label names."""
    no_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    no_groupings = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", no_strings)
    keywords = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless", "le"}
    return {
        name
        for name in METRIC.findall(no_groupings)
        if name not in keywords and not re.search(rf"\b{name}\s*\(", no_groupings)
    }


def check_metric(checks: Checks, where: str, name: str, exported: set[str], recorded: set[str]) -> None:
    if ":" in name:
        checks(name in recorded, f"{where}: {name} is a recording rule of rules.yaml")
    elif name.startswith("bv_"):
        checks(name in exported, f"{where}: {name} is exported by bv", "not in crates/*/src/metrics.rs")
    else:
        source = next((v for k, v in FOREIGN_METRICS.items() if name == k or (k.endswith("_") and name.startswith(k))), None)
        checks(source is not None, f"{where}: {name} ({source or 'unknown exporter'})")


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def check() -> int:
    checks = Checks()
    rules = yaml_load(RULES.read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}

    print("==> the PrometheusRule is rules.yaml")
    rendered = render_prometheus_rule()
    current = PROMETHEUS_RULE.read_text() if PROMETHEUS_RULE.exists() else ""
    checks(current == rendered, f"{PROMETHEUS_RULE.relative_to(ROOT)} is rendered from rules.yaml", "run scripts/monitoring.py render")
    checks(yaml_load(current or "{}").get("spec") == rules, "its spec equals rules.yaml, group by group")

    print("==> alerts: labels, annotations, runbooks")
    for alert in alerts:
        name = alert["alert"]
        annotations = alert.get("annotations", {})
        checks(alert.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity is one of {sorted(SEVERITIES)}")
        for key in ("summary", "description", "runbook_url"):
            checks(bool(annotations.get(key)), f"{name}: has a {key}")
        url = annotations.get("runbook_url", "")
        m = re.fullmatch(r"(docs/runbooks/[\w.-]+\.md)#([\w-]+)", url)
        runbook = ROOT / m.group(1) if m else None
        headings = {slug(h) for h in re.findall(r"^#+\s+(.+)$", runbook.read_text(), re.M)} if runbook and runbook.exists() else set()
        checks(bool(m) and m.group(2) in headings, f"{name}: runbook {url} exists", "no such file or heading")

    print("==> promtool tests: each alert fires in one case and stays silent in another")
    tests = yaml_load(RULES_TEST.read_text())
    fired: dict[str, int] = {}
    silent: dict[str, int] = {}
    names = {a["alert"] for a in alerts}
    for test in tests.get("tests", []):
        for case in test.get("alert_rule_test", []):
            name = case["alertname"]
            checks(name in names, f"test {test.get('name')!r} names alert {name}", "no such alert in rules.yaml")
            (fired if case.get("exp_alerts") else silent)[name] = (fired if case.get("exp_alerts") else silent).get(name, 0) + 1
    for name in sorted(names):
        checks(fired.get(name, 0) > 0 and silent.get(name, 0) > 0,
               f"{name}: {fired.get(name, 0)} firing and {silent.get(name, 0)} silent cases")

    print("==> the dashboard is dashboard.py's, and Grafana's model reads it back")
    rendered_dashboard = render_dashboard()
    current_dashboard = DASHBOARD.read_text() if DASHBOARD.exists() else "{}"
    checks(current_dashboard == rendered_dashboard, f"{DASHBOARD.relative_to(ROOT)} is rendered from {DASHBOARD_SOURCE.relative_to(ROOT)}", "run scripts/monitoring.py render")
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    # With the panel and query plugins registered, panels' options and field config and the
    # Prometheus queries are read into their own types too: a field none of them has is lost
    # on the way back, and the comparison fails.
    register_default_plugins()
    loaded = json.loads(current_dashboard)
    round_trip = json.loads(json.dumps(Dashboard.from_json(loaded), cls=JSONEncoder))
    checks(round_trip == loaded, "bv.json survives Dashboard.from_json -> to_json (no field the schema lacks)")
    panels = [p for p in loaded.get("panels", []) if p.get("type") != "row"]
    ids = [p.get("id") for p in loaded.get("panels", [])]
    checks(len(ids) == len(set(ids)) and None not in ids, f"{len(ids)} panels and rows, unique ids")
    queries = [(p["title"], t["expr"]) for p in panels for t in p.get("targets", [])]
    checks(all(p.get("description") for p in panels), "every panel says what it shows")

    print("==> metric names: bv's exist in the code, others come from a known exporter")
    exported = exported_metrics()
    checks(len(exported) > 20, f"read {len(exported)} sample names from {len(METRICS_SOURCES)} metrics.rs files")
    for where, exprs in [("rules.yaml", [r["expr"] for g in rules["groups"] for r in g["rules"]]), ("bv.json", [e for _, e in queries])]:
        for name in sorted({n for e in exprs for n in metric_names(e)}):
            check_metric(checks, where, name, exported, recorded)

    print("==> the dashboard's queries are PromQL (promtool check rules)")
    fill = {"$__rate_interval": "5m", "$namespace": ".*", "${datasource}": "prometheus"}
    groups = [{"name": "dashboard", "rules": []}]
    unknown = []
    for i, (title, expr) in enumerate(queries):
        for var, value in fill.items():
            expr = expr.replace(var, value)
        if "$" in expr:
            unknown.append(f"{title}: {expr}")
        groups[0]["rules"].append({"record": f"dashboard:query_{i}:check", "expr": expr})
    checks(not unknown, f"queries use only the variables {sorted(fill)}", "; ".join(unknown))
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        json.dump({"groups": groups}, f)  # JSON is YAML
        f.flush()
        result = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
    checks(result.returncode == 0, f"{len(queries)} queries parse", (result.stdout + result.stderr).strip())

    print(f"{checks.count} checks, {checks.failures} failed")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "render":
        render()
    elif command == "check":
        sys.exit(check())
    else:
        sys.exit(__doc__)
