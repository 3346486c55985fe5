#!/usr/bin/env python3
"""Checks the deployment files (issue 18, docs/deploy.md): what matters in them, beyond
"the tool accepts it".

  check_deploy.py [--root DIR] [--bin-dir DIR]   all checks on the repository at --root
                                                 (default ../..), its programs in --bin-dir

Kubernetes: each overlay in deploy/k8s/overlays/ is rendered with `kubectl kustomize`, and in
what comes out:
  - every field is one its API type has (the Kubernetes python client's models);
  - every container has a liveness and a readiness probe (a named port it probes exists),
    resource requests and limits for cpu and memory (requests <= limits), and the security
    context: runAsNonRoot (container or pod), readOnlyRootFilesystem, no privilege
    escalation, all capabilities dropped, not privileged;
  - every Secret, ConfigMap, key, Service, port, volume and PVC template a workload, Service,
    Ingress, HorizontalPodAutoscaler or PodDisruptionBudget refers to exists (Secrets made out
    of band are those the overlay's external-secrets.yaml lists, with their keys), Services
    and PDBs select pods that exist, and the brokers' StatefulSet names a headless Service;
  - the broker list (YARD_BROKER, or `broker:` in the mounted config file) that every actor
    and gateway container gets names every pod of the brokers' StatefulSet, on the port the
    broker binds, and nothing else;
  - HPAs scale existing Deployments (never the brokers: their count is the list's), every
    gateway and every stateless actor has one, and every workload has a PDB.
Compose: `docker-compose config -q` accepts deploy/compose.yaml, and in the model it prints
every service is read-only, non-root, drops all capabilities, has no-new-privileges and a
healthcheck; clients name the broker service; a broker without CURVE publishes no port.
Dockerfile: multi-stage on Debian bookworm, the last stage runs as a fixed non-root UID,
copies the programs from the build stage and installs no compiler but the Debian package of
every library the built programs link (with --bin-dir); build packages are
scripts/install-deps.sh's; no secret is baked in (ENV/ARG/COPY); .dockerignore keeps the
history, build trees and secrets out of the context.

Each check_* function takes parsed input and returns a list of findings (strings), so
test_check_deploy.py can feed it broken copies and see each check fail. Exit status: 0 when
nothing is found, 1 when something is (one line each), 2 when a tool is missing.
"""
import argparse
import base64
import copy
import os
import re
import shutil
import subprocess
import sys

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the machine
    sys.stderr.write("check_deploy: PyYAML is missing: run scripts/install-deps.sh "
                     "(Debian package python3-yaml)\n")
    sys.exit(2)

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
# Actors that keep state: several pods of one need Redis, and an HPA does not fit them.
STATEFUL_ACTORS = {"auth", "dns", "gmail", "health", "scheduler", "telegram"}
PROGRAMS = ("yard-broker", "yard-actor", "yard-gateway", "yard")


class ToolMissing(Exception):
    """A program the checks need is not installed (the message says how to get it)."""


# ------------------------------------------------------------------ rendering and loading

