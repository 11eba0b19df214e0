#!/usr/bin/env python3
"""Renders every documented composition of the Kubernetes package (deploy/k8s) with the real
tool, `kubectl kustomize`, and checks what comes out. `make docs-check` runs it.

For each composition (COMPOSITIONS below; deploy/README.md documents the same):

1. the built-in kinds against the Kubernetes API's schemas, strictly (an unknown field is an
   error), for Kubernetes 1.30 and for the newest version kubernetes-validate carries
   (tools/k8s-check/requirements.txt);
2. KEDA's and the Prometheus Operator's kinds against their CRDs' schemas
   (tools/k8s-check/crds), strictly too, with the CRDs' CEL rule;
3. that it renders what it says: exactly the objects of its parts, every secret reference to
   the chosen Secret and no Secret object, each worker Deployment's role (BV__WORKER__*) and
   the secrets that role needs, every reference resolved (autoscaler targets, trigger
   authentications, KEDA queue names, Service and PodDisruptionBudget selectors, Ingress
   backends, the ServiceMonitor's Services), autoscaled Deployments without `replicas` and the
   others with, the image set; with the NetworkPolicies, each pod isolated and allowed the
   traffic its role needs and not the traffic it does not (the broker for those that consume
   or publish, SMTP and public webhook addresses only for those that dispatch).

Usage: scripts/k8s-check.py [--keep]   (--keep leaves the overlays and renderings in
var/k8s-check/)
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import pathlib
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils as kv_utils
import referencing
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy/k8s"
WORK = ROOT / "var/k8s-check"
CRD_DIR = ROOT / "tools/k8s-check/crds"

# The oldest Kubernetes the package supports, and the newest the validator knows.
MIN_KUBERNETES = "1.30"

DEFAULT_SECRET = "bv-secrets"
IMAGE = "registry.example.com/bv:0.1.0"

# The CRDs, checked by sha256 (tools/k8s-check/crds/README.md says where they come from).
CRDS = {
    ("keda.sh", "ScaledObject"): (
        "keda.sh_scaledobjects.yaml",
        "af35555862a83933b074af14ad439c4b4ceabaf4daa3e9338e9b23e36d308d80",
    ),
    ("keda.sh", "TriggerAuthentication"): (
        "keda.sh_triggerauthentications.yaml",
        "275307b4cb19ca8f0f506a879282aa4c67587ac16ec757f494d6585c5c185d65",
    ),
    ("monitoring.coreos.com", "ServiceMonitor"): (
        "monitoring.coreos.com_servicemonitors.yaml",
        "a99047972c9dd7679ce2050b9968e8a08773492e671b3e17abd476d42aa78a32",
    ),
    ("monitoring.coreos.com", "PrometheusRule"): (
        "monitoring.coreos.com_prometheusrules.yaml",
        "78be98554b9c8506ab2b4f4feb91c5f3a56e536a0a510f3a8e876a459970d56d",
    ),
}


def _min_le_max(spec: dict) -> bool:
    return "minReplicaCount" not in spec or spec["minReplicaCount"] <= spec.get("maxReplicaCount", 100)


# The CEL rules (x-kubernetes-validations) the CRDs carry, evaluated here. A rule not in this
# table fails the check, so a newer CRD's new rule is noticed.
CEL_RULES = {
    "!has(self.minReplicaCount) || self.minReplicaCount <= (has(self.maxReplicaCount) ? "
    "self.maxReplicaCount : 100)": _min_le_max,
}

# What each component adds, by (kind, name); KEDA's objects apart (components/without-keda
# removes them).
OBJECTS = {
    "base": [("ConfigMap", "bv-config"), ("Job", "bv-migrate")],
    "ingress": [
        ("Deployment", "bv-ingress"),
        ("Service", "bv-ingress"),
        ("HorizontalPodAutoscaler", "bv-ingress"),
        ("PodDisruptionBudget", "bv-ingress"),
    ],
    "worker": [
        ("Deployment", "bv-worker"),
        ("Service", "bv-worker"),
        ("PodDisruptionBudget", "bv-worker"),
    ],
    "biometrics": [
        ("Deployment", "bv-worker-biometrics"),
        ("Service", "bv-worker-biometrics"),
        ("PodDisruptionBudget", "bv-worker-biometrics"),
    ],
    "dispatcher": [
        ("Deployment", "bv-worker-dispatcher"),
        ("Service", "bv-worker-dispatcher"),
        ("PodDisruptionBudget", "bv-worker-dispatcher"),
    ],
    "monitoring": [("ServiceMonitor", "bv"), ("PrometheusRule", "bv")],
    "network-policies": [
        ("NetworkPolicy", name)
        for name in (
            "bv-default-deny",
            "bv-dns",
            "bv-ingress-http",
            "bv-metrics",
            "bv-rabbitmq",
            "bv-postgresql",
            "bv-smtp",
            "bv-webhooks",
        )
    ],
    "http-ingress": [("Ingress", "bv")],
    "without-keda": [],
}
KEDA_OBJECTS = {
    "worker": [("ScaledObject", "bv-worker"), ("TriggerAuthentication", "bv-worker-rabbitmq")],
    "biometrics": [
        ("ScaledObject", "bv-worker-biometrics"),
        ("TriggerAuthentication", "bv-worker-biometrics-rabbitmq"),
    ],
    "dispatcher": [
        ("ScaledObject", "bv-worker-dispatcher"),
        ("TriggerAuthentication", "bv-worker-dispatcher-postgresql"),
    ],
}
# The queue each RabbitMQ trigger must count, after BV__AMQP__PREFIX and a dot.
KEDA_QUEUES = {
    "bv-worker": "biometric_validation.create",
    "bv-worker-biometrics": "biometric_validation.validate",
}
WORKERS = {"bv-worker", "bv-worker-biometrics", "bv-worker-dispatcher"}


@dataclass
class Composition:
    name: str
    what: str
    components: list[str] = field(default_factory=list)
    secret: str = DEFAULT_SECRET
    # A kustomization of the repository instead of a generated overlay.
    path: str | None = None
    # Another composition this one must render byte for byte.
    same_as: str | None = None
    # The package's services are not in it (the monitoring folder on its own).
    objects_only: bool = False


PARTS = ["ingress", "worker", "biometrics"]
COMPOSITIONS = [
    Composition("default", "deploy/k8s as it is: ingress, create worker (+ dispatcher), biometric role, KEDA",
                path="deploy/k8s"),
    Composition("no-ingress", "the ingress off", ["worker", "biometrics"]),
    Composition("no-worker", "the create worker off", ["ingress", "biometrics"]),
    Composition("no-biometrics", "the biometric role off", ["ingress", "worker"]),
    Composition("dispatcher", "the dispatcher in pods of its own", PARTS + ["dispatcher"]),
    Composition("dispatcher-first", "the same, the dispatcher listed first",
                ["dispatcher"] + PARTS, same_as="dispatcher"),
    Composition("dispatcher-only", "the dispatcher alone", ["dispatcher"]),
    Composition("without-keda", "KEDA off, every part", PARTS + ["dispatcher", "without-keda"]),
    Composition("monitoring", "with the ServiceMonitor and the PrometheusRule", PARTS + ["monitoring"]),
    Composition("network-policies", "with the NetworkPolicies", PARTS + ["network-policies"]),
    Composition("network-policies-dispatcher", "with the NetworkPolicies, the dispatcher apart",
                PARTS + ["dispatcher", "network-policies"]),
    Composition("http-ingress", "with the Ingress", PARTS + ["http-ingress"]),
    Composition("existing-secret", "an existing Secret of another name", PARTS, secret="bv-existing-secret"),
    Composition("production", "deploy/k8s/examples/production: everything, patched",
                path="deploy/k8s/examples/production"),
    Composition("monitoring-folder", "deploy/k8s/monitoring on its own", path="deploy/k8s/monitoring",
                objects_only=True),
]


class Report:
    def __init__(self) -> None:
        self.failures = 0
        self.checks = 0

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        self.checks += 1
        if not ok:
            self.failures += 1
            print(f"FAIL {what}" + (f": {detail}" if detail else ""))
        return ok


# ---------------------------------------------------------------------------------------------
# Rendering


def overlay(comp: Composition) -> pathlib.Path:
    """The directory to render: the repository's kustomization, or an overlay made for it."""
    if comp.path:
        return ROOT / comp.path
    directory = WORK / comp.name
    directory.mkdir(parents=True, exist_ok=True)
    up = "../../../deploy/k8s"
    lines = [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "resources:",
        f"  - {up}/base",
        "components:",
        *[f"  - {up}/components/{c}" for c in comp.components],
    ]
    if comp.secret != DEFAULT_SECRET:
        lines += [
            "configMapGenerator:",
            "  - name: bv-package",
            "    behavior: merge",
            "    literals:",
            f"      - secretName={comp.secret}",
        ]
    name, tag = IMAGE.rsplit(":", 1)
    lines += ["images:", "  - name: bv", f"    newName: {name}", f'    newTag: "{tag}"', ""]
    (directory / "kustomization.yaml").write_text("\n".join(lines))
    return directory