def kustomize(overlay):
    """The documents `kubectl kustomize overlay` prints; raises ToolMissing or RuntimeError."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        raise ToolMissing("kubectl is not installed: run scripts/install-deps.sh "
                          "(it renders deploy/k8s with `kubectl kustomize`)")
    run = subprocess.run([kubectl, "kustomize", overlay], capture_output=True, text=True,
                         timeout=120, check=False)
    if run.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {overlay} failed: {run.stderr.strip()}")
    return [d for d in yaml.safe_load_all(run.stdout) if d]


def external_secrets(overlay):
    """{name: set(keys)} from overlay/external-secrets.yaml, or {} without one."""
    path = os.path.join(overlay, "external-secrets.yaml")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    return {name: set(keys or []) for name, keys in data.items()}


def compose_model(path):
    """The compose file as docker-compose resolves it (anchors, merges, defaults), after
    `docker-compose config -q` accepted it. Raises ToolMissing or RuntimeError."""
    exe = shutil.which("docker-compose")
    if not exe:
        raise ToolMissing("docker-compose is not installed: run scripts/install-deps.sh "
                          "(Debian package docker-compose)")
    base = [exe, "-f", path]
    check = subprocess.run(base + ["config", "-q"], capture_output=True, text=True,
                           timeout=120, check=False)
    if check.returncode != 0:
        raise RuntimeError(f"docker-compose config -q {path}: {check.stderr.strip()}")
    out = subprocess.run(base + ["config"], capture_output=True, text=True, timeout=120,
                         check=True)
    return yaml.safe_load(out.stdout)


# ------------------------------------------------------------------ small helpers

def kname(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def pod_spec(doc):
    spec = doc.get("spec", {})
    if doc.get("kind") == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return spec.get("template", {}).get("spec", {})


def pod_labels(doc):
    spec = doc.get("spec", {})
    if doc.get("kind") == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return spec.get("template", {}).get("metadata", {}).get("labels", {}) or {}


def workloads(docs):
    return [d for d in docs if d.get("kind") in WORKLOADS]


def of_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}


def selects(selector, labels):
    """True when a selector (a workload's or PDB's {matchLabels}, or a Service's plain map)
    selects labels. matchExpressions are not used here: refused rather than guessed."""
    if not selector or selector.get("matchExpressions"):
        return False
    match = selector.get("matchLabels", {}) if ("matchLabels" in selector or
                                                  "matchExpressions" in selector) else selector
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def program(container):
    cmd = (container.get("command") or []) + (container.get("args") or [])
    return cmd[0] if cmd else ""


def actor_name(container):
    cmd = (container.get("command") or []) + (container.get("args") or [])
    return cmd[1] if len(cmd) > 1 and cmd[0] == "yard-actor" else None


_UNITS = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
          "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4}


def quantity(value):
    """A Kubernetes quantity as a float ("250m" -> 0.25, "64Mi" -> 67108864)."""
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value))
    if not m or m.group(2) not in _UNITS:
        raise ValueError(f"not a quantity: {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


# ------------------------------------------------------------------ Kubernetes: containers

def _probe_findings(where, container, which):
    probe = container.get(which)
    if not probe:
        return [f"{where}: no {which}"]
    handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if h in probe]
    if len(handlers) != 1:
        return [f"{where}: {which} needs exactly one of exec, httpGet, tcpSocket, grpc"]
    h = handlers[0]
    if h == "exec":
        return [] if probe["exec"].get("command") else [f"{where}: {which} runs no command"]
    port = probe[h].get("port")
    names = {p.get("name") for p in container.get("ports", [])}
    numbers = {p.get("containerPort") for p in container.get("ports", [])}
    if isinstance(port, str) and port not in names:
        return [f"{where}: {which} probes port '{port}', which the container does not name"]
    if isinstance(port, int) and port not in numbers:
        return [f"{where}: {which} probes port {port}, which the container does not expose"]
    return []


def _resource_findings(where, container):
    res = container.get("resources") or {}
    out = []
    for part in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in (res.get(part) or {}):
                out.append(f"{where}: no {r} in resources.{part}")
    for r in ("cpu", "memory"):
        req, lim = (res.get("requests") or {}).get(r), (res.get("limits") or {}).get(r)
        if req is not None and lim is not None:
            try:
                if quantity(req) > quantity(lim):
                    out.append(f"{where}: {r} request {req} is above its limit {lim}")
            except ValueError as e:
                out.append(f"{where}: {e}")
    return out


def _security_findings(where, container, pod):
    sc = container.get("securityContext") or {}
    psc = pod.get("securityContext") or {}
    out = []
    non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
    if non_root is not True:
        out.append(f"{where}: runAsNonRoot is not true")
    if sc.get("runAsUser", psc.get("runAsUser")) == 0:
        out.append(f"{where}: runs as UID 0")
    if sc.get("readOnlyRootFilesystem") is not True:
        out.append(f"{where}: readOnlyRootFilesystem is not true")
    if sc.get("allowPrivilegeEscalation") is not False:
        out.append(f"{where}: allowPrivilegeEscalation is not false")
    if sc.get("privileged"):
        out.append(f"{where}: privileged")
    caps = sc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        out.append(f"{where}: capabilities.drop does not hold ALL")
    if caps.get("add"):
        out.append(f"{where}: adds capabilities {caps['add']}")
    return out


def _actor_probe_findings(where, container):
    """An actor's probes ask for a replica of its own service, in its own pod."""
    name = actor_name(container)
    if not name:
        return []
    out = []
    for which in ("livenessProbe", "readinessProbe"):
        cmd = ((container.get(which) or {}).get("exec") or {}).get("command") or []
        text = " ".join(cmd)
        if not re.search(rf"\byard ping\b.*--service[ =]{re.escape(name)}(\s|$)", text):
            out.append(f"{where}: {which} does not ask `yard ping --service {name}`")
        elif "--local" not in cmd and "--replica" not in text:
            out.append(f"{where}: {which} asks for any replica of {name}, not this pod's "
                       "(--local)")
    return out


def check_containers(docs):
    """Probes, resources and security context of every container of every workload."""
    out = []
    for w in workloads(docs):
        pod = pod_spec(w)
        if not pod.get("containers"):
            out.append(f"{kname(w)}: no containers")
        for c in pod.get("containers", []):
            where = f"{kname(w)} container {c.get('name')}"
            out += _probe_findings(where, c, "livenessProbe")
            out += _probe_findings(where, c, "readinessProbe")
            out += _actor_probe_findings(where, c)
            out += _resource_findings(where, c)
            out += _security_findings(where, c, pod)
            if not c.get("image"):
                out.append(f"{where}: no image")
        for c in pod.get("initContainers", []):  # no probes: they run to completion
            where = f"{kname(w)} init container {c.get('name')}"
            out += _resource_findings(where, c) + _security_findings(where, c, pod)
    return out


# ------------------------------------------------------------------ Kubernetes: references

class _Objects:
    """The ConfigMaps, Secrets (rendered and out of band) and Services of one rendering."""

    def __init__(self, docs, external):
        self.configmaps = {n: set((d.get("data") or {}).keys()) |
                           set((d.get("binaryData") or {}).keys())
                           for n, d in of_kind(docs, "ConfigMap").items()}
        self.secrets = {n: set((d.get("data") or {}).keys()) |
                        set((d.get("stringData") or {}).keys())
                        for n, d in of_kind(docs, "Secret").items()}
        for name, keys in external.items():
            self.secrets.setdefault(name, set()).update(keys)
        self.services = of_kind(docs, "Service")

    def need(self, where, kind, name, key=None, optional=False):
        table = self.configmaps if kind == "ConfigMap" else self.secrets
        if optional:
            return []
        if name not in table:
            hint = " (nor listed in external-secrets.yaml)" if kind == "Secret" else ""
            return [f"{where}: refers to {kind} '{name}', which does not exist{hint}"]
        if key is not None and key not in table[name]:
            return [f"{where}: refers to key '{key}' of {kind} '{name}', which has no such key"]
        return []


def _env_refs(where, c, objs):
    out = []
    for e in c.get("env", []):
        src = e.get("valueFrom") or {}
        for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            if field in src:
                r = src[field]
                out += objs.need(f"{where} env {e.get('name')}", kind, r.get("name"),
                                 r.get("key"), r.get("optional", False))
    for e in c.get("envFrom", []):
        for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            if field in e:
                r = e[field]
                out += objs.need(f"{where} envFrom", kind, r.get("name"), None,
                                 r.get("optional", False))
    return out


def _volume_refs(where, w, pod, objs, claims):
    out = []
    names = set()
    for v in pod.get("volumes", []):
        names.add(v.get("name"))
        vw = f"{where} volume {v.get('name')}"
        sources = [v] + [s for s in (v.get("projected") or {}).get("sources", [])]
        for s in sources:
            if "configMap" in s:
                r = s["configMap"]
                out += objs.need(vw, "ConfigMap", r.get("name"), None, r.get("optional", False))
                for item in r.get("items", []):
                    out += objs.need(vw, "ConfigMap", r.get("name"), item.get("key"),
                                     r.get("optional", False))
            if "secret" in s:
                r = s["secret"]
                name = r.get("secretName", r.get("name"))
                out += objs.need(vw, "Secret", name, None, r.get("optional", False))
                for item in r.get("items", []):
                    out += objs.need(vw, "Secret", name, item.get("key"), r.get("optional", False))
        claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
        if "persistentVolumeClaim" in v and claim not in claims:
            out.append(f"{vw}: refers to PersistentVolumeClaim '{claim}', which does not exist")
    templates = {t["metadata"]["name"] for t in w.get("spec", {}).get("volumeClaimTemplates", [])}
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        for m in c.get("volumeMounts", []):
            if m.get("name") not in names | templates:
                out.append(f"{where} container {c.get('name')}: mounts volume '{m.get('name')}', "
                           "which the pod does not have")
    return out


def _service_port(svc, port):
    """The Service's port entry matching a backend's port (name or number), or None."""
    for p in svc.get("spec", {}).get("ports", []):
        if port.get("name") is not None and p.get("name") == port.get("name"):
            return p
        if port.get("number") is not None and p.get("port") == port.get("number"):
            return p
    return None


def _service_refs(docs, objs):
    out = []
    pods = [(w, pod_labels(w), pod_spec(w)) for w in workloads(docs)]
    for name, svc in objs.services.items():
        sel = svc.get("spec", {}).get("selector")
        if sel is None:
            continue  # an ExternalName or manually fed Service
        chosen = [(w, p) for w, labels, p in pods if selects(sel, labels)]
        if not chosen:
            out.append(f"Service/{name}: its selector {sel} matches no workload's pods")
            continue
        for p in svc["spec"].get("ports", []):
            target = p.get("targetPort", p.get("port"))
            for w, spec in chosen:
                cports = [cp for c in spec.get("containers", []) for cp in c.get("ports", [])]
                if isinstance(target, str) and target not in {cp.get("name") for cp in cports}:
                    out.append(f"Service/{name} port {p.get('name')}: targetPort '{target}' is "
                               f"not a named port of {kname(w)}")
    for w in workloads(docs):
        if not selects(w.get("spec", {}).get("selector"), pod_labels(w)):
            out.append(f"{kname(w)}: its selector does not match its own pod labels")
        if w["kind"] == "StatefulSet":
            sname = w["spec"].get("serviceName")
            svc = objs.services.get(sname)
            if not svc:
                out.append(f"{kname(w)}: serviceName '{sname}' is not a Service")
            elif svc["spec"].get("clusterIP") != "None":
                out.append(f"{kname(w)}: Service '{sname}' is not headless (clusterIP: None), "
                           "so its pods get no stable DNS names")
            elif not selects(svc["spec"].get("selector"), pod_labels(w)):
                out.append(f"{kname(w)}: Service '{sname}' does not select its pods")
    for name, ing in of_kind(docs, "Ingress").items():
        spec = ing.get("spec", {})
        backends = [spec["defaultBackend"]] if spec.get("defaultBackend") else []
        for rule in spec.get("rules", []):
            backends += [p.get("backend", {}) for p in rule.get("http", {}).get("paths", [])]
        for b in backends:
            s = b.get("service", {})
            svc = objs.services.get(s.get("name"))
            if not svc:
                out.append(f"Ingress/{name}: backend Service '{s.get('name')}' does not exist")
            elif _service_port(svc, s.get("port", {})) is None:
                out.append(f"Ingress/{name}: Service '{s.get('name')}' has no port {s.get('port')}")
        for tls in spec.get("tls", []):
            if tls.get("secretName"):
                out += objs.need(f"Ingress/{name} tls", "Secret", tls["secretName"])
    return out


def check_references(docs, external):
    """Every Secret, ConfigMap, key, Service, port, volume and claim referred to exists."""
    objs = _Objects(docs, external)
    claims = set(of_kind(docs, "PersistentVolumeClaim"))
    out = []
    for w in workloads(docs):
        pod = pod_spec(w)
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            out += _env_refs(f"{kname(w)} container {c.get('name')}", c, objs)
        out += _volume_refs(kname(w), w, pod, objs, claims)
        for s in pod.get("imagePullSecrets", []):
            out += objs.need(f"{kname(w)} imagePullSecrets", "Secret", s.get("name"))
    out += _service_refs(docs, objs)
    return out


# ------------------------------------------------------------------ Kubernetes: brokers

def _env_value(container, pod, objs, var):
    """The value of var in container as Kubernetes would set it, or None."""
    for e in container.get("env", []):
        if e.get("name") != var:
            continue
        if "value" in e:
            return str(e["value"])
        src = e.get("valueFrom") or {}
        r = src.get("configMapKeyRef") or src.get("secretKeyRef")
        if r:
            table = objs["ConfigMap" if "configMapKeyRef" in src else "Secret"]
            return table.get(r.get("name"), {}).get(r.get("key"))
        return None
    for e in reversed(container.get("envFrom", [])):
        r = e.get("configMapRef") or e.get("secretRef")
        table = objs["ConfigMap" if "configMapRef" in e else "Secret"]
        data = table.get(r.get("name"), {}) if r else {}
        if var in data:
            return data[var]
    return None


def _config_file_broker(container, pod, cms):
    """`broker:` from the config file YARD_CONFIG names, when a ConfigMap volume holds it."""
    path = _env_value(container, pod, {"ConfigMap": cms, "Secret": {}}, "YARD_CONFIG")
    if not path:
        return None
    vols = {v.get("name"): v for v in pod.get("volumes", [])}
    for m in container.get("volumeMounts", []):
        mount = m.get("mountPath", "").rstrip("/") + "/"
        v = vols.get(m.get("name"), {})
        if path.startswith(mount) and "configMap" in v:
            text = cms.get(v["configMap"].get("name"), {}).get(path[len(mount):])
            if text:
                value = (yaml.safe_load(text) or {}).get("broker")
                return str(value) if value is not None else None
    return None


def check_broker_list(docs):
    """The broker list each actor and gateway container gets names every broker pod."""
    brokers = [w for w in workloads(docs)
               if any(program(c) == "yard-broker" for c in pod_spec(w).get("containers", []))]
    if len(brokers) != 1 or brokers[0]["kind"] != "StatefulSet":
        return [f"expected the brokers as one StatefulSet, found {[kname(b) for b in brokers]}"]
    sts = brokers[0]
    name, svc = sts["metadata"]["name"], sts["spec"].get("serviceName")
    replicas = sts["spec"].get("replicas", 1)
    ns = sts["metadata"].get("namespace")
    cms = {n: d.get("data") or {} for n, d in of_kind(docs, "ConfigMap").items()}
    secrets = {n: dict({k: base64.b64decode(v).decode("utf-8", "replace")
                        for k, v in (d.get("data") or {}).items()}, **(d.get("stringData") or {}))
               for n, d in of_kind(docs, "Secret").items()}
    objs = {"ConfigMap": cms, "Secret": secrets}
    bcont = next(c for c in pod_spec(sts)["containers"] if program(c) == "yard-broker")
    bind = _env_value(bcont, pod_spec(sts), objs, "YARD_BIND") or ""
    m = re.search(r":(\d+)$", bind.split(",")[0])
    port = m.group(1) if m else None
    expected = {f"{name}-{i}.{svc}" for i in range(replicas)}
    suffixes = [""] + ([f".{ns}", f".{ns}.svc", f".{ns}.svc.cluster.local"] if ns else [])
    out = []
    clients = 0
    for w in workloads(docs):
        pod = pod_spec(w)
        for c in pod.get("containers", []):
            if program(c) not in ("yard-actor", "yard-gateway", "yard"):
                continue
            clients += 1
            where = f"{kname(w)} container {c.get('name')}"
            value = _env_value(c, pod, objs, "YARD_BROKER") or _config_file_broker(c, pod, cms)
            if not value:
                out.append(f"{where}: gets no broker list (YARD_BROKER or broker: in its config)")
                continue
            hosts = []
            for ep in value.split(","):
                em = re.fullmatch(r"tcp://([^:/]+):(\d+)", ep.strip())
                if not em:
                    out.append(f"{where}: broker endpoint '{ep}' is not tcp://HOST:PORT")
                    continue
                host = em.group(1)
                for sfx in sorted(suffixes, key=len, reverse=True):
                    if sfx and host.endswith(sfx):
                        host = host[: -len(sfx)]
                        break
                hosts.append(host)
                if port and em.group(2) != port:
                    out.append(f"{where}: broker endpoint '{ep}' uses port {em.group(2)}; "
                               f"the brokers bind {port}")
            missing, extra = expected - set(hosts), set(hosts) - expected
            if missing:
                out.append(f"{where}: the broker list misses {sorted(missing)} "
                           f"({kname(sts)} has {replicas} replicas behind Service {svc})")
            if extra:
                out.append(f"{where}: the broker list names {sorted(extra)}, which is no pod of "
                           f"{kname(sts)} ({replicas} replicas behind Service {svc})")
            if len(hosts) != len(set(hosts)):
                out.append(f"{where}: the broker list names a broker twice: {value}")
    if clients == 0:
        out.append("no actor or gateway container found: nothing gets the broker list")
    return out


# ------------------------------------------------------------------ Kubernetes: scaling

def check_scaling(docs):
    """HPAs and PDBs point at existing workloads; who must have one has one."""
    out = []
    wl = {(w["kind"], w["metadata"]["name"]): w for w in workloads(docs)}
    hpa_targets = set()
    for name, hpa in of_kind(docs, "HorizontalPodAutoscaler").items():
        ref = hpa.get("spec", {}).get("scaleTargetRef", {})
        target = wl.get((ref.get("kind"), ref.get("name")))
        if not target:
            out.append(f"HorizontalPodAutoscaler/{name}: its target {ref.get('kind')}/"
                       f"{ref.get('name')} does not exist")
            continue
        hpa_targets.add((ref.get("kind"), ref.get("name")))
        spec = hpa["spec"]
        if spec.get("minReplicas", 1) > spec.get("maxReplicas", 0):
            out.append(f"HorizontalPodAutoscaler/{name}: minReplicas above maxReplicas")
        progs = {program(c) for c in pod_spec(target).get("containers", [])}
        if "yard-broker" in progs:
            out.append(f"HorizontalPodAutoscaler/{name} scales the brokers: their count must "
                       "change with the broker list, by hand")
        actors = {actor_name(c) for c in pod_spec(target).get("containers", [])} - {None}
        if actors & STATEFUL_ACTORS:
            out.append(f"HorizontalPodAutoscaler/{name} scales stateful actor(s) "
                       f"{sorted(actors & STATEFUL_ACTORS)}")
    pdbs = of_kind(docs, "PodDisruptionBudget")
    for name, pdb in pdbs.items():
        if not any(selects(pdb.get("spec", {}).get("selector"), pod_labels(w))
                   for w in wl.values()):
            out.append(f"PodDisruptionBudget/{name}: its selector matches no workload's pods")
    for key, w in wl.items():
        if not any(selects(p.get("spec", {}).get("selector"), pod_labels(w))
                   for p in pdbs.values()):
            out.append(f"{kname(w)}: no PodDisruptionBudget selects its pods")
        conts = pod_spec(w).get("containers", [])
        stateless = [actor_name(c) for c in conts
                     if actor_name(c) and actor_name(c) not in STATEFUL_ACTORS]
        if (any(program(c) == "yard-gateway" for c in conts) or stateless) and \
                key not in hpa_targets:
            out.append(f"{kname(w)}: a gateway or stateless actor without a "
                       "HorizontalPodAutoscaler")
    return out


# ------------------------------------------------------------------ Kubernetes: field names

def api_models():
    """The Kubernetes python client's models (Debian python3-kubernetes): the API's types and
    their field names, standing in for a cluster's validation. Raises ToolMissing."""
    try:
        import kubernetes.client.models as models  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        raise ToolMissing(f"the Kubernetes python client is missing ({e}): run "
                          "scripts/install-deps.sh (Debian package python3-kubernetes)") from e
    return models


# Each rendered kind's model; autoscaling/v2 falls back to v2beta2 (the same fields used
# here) in clients older than Kubernetes 1.23's API.
_MODELS = {("v1", "Service"): ["V1Service"], ("v1", "ConfigMap"): ["V1ConfigMap"],
           ("v1", "Secret"): ["V1Secret"], ("v1", "Namespace"): ["V1Namespace"],
           ("apps/v1", "Deployment"): ["V1Deployment"],
           ("apps/v1", "StatefulSet"): ["V1StatefulSet"],
           ("policy/v1", "PodDisruptionBudget"): ["V1PodDisruptionBudget"],
           ("networking.k8s.io/v1", "Ingress"): ["V1Ingress"],
           ("autoscaling/v2", "HorizontalPodAutoscaler"): ["V2HorizontalPodAutoscaler",
                                                           "V2beta2HorizontalPodAutoscaler"]}


def _fields(obj, type_name, path, models, out):
    m = re.fullmatch(r"list\[(.*)\]", type_name)
    if m:
        for i, item in enumerate(obj if isinstance(obj, list) else []):
            _fields(item, m.group(1), f"{path}[{i}]", models, out)
        return
    model = getattr(models, type_name, None)
    if model is None or type_name.startswith("dict("):
        return  # a scalar, a map of scalars, or a free-form object
    if not isinstance(obj, dict):
        out.append(f"{path}: a {type_name} must be a map")
        return
    names = {v: k for k, v in model.attribute_map.items()}
    for key, value in obj.items():
        if key not in names:
            out.append(f"{path}.{key}: not a field of {type_name}")
        else:
            _fields(value, model.openapi_types[names[key]], f"{path}.{key}", models, out)


def check_fields(docs, models):
    """Every field of every rendered object is one its API type has (a typo such as
    publishNotReadyAdresses would otherwise be dropped by the API server without a word)."""
    out = []
    for d in docs:
        candidates = _MODELS.get((d.get("apiVersion"), d.get("kind")), [])
        type_name = next((c for c in candidates if hasattr(models, c)), None)
        if not type_name:
            out.append(f"{kname(d)}: {d.get('apiVersion')} {d.get('kind')} is not a kind "
                       "this check knows")
            continue
        _fields(d, type_name, kname(d), models, out)
    return out


def check_k8s(docs, external, models=None):
    return ((check_fields(docs, models) if models else []) + check_containers(docs) +
            check_references(docs, external) + check_broker_list(docs) + check_scaling(docs))


# ------------------------------------------------------------------ compose

def check_compose(model):
    """The resolved compose model (docker-compose config's output)."""
    out = []
    services = model.get("services") or {}
    if not services:
        return ["compose: no services"]
    brokers = [n for n, s in services.items() if program(_compose_cmd(s)) == "yard-broker"]
    if len(brokers) != 1:
        out.append(f"compose: expected one broker service, found {brokers}")
    for name, s in services.items():
        where = f"compose service {name}"
        if s.get("read_only") is not True:
            out.append(f"{where}: read_only is not true")
        user = str(s.get("user", ""))
        if not user or user.split(":")[0] in ("0", "root"):
            out.append(f"{where}: no non-root user")
        if "ALL" not in (s.get("cap_drop") or []):
            out.append(f"{where}: cap_drop does not hold ALL")
        if not any(str(o).startswith("no-new-privileges") for o in s.get("security_opt") or []):
            out.append(f"{where}: no no-new-privileges in security_opt")
        hc = s.get("healthcheck") or {}
        if not hc.get("test") or hc.get("disable") or hc.get("test") == ["NONE"]:
            out.append(f"{where}: no healthcheck")
        env = s.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env if "=" in e)
        prog = program(_compose_cmd(s))
        if prog in ("yard-actor", "yard-gateway") and brokers:
            eps = [e.strip() for e in str(env.get("YARD_BROKER", "")).split(",") if e.strip()]
            hosts = {re.sub(r"^tcp://([^:]+):\d+$", r"\1", e) for e in eps}
            if hosts != set(brokers):
                out.append(f"{where}: YARD_BROKER '{env.get('YARD_BROKER')}' does not name the "
                           f"broker service(s) {brokers}")
        if prog == "yard-broker" and str(env.get("YARD_INSECURE", "")).lower() == "true" and \
                s.get("ports"):
            out.append(f"{where}: a broker without CURVE (YARD_INSECURE) publishes ports "
                       f"{s.get('ports')}")
        for sec in s.get("secrets") or []:
            sname = sec.get("source") if isinstance(sec, dict) else sec
            if sname not in (model.get("secrets") or {}):
                out.append(f"{where}: secret '{sname}' is not defined")
    return out


def _compose_cmd(service):
    cmd = service.get("command") or []
    return {"command": cmd.split() if isinstance(cmd, str) else cmd}


# ------------------------------------------------------------------ Dockerfile

_SECRET_WORD = re.compile(r"(PASSW|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL)", re.I)


def check_dockerfile(text, install_deps, dockerignore):
    """The Dockerfile's text, scripts/install-deps.sh's text, .dockerignore's text (or None)."""
    out = []
    # Join continuation lines, drop comments.
    lines = []
    for raw in re.sub(r"\\\n", " ", text).splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    stages = []  # [(base, alias, [instructions])]
    for line in lines:
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            stages.append((m.group(1), m.group(2), []))
        elif stages:
            stages[-1][2].append((word.upper(), rest))
        elif word.upper() != "ARG":
            out.append(f"Dockerfile: '{word}' before the first FROM")
    if len(stages) < 2:
        return out + ["Dockerfile: not multi-stage (one FROM)"]
    aliases = {a for _, a, _ in stages if a}
    for base, alias, _ in stages:
        if base not in aliases and not re.match(r"(docker\.io/(library/)?)?debian:bookworm", base):
            out.append(f"Dockerfile: stage {alias or base} is not on Debian bookworm ({base})")
    last = stages[-1][2]
    users = [rest for w, rest in last if w == "USER"]
    if not users:
        out.append("Dockerfile: the final stage sets no USER (it would run as root)")
    else:
        uid = users[-1].split(":")[0]
        if not uid.isdigit() or uid == "0":
            out.append(f"Dockerfile: the final USER '{users[-1]}' is not a fixed non-root UID "
                       "(runAsNonRoot can only check a number)")
    if not any(w == "COPY" and "--from=" in rest for w, rest in last):
        out.append("Dockerfile: the final stage copies nothing from the build stage")
    final_run = " ".join(rest for w, rest in last if w == "RUN")
    for pkg in re.findall(r"\b(build-essential|gcc|clang|cmake|[\w.+-]+-dev)\b", final_run):
        out.append(f"Dockerfile: the final stage installs the build package {pkg}")
    build_run = " ".join(rest for _, _, ins in stages[:-1] for w, rest in ins if w == "RUN")
    for pkg in sorted(set(re.findall(r"\b([\w.+-]+-dev)\b", build_run))):
        if not re.search(rf"(^|\s){re.escape(pkg)}(\s|$)", install_deps, re.M):
            out.append(f"Dockerfile: builds with {pkg}, which scripts/install-deps.sh does not "
                       "install (keep one list of build packages)")
    for target in ("yard-broker", "yard-actor", "yard-gateway", "yard_cli"):
        if not re.search(rf"--target\b[^&;]*\b{target}\b", build_run):
            out.append(f"Dockerfile: the build stage does not build {target}")
    for _, _, ins in stages:
        for w, rest in ins:
            if w in ("ENV", "ARG") and _SECRET_WORD.search(rest):
                out.append(f"Dockerfile: {w} {rest.split()[0]} looks like a secret baked in")
            if w in ("COPY", "ADD") and re.search(r"(_secret\b|\.env\b|secrets?/|\.pem\b|id_rsa)",
                                                  rest):
                out.append(f"Dockerfile: {w} {rest} copies what looks like a secret")
            if w == "ADD" and re.search(r"https?://", rest):
                out.append(f"Dockerfile: ADD {rest} downloads unchecked")
    if dockerignore is None:
        out.append(".dockerignore is missing: the build context would carry .git and build trees")
    else:
        ignored = {l.strip() for l in dockerignore.splitlines() if l.strip() and l[0] != "#"}
        for need in (".git", "/build*"):
            if need not in ignored and need.lstrip("/") not in ignored:
                out.append(f".dockerignore does not exclude {need}")
    return out