def from_kustomization(comp: Composition) -> None:
    """Reads the parts and the Secret's name of a kustomization of the repository."""
    k = yaml.safe_load((ROOT / comp.path / "kustomization.yaml").read_text())
    comp.components = [pathlib.PurePosixPath(c).name for c in k.get("components", [])]
    for gen in k.get("configMapGenerator", []):
        if gen.get("name") == "bv-package":
            for literal in gen.get("literals", []):
                key, _, value = literal.partition("=")
                if key == "secretName":
                    comp.secret = value


def render(directory: pathlib.Path) -> tuple[str, str]:
    proc = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True)
    return (proc.stdout if proc.returncode == 0 else ""), proc.stderr.strip()


# ---------------------------------------------------------------------------------------------
# Schemas


class CrdValidator:
    """An object against its CRD's openAPIV3Schema, strictly, and the CRD's CEL rules."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.schemas: dict[tuple[str, str, str], tuple[dict, dict]] = {}
        defs = kv_utils.schema_contents(
            f"kubernetes-json-schema/v{MIN_KUBERNETES}.0-local-strict/_definitions.json", MIN_KUBERNETES
        )
        self.registry = referencing.Resource.from_contents(defs) @ referencing.Registry()
        self.object_meta = {"$ref": f"{defs['$id']}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
        for (group, kind), (filename, sha256) in CRDS.items():
            path = CRD_DIR / filename
            data = path.read_bytes()
            if not report.check(hashlib.sha256(data).hexdigest() == sha256, f"{path.relative_to(ROOT)} sha256",
                                "not the file tools/k8s-check/crds/README.md lists"):
                continue
            crd = yaml.safe_load(data)
            assert crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind, filename
            for version in crd["spec"]["versions"]:
                if not version.get("served"):
                    continue
                raw = version["schema"]["openAPIV3Schema"]
                schema = strict(raw)
                schema["properties"]["metadata"] = self.object_meta
                self.schemas[(group, version["name"], kind)] = (schema, raw)

    @staticmethod
    def knows(obj: dict) -> bool:
        return (obj["apiVersion"].split("/")[0], obj["kind"]) in CRDS

    def validate(self, obj: dict, label: str) -> None:
        group, _, version = obj["apiVersion"].partition("/")
        entry = self.schemas.get((group, version, obj["kind"]))
        if not self.report.check(entry is not None, f"{label}: a served version of its CRD",
                                 f"{obj['apiVersion']} is not served by tools/k8s-check/crds"):
            return
        schema, raw = entry
        validator = jsonschema.Draft202012Validator(schema, registry=self.registry)
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
        for e in errors[:5]:
            self.report.check(False, f"{label} against its CRD", f"at .{'.'.join(map(str, e.path))}: {e.message}")
        if not errors:
            self.report.check(True, "")
        for path, rule, message in cel_rules(raw):
            node = obj
            for key in path:
                node = node.get(key, {}) if isinstance(node, dict) else {}
            fn = CEL_RULES.get(rule)
            if self.report.check(fn is not None, f"{label}: CEL rule evaluated",
                                 f"unknown rule {rule!r}: add it to CEL_RULES"):
                self.report.check(fn(node), f"{label}: CEL rule at .{'.'.join(path)}", message)


def strict(node):
    """A CRD schema as JSON Schema that refuses what the API server would drop or refuse: every
    object without x-kubernetes-preserve-unknown-fields accepts only the fields it names."""
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("description", "format", "x-kubernetes-validations", "x-kubernetes-list-type",
                   "x-kubernetes-list-map-keys", "x-kubernetes-map-type"):
            continue
        if key == "properties":
            out[key] = {name: strict(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = strict(value)
        else:
            out[key] = value
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if out.get("type") == "object" and not preserve and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def cel_rules(schema: dict, path: tuple = ()):
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, rule["rule"], rule.get("message", rule["rule"])
    for name, sub in schema.get("properties", {}).items():
        yield from cel_rules(sub, path + (name,))


def validate_objects(objs: list[dict], label: str, versions: list[str], crds: CrdValidator,
                     report: Report, seen: set) -> int:
    """Each object once per run (compositions share most of theirs); returns how many were new."""
    new = 0
    for obj in objs:
        key = json.dumps(obj, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        new += 1
        what = f"{label}: {obj['kind']}/{obj['metadata']['name']}"
        if crds.knows(obj):
            crds.validate(obj, what)
            continue
        for version in versions:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
                report.check(True, "")
            except kubernetes_validate.ValidationError as e:
                report.check(False, f"{what} against Kubernetes {version} (strict)",
                             f"at .{'.'.join(map(str, e.path))}: {e.message}")
            except kv_utils.SchemaNotFoundError as e:
                report.check(False, f"{what} against Kubernetes {version}", e.message)
    return new


# ---------------------------------------------------------------------------------------------
# What a composition says


def selects(selector: dict, labels: dict) -> bool:
    """A label selector (matchLabels, matchExpressions; or a Service's plain map) on labels."""
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def env_of(deploy: dict) -> dict:
    env = {}
    for c in deploy["spec"]["template"]["spec"]["containers"]:
        for e in c.get("env", []):
            env[e["name"]] = e
    return env


def role_of(deploy: dict) -> tuple[bool, bool, bool]:
    """(creates, dispatch, biometrics) as the worker reads them: each true unless set false."""
    env = env_of(deploy)
    flag = lambda name: env.get(name, {}).get("value", "true") == "true"  # noqa: E731
    return flag("BV__WORKER__CREATES"), flag("BV__WORKER__DISPATCH"), flag("BV__WORKER__BIOMETRICS")


def secret_keys(pod_owner: dict) -> set[str]:
    return {e["name"] for e in env_of(pod_owner).values() if "secretKeyRef" in e.get("valueFrom", {})}


def check_composition(comp: Composition, objs: list[dict], report: Report) -> None:
    label = comp.name
    by = {(o["kind"], o["metadata"]["name"]): o for o in objs}
    of = lambda kind: [o for o in objs if o["kind"] == kind]  # noqa: E731
    report.check(len(by) == len(objs), f"{label}: no object twice")

    keda = "without-keda" not in comp.components
    expected = set() if comp.objects_only else set(OBJECTS["base"])
    for c in comp.components:
        report.check(c in OBJECTS, f"{label}: component {c} is known to scripts/k8s-check.py")
        expected |= set(OBJECTS.get(c, []))
        if keda:
            expected |= set(KEDA_OBJECTS.get(c, []))
    if comp.objects_only:
        expected = set(OBJECTS["monitoring"])
    missing, extra = expected - set(by), set(by) - expected
    report.check(not missing and not extra, f"{label}: exactly its parts' objects",
                 f"missing {sorted(missing)}, unexpected {sorted(extra)}")
    report.check(not of("Secret"), f"{label}: no Secret (secrets are referenced, never created)")
    if comp.objects_only:
        return

    deployments = {o["metadata"]["name"]: o for o in of("Deployment")}
    owners = list(deployments.values()) + of("Job")
    config = by.get(("ConfigMap", "bv-config"), {}).get("data", {})

    # Secrets by reference, all to the one Secret.
    refs = [e["valueFrom"]["secretKeyRef"]["name"] for o in owners for e in env_of(o).values()
            if "secretKeyRef" in e.get("valueFrom", {})]
    refs += [r["name"] for t in of("TriggerAuthentication") for r in t["spec"].get("secretTargetRef", [])]
    report.check(refs and set(refs) == {comp.secret}, f"{label}: every secret reference is to {comp.secret}",
                 f"found {sorted(set(refs))}")

    for o in owners:
        name = o["metadata"]["name"]
        spec = o["spec"]["template"]["spec"]
        for c in spec["containers"]:
            report.check(c["image"] == IMAGE or (comp.path and ":" in c["image"] and c["image"] != "bv"),
                         f"{label}: {name}'s image is set", c["image"])
            for ef in c.get("envFrom", []):
                ref = ef.get("configMapRef", {}).get("name")
                report.check(ref is None or ("ConfigMap", ref) in by, f"{label}: {name}'s envFrom {ref} exists")
        if o["kind"] == "Deployment":
            report.check(selects(o["spec"]["selector"], o["spec"]["template"]["metadata"]["labels"]),
                         f"{label}: {name}'s selector selects its pods")

    # The roles, and what each needs from the Secret.
    dispatching = []
    for name, d in deployments.items():
        keys = secret_keys(d)
        if name == "bv-ingress":
            need = {"BV__DATABASE__URL", "BV__AMQP__URL", "BV__AUTH__JWT_SECRET", "BV__BIOMETRICS__SIGNING_KEYS"}
            report.check(need <= keys, f"{label}: bv-ingress has the secrets it needs",
                         f"missing {sorted(need - keys)}")
            report.check("BV__BIOMETRICS__TEMPLATE_KEYS" not in keys, f"{label}: bv-ingress has no template keys")
            continue
        creates, dispatch, biometrics = role_of(d)
        want = {
            "bv-worker": (True, "dispatcher" not in comp.components, False),
            "bv-worker-biometrics": (False, False, True),
            "bv-worker-dispatcher": (False, True, False),
        }.get(name)
        report.check(want == (creates, dispatch, biometrics),
                     f"{label}: {name}'s role (creates, dispatch, biometrics)",
                     f"{(creates, dispatch, biometrics)}, expected {want}")
        label_value = d["spec"]["template"]["metadata"]["labels"].get("biometric-validations/dispatch", "false")
        report.check(label_value == str(dispatch).lower(), f"{label}: {name}'s dispatch label matches its role",
                     label_value)
        if dispatch:
            dispatching.append(name)
        need = {"BV__DATABASE__URL", "BV__BIOMETRICS__SIGNING_KEYS"}
        need |= {"BV__AMQP__URL"} if creates or biometrics else set()
        need |= {"BV__BIOMETRICS__TEMPLATE_KEYS"} if biometrics else set()
        need |= {"BV__EMAIL__SMTP_URL"} if dispatch else set()
        report.check(need <= keys, f"{label}: {name} has the secrets its role needs",
                     f"missing {sorted(need - keys)}")
        report.check(biometrics or "BV__BIOMETRICS__TEMPLATE_KEYS" not in keys,
                     f"{label}: {name} has no template keys (not the biometric role)")
        report.check("BV__AUTH__JWT_SECRET" not in keys, f"{label}: {name} has no JWT secret")
    if {"worker", "dispatcher"} & set(comp.components):
        report.check(len(dispatching) == 1, f"{label}: exactly one Deployment dispatches", f"{dispatching}")
    for job in of("Job"):
        report.check(secret_keys(job) == {"BV__DATABASE__URL"},
                     f"{label}: the migration Job has the database URL only")

    # Autoscaling: KEDA or the HPA owns the replicas of what it scales; the rest have a count.
    scaled = {}
    for so in of("ScaledObject"):
        target = so["spec"]["scaleTargetRef"]
        scaled[target["name"]] = "ScaledObject"
        report.check(target.get("kind", "Deployment") == "Deployment" and target["name"] in deployments,
                     f"{label}: ScaledObject {so['metadata']['name']} targets a Deployment of the composition")
        for trigger in so["spec"]["triggers"]:
            auth = trigger.get("authenticationRef", {}).get("name")
            report.check(("TriggerAuthentication", auth) in by,
                         f"{label}: ScaledObject {so['metadata']['name']}'s TriggerAuthentication {auth} exists")
            if trigger["type"] == "rabbitmq":
                queue = f"{config.get('BV__AMQP__PREFIX', 'bv')}.{KEDA_QUEUES.get(target['name'])}"
                report.check(trigger["metadata"].get("queueName") == queue,
                             f"{label}: ScaledObject {so['metadata']['name']} counts {queue}",
                             trigger["metadata"].get("queueName"))
    for hpa in of("HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        scaled[target["name"]] = "HorizontalPodAutoscaler"
        report.check(target["kind"] == "Deployment" and target["name"] in deployments,
                     f"{label}: HPA {hpa['metadata']['name']} targets a Deployment of the composition")
    for name, d in deployments.items():
        replicas = d["spec"].get("replicas")
        if name in scaled:
            report.check(replicas is None, f"{label}: {name} has no replicas (its {scaled[name]} owns them)")
        else:
            report.check(replicas is not None and replicas >= 2, f"{label}: {name} has a fixed count of 2 or more",
                         f"replicas {replicas}")

    # Selectors and references.
    pods = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}
    ports = {n: {p["name"]: p["containerPort"] for c in d["spec"]["template"]["spec"]["containers"]
                 for p in c.get("ports", [])} for n, d in deployments.items()}
    for pdb in of("PodDisruptionBudget"):
        hits = [n for n, labels in pods.items() if selects(pdb["spec"]["selector"], labels)]
        report.check(hits == [pdb["metadata"]["name"]],
                     f"{label}: PDB {pdb['metadata']['name']} covers its Deployment only",
                     f"{hits}")
    for name in deployments:
        report.check(("PodDisruptionBudget", name) in by, f"{label}: {name} has a PodDisruptionBudget")
    for svc in of("Service"):
        hits = [n for n, labels in pods.items() if selects(svc["spec"]["selector"], labels)]
        report.check(len(hits) == 1, f"{label}: Service {svc['metadata']['name']} selects one Deployment's pods",
                     f"{hits}")
        for p in svc["spec"]["ports"]:
            report.check(all(p["targetPort"] in ports[h] for h in hits),
                         f"{label}: Service {svc['metadata']['name']}'s targetPort {p['targetPort']} exists")
    for ing in of("Ingress"):
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                svc = by.get(("Service", backend["name"]))
                report.check(svc is not None and backend["port"]["name"] in {p["name"] for p in svc["spec"]["ports"]},
                             f"{label}: Ingress path {path['path']} reaches Service "
                             f"{backend['name']}:{backend['port']['name']}")
        hosts = {r["host"] for r in ing["spec"]["rules"]}
        tls_hosts = {h for t in ing["spec"].get("tls", []) for h in t["hosts"]}
        report.check(hosts == tls_hosts, f"{label}: the Ingress' TLS covers its hosts")
        link_host = config.get("BV__LINKS__BASE_URL", "").split("/")[2:3]
        report.check(hosts == set(link_host), f"{label}: the Ingress serves BV__LINKS__BASE_URL's host",
                     f"{sorted(hosts)} vs {link_host}")
        report.check(config.get("BV__HTTP__CLIENT_IP_HEADER") == "x-forwarded-for",
                     f"{label}: behind the Ingress, bv-ingress reads the client's address from X-Forwarded-For")
    for sm in of("ServiceMonitor"):
        for ep in sm["spec"]["endpoints"]:
            hits = [s["metadata"]["name"] for s in of("Service")
                    if selects(sm["spec"]["selector"], s["metadata"]["labels"])
                    and ep["port"] in {p["name"] for p in s["spec"]["ports"]}]
            report.check(sorted(hits) == sorted(deployments),
                         f"{label}: the ServiceMonitor scrapes every Deployment's Service",
                         f"{sorted(hits)}")

    if of("NetworkPolicy"):
        network_policies(label, deployments, of("Job"), of("NetworkPolicy"), report)


def in_block(peers: list, address) -> bool:
    """Whether one of the ipBlock peers lets this address through."""
    for peer in peers:
        block = peer.get("ipBlock")
        if block is None:
            continue
        net = ipaddress.ip_network(block["cidr"])
        if address.version != net.version or address not in net:
            continue
        excepted = [ipaddress.ip_network(e) for e in block.get("except", [])]
        if not any(address.version == e.version and address in e for e in excepted):
            return True
    return False


def port_set(rule: dict, named: dict | None = None) -> set:
    """A rule's (protocol, port) pairs, named ports resolved; {"*"} when it names none (all)."""
    if not rule.get("ports"):
        return {"*"}
    named = named or {}
    return {(p.get("protocol", "TCP"), named.get(p["port"], p["port"])) for p in rule["ports"]}


def network_policies(label: str, deployments: dict, jobs: list, policies: list, report: Report) -> None:
    """Evaluates the NetworkPolicies for each pod: what may reach it, what it may reach."""
    metadata = ipaddress.ip_address("169.254.169.254")
    private = [ipaddress.ip_address(a) for a in
               ("10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "100.64.0.1", "fd00::1")]
    public = [ipaddress.ip_address(a) for a in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")]

    for owner in list(deployments.values()) + jobs:
        name = owner["metadata"]["name"]
        template = owner["spec"]["template"]
        named = {p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
        mine = [p["spec"] for p in policies if selects(p["spec"]["podSelector"], template["metadata"]["labels"])]
        types = {t for p in mine for t in p.get("policyTypes", ["Ingress"])}
        report.check(types == {"Ingress", "Egress"}, f"{label}: {name} is isolated both ways", f"{sorted(types)}")
        ingress = [r for p in mine if "Ingress" in p.get("policyTypes", ["Ingress"]) for r in p.get("ingress", [])]
        egress = [r for p in mine if "Egress" in p.get("policyTypes", []) for r in p.get("egress", [])]
        from_anyone = set().union(*[port_set(r, named) for r in ingress if not r.get("from")])
        from_peers = set().union(*[port_set(r, named) for r in ingress if r.get("from")])

        def out(proto: str, port: int) -> list:
            return [r for r in egress if "*" in port_set(r) or (proto, port) in port_set(r)]

        role = role_of(owner) if name in WORKERS else None
        uses_broker = name == "bv-ingress" or (role is not None and (role[0] or role[2]))
        dispatches = role is not None and role[1]
        # In.
        if name == "bv-ingress":
            report.check(("TCP", 8080) in from_anyone, f"{label}: anyone may reach bv-ingress:8080")
        elif name in WORKERS:
            report.check(("TCP", 9090) in from_peers and not from_anyone,
                         f"{label}: only the named scrapers may reach {name}:9090", f"{from_peers} / {from_anyone}")
        else:
            report.check(not ingress, f"{label}: nothing may reach {name}")
        # Out.
        report.check(bool(out("UDP", 53)) and bool(out("TCP", 53)), f"{label}: {name} may resolve names")
        report.check(bool(out("TCP", 5432)), f"{label}: {name} may reach PostgreSQL")
        report.check(bool(out("TCP", 5672)) == uses_broker,
                     f"{label}: {name} " + ("may reach RabbitMQ (it uses it)" if uses_broker
                                            else "may not reach RabbitMQ (it does not use it)"))
        for port in (25, 465, 587, 80, 443):
            report.check(bool(out("TCP", port)) == dispatches,
                         f"{label}: {name} " + (f"may reach port {port} (it dispatches)" if dispatches
                                                else f"may not reach port {port} (it does not dispatch)"))
        for rule in out("TCP", 443):
            peers = rule.get("to")
            report.check(bool(peers), f"{label}: {name}'s webhook egress names its addresses")
            if peers:
                report.check(not in_block(peers, metadata), f"{label}: {name} may not reach the metadata endpoint")
                report.check(not any(in_block(peers, a) for a in private),
                             f"{label}: {name} may not reach private addresses on 443")
                report.check(all(in_block(peers, a) for a in public),
                             f"{label}: {name} may reach public addresses on 443 (IPv4, IPv6)")


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave var/k8s-check/ in place")
    args = parser.parse_args()

    report = Report()
    versions = [MIN_KUBERNETES, kv_utils.latest_version()]
    crds = CrdValidator(report)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)

    # Every component is in some composition.
    used = set()
    for comp in COMPOSITIONS:
        if comp.path and not comp.objects_only:
            from_kustomization(comp)
        used |= set(comp.components)
    for directory in sorted((K8S / "components").iterdir()):
        report.check(directory.name in used, f"components/{directory.name} is rendered by some composition")

    rendered: dict[str, str] = {}
    seen: set = set()
    print(f"Kubernetes {' and '.join(versions)} (kubernetes-validate {kubernetes_validate.__version__}, --strict); "
          f"CRDs: KEDA v2.20.2, prometheus-operator v0.93.0 (tools/k8s-check/crds)")
    for comp in COMPOSITIONS:
        failures = report.failures
        directory = overlay(comp)
        text, err = render(directory)
        if not report.check(bool(text), f"{comp.name}: kubectl kustomize {directory.relative_to(ROOT)}", err):
            continue
        rendered[comp.name] = text
        (WORK / f"{comp.name}.yaml").write_text(text)
        objs = [o for o in yaml.safe_load_all(text) if o]
        if comp.same_as:
            report.check(text == rendered.get(comp.same_as), f"{comp.name}: renders exactly as {comp.same_as}")
        new = validate_objects(objs, comp.name, versions, crds, report, seen)
        check_composition(comp, objs, report)
        kinds = sorted({o["kind"] for o in objs})
        status = "ok" if report.failures == failures else "FAILED"
        print(f"  {status:6} {comp.name:28} {len(objs):2} objects ({new} not seen before validated): {comp.what}")
        if not comp.objects_only:
            print(f"         components: {', '.join(comp.components) or '-'}"
                  + (f"; secret {comp.secret}" if comp.secret != DEFAULT_SECRET else "")
                  + f"; kinds: {', '.join(kinds)}")
    if not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)
    print(f"{len(rendered)} compositions rendered, {len(seen)} distinct objects validated, "
          f"{report.checks} checks, {report.failures} failed")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