# ------------------------------------------------------------------ the image's libraries

# Packages the image need not name: the C library and compiler runtime (in every Debian
# image), the sanitizer runtimes of an ASan build, and libnats (the image is built without
# NATS, which only `yard bench compare` uses).
_BASE_PACKAGES = re.compile(r"^(libc6|libgcc-s1|libstdc\+\+6|libasan\d+|libubsan\d+|"
                            r"liblsan\d+|libnats[\d.]*)$")


def needed_packages(bin_dir):
    """{soname: Debian package} for the libraries the built programs link directly, or None
    when the programs are not built in bin_dir."""
    if not bin_dir:
        return None
    progs = [os.path.join(bin_dir, p) for p in PROGRAMS]
    if not all(os.path.exists(p) for p in progs):
        return None
    for tool in ("readelf", "ldconfig", "dpkg-query"):
        if not shutil.which(tool) and not os.path.exists(f"/sbin/{tool}"):
            raise ToolMissing(f"{tool} is not installed (binutils, libc-bin, dpkg)")
    sonames = set()
    for p in progs:
        dyn = subprocess.run(["readelf", "-d", p], capture_output=True, text=True, check=True)
        sonames |= set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn.stdout))
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    cache = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, check=True).stdout
    out = {}
    for so in sorted(sonames):
        m = re.search(rf"^\s*{re.escape(so)} \(([^)]*)\) => (\S+)$", cache, re.M)
        pkg = None
        if m:
            path = m.group(2)
            for cand in (path, os.path.realpath(path), "/usr" + path, path.replace("/usr", "", 1)):
                q = subprocess.run(["dpkg-query", "-S", cand], capture_output=True, text=True,
                                   check=False)
                if q.returncode == 0:
                    pkg = q.stdout.split(":")[0].strip()
                    break
        out[so] = pkg
    return out


def check_image_libraries(dockerfile, needed):
    """The final stage installs the package of every library the programs link."""
    stages = re.split(r"^FROM\s", re.sub(r"\\\n", " ", dockerfile), flags=re.M)
    final = " ".join(l for l in stages[-1].splitlines() if not l.lstrip().startswith("#"))
    installed = set(re.findall(r"[\w.+-]+", final))
    out = []
    for so, pkg in sorted(needed.items()):
        if pkg is None:
            out.append(f"Dockerfile: no Debian package found for {so}, which the programs link")
        elif not _BASE_PACKAGES.match(pkg) and pkg not in installed:
            out.append(f"Dockerfile: the programs link {so} (Debian package {pkg}), which the "
                       "final stage does not install")
    return out


# ------------------------------------------------------------------ main

def run_all(root, bin_dir=None):
    """All checks on the repository at root; returns the findings."""
    out = []
    overlays_dir = os.path.join(root, "deploy", "k8s", "overlays")
    overlays = sorted(d for d in os.listdir(overlays_dir)
                      if os.path.isdir(os.path.join(overlays_dir, d)))
    if not overlays:
        out.append("deploy/k8s/overlays: no overlay")
    models = api_models()
    for o in overlays:
        path = os.path.join(overlays_dir, o)
        out += [f"[k8s {o}] {f}" for f in check_k8s(kustomize(path), external_secrets(path),
                                                     models)]
    out += check_compose(compose_model(os.path.join(root, "deploy", "compose.yaml")))

    def read(rel):
        p = os.path.join(root, rel)
        if not os.path.exists(p):
            return None
        with open(p, encoding="utf-8") as f:
            return f.read()

    out += check_dockerfile(read("Dockerfile") or "", read("scripts/install-deps.sh") or "",
                            read(".dockerignore"))
    needed = needed_packages(bin_dir)
    if needed is None:
        print(f"check_deploy: the programs are not built in {bin_dir or '(no --bin-dir)'}: "
              "the image's runtime libraries are not checked", file=sys.stderr)
    else:
        out += check_image_libraries(read("Dockerfile") or "", needed)
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    ap.add_argument("--bin-dir", default=os.environ.get("YARD_BIN_DIR"),
                    help="the built programs, to check the image installs their libraries "
                         "(default: $YARD_BIN_DIR)")
    args = ap.parse_args(argv)
    try:
        findings = run_all(os.path.abspath(args.root), args.bin_dir)
    except ToolMissing as e:
        print(f"check_deploy: {e}", file=sys.stderr)
        return 2
    except (RuntimeError, subprocess.CalledProcessError) as e:
        print(f"check_deploy: {e}", file=sys.stderr)
        return 1
    for f in findings:
        print(f)
    print(f"check_deploy: {len(findings)} finding(s)", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
