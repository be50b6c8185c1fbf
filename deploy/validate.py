#!/usr/bin/env python3
"""Static checks of deploy/ that need no Docker engine and no cluster (ctest: deploy_validate).

1. yamllint (deploy/.yamllint) on every YAML file.
2. Structure: every Kubernetes object has apiVersion/kind/metadata.name; each Deployment's Pod
   carries its service container plus an outbox-relay sidecar (OUTBOX_SCHEMA set), probes whose
   ports exist, resources, config from the ConfigMap and passwords only from the Secret; Services
   select a Deployment and target declared ports; the migration Job runs `quotectl migrate`;
   kustomizations name existing files; the compose file has PostgreSQL 15, Kafka in KRaft mode,
   the one-shot migration, every service and its relay; the Event Hubs properties are SASL_SSL /
   PLAIN / $ConnectionString / no compression with the password left to the Secret, port 9093;
   the Dockerfile is multi-stage from debian:bookworm with only runtime libraries at run time;
   Prometheus and Grafana in the compose file mount files that exist, every process with
   METRICS_ADDRESS is scraped on its port (relays with job outbox-relay and their outbox label),
   `promtool check config` accepts prometheus.yml and its rules, and every dashboard panel uses
   the provisioned datasource and has a query (the PromQL itself: tests/ops/promql_check.py).
3. `docker-compose -f compose.yaml config -q` (Debian's docker-compose 1.29 validates and
   interpolates the file without a Docker engine) and its `config --services` against the file's
   services; `kubectl kustomize` of the base, the Event Hubs and the orchestration overlays
   (rendered offline, then checked). Both tools are required: scripts/install-deps.sh installs
   docker-compose, and Debian's kubernetes-client (kubectl 1.20) unless a kubectl is already on
   PATH; the overlays use the kustomization fields kubectl 1.20 understands.
   `kubectl apply --dry-run=client` is not run: even with --validate=false it asks an API server
   for discovery (kubectl 1.20 and 1.32 both fail with "unable to recognize ... connection
   refused" without one).

Exit status 0 when every check that ran passed, 1 otherwise. Prints one line per problem.
"""
import os
import re
import shutil
import subprocess
import sys

import yaml

DEPLOY = os.path.dirname(os.path.abspath(__file__))
K8S = os.path.join(DEPLOY, "kubernetes")
problems = []
notes = []


def problem(where, what):
    problems.append(f"{os.path.relpath(where, DEPLOY)}: {what}")


def yaml_files():
    for root, _, files in os.walk(DEPLOY):
        for f in sorted(files):
            if f.endswith((".yaml", ".yml")):
                yield os.path.join(root, f)


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def run_yamllint():
    if shutil.which("yamllint") is None:
        problem(DEPLOY, "yamllint is not installed (scripts/install-deps.sh installs it)")
        return
    r = subprocess.run(["yamllint", "-s", "-c", os.path.join(DEPLOY, ".yamllint"), DEPLOY],
                       capture_output=True, text=True)
    if r.returncode != 0:
        problem(DEPLOY, "yamllint:\n" + r.stdout + r.stderr)
    else:
        notes.append("yamllint: ok")


def container_ports(c):
    names, numbers = set(), set()
    for p in c.get("ports", []) or []:
        numbers.add(p["containerPort"])
        if "name" in p:
            names.add(p["name"])
    return names, numbers


def check_probe(path, c, probe_name, required):
    probe = c.get(probe_name)
    if probe is None:
        if required:
            problem(path, f"container {c['name']}: no {probe_name}")
        return
    names, numbers = container_ports(c)
    for kind in ("httpGet", "grpc", "tcpSocket"):
        if kind in probe:
            port = probe[kind]["port"]
            if port not in names and port not in numbers:
                problem(path, f"container {c['name']}: {probe_name} port {port} not declared")
            return
    problem(path, f"container {c['name']}: {probe_name} has no httpGet/grpc/tcpSocket")


def check_container(path, c):
    if not c.get("image"):
        problem(path, f"container {c.get('name')}: no image")
    res = c.get("resources", {})
    if not res.get("requests") or "memory" not in res.get("limits", {}):
        problem(path, f"container {c['name']}: needs resources.requests and limits.memory")
    refs = {(k, v["name"]) for e in c.get("envFrom", []) for k, v in e.items()}
    if ("configMapRef", "quoteflow-config") not in refs:
        problem(path, f"container {c['name']}: not configured from ConfigMap quoteflow-config")
    if ("secretRef", "quoteflow-secrets") not in refs:
        problem(path, f"container {c['name']}: passwords not from Secret quoteflow-secrets")
    for e in c.get("env", []) or []:
        if re.search(r"PASSWORD|SECRET|TOKEN", e["name"]) and "value" in e:
            problem(path, f"container {c['name']}: {e['name']} has a literal value")


def check_deployment(path, d, deployments):
    spec = d["spec"]
    tmpl = spec["template"]
    labels = tmpl["metadata"].get("labels", {})
    for k, v in spec["selector"]["matchLabels"].items():
        if labels.get(k) != v:
            problem(path, f"Deployment {d['metadata']['name']}: selector {k}={v} not on the Pod")
    containers = tmpl["spec"]["containers"]
    relays = [c for c in containers if c["name"] == "outbox-relay"]
    mains = [c for c in containers if c["name"] != "outbox-relay"]
    if len(relays) != 1 or len(mains) != 1:
        problem(path, "the Pod must carry one service container and one outbox-relay sidecar")
    for c in relays:
        env = {e["name"]: e for e in c.get("env", [])}
        if env.get("OUTBOX_SCHEMA", {}).get("value") not in ("quote", "policy", "customer", "saga"):
            problem(path, "outbox-relay: OUTBOX_SCHEMA must be quote, policy, customer or saga")
        if c.get("command") != ["outbox-relay"]:
            problem(path, "outbox-relay: command must be [outbox-relay]")
        check_probe(path, c, "livenessProbe", True)
    for c in mains:
        check_probe(path, c, "livenessProbe", True)
        check_probe(path, c, "readinessProbe", True)
        check_probe(path, c, "startupProbe", False)
        env = {e["name"] for e in c.get("env", [])}
        if "METRICS_ADDRESS" not in env:
            problem(path, f"container {c['name']}: no METRICS_ADDRESS (/metrics)")
    for c in containers:
        check_container(path, c)
    volumes = {v["name"] for v in tmpl["spec"].get("volumes", [])}
    for c in containers:
        for m in c.get("volumeMounts", []) or []:
            if m["name"] not in volumes:
                problem(path, f"container {c['name']}: volume {m['name']} not defined")
    deployments.append(d)


def check_kubernetes():
    deployments, services = [], []
    kinds = set()
    for path in yaml_files():
        if not path.startswith(K8S):
            continue
        for d in load_all(path):
            for key in ("apiVersion", "kind"):
                if key not in d:
                    problem(path, f"document without {key}")
            kind = d.get("kind")
            kinds.add(kind)
            if kind == "Kustomization":
                base = os.path.dirname(path)
                refs = (d.get("resources", []) + d.get("bases", []) +
                        d.get("patchesStrategicMerge", []) +
                        [p["path"] for p in d.get("patches", [])])
                for r in refs:
                    if not os.path.exists(os.path.join(base, r)):
                        problem(path, f"resource {r} does not exist")
                for g in d.get("configMapGenerator", []):
                    for f in g.get("files", []):
                        if not os.path.exists(os.path.join(base, f)):
                            problem(path, f"generator file {f} does not exist")
                continue
            if not d.get("metadata", {}).get("name"):
                problem(path, f"{kind} without metadata.name")
            if kind == "Deployment":
                check_deployment(path, d, deployments)
            elif kind == "Service":
                services.append((path, d))
            elif kind == "Job":
                c = d["spec"]["template"]["spec"]["containers"][0]
                if c.get("command") != ["quotectl", "migrate"]:
                    problem(path, "the Job must run [quotectl, migrate]")
                if d["spec"]["template"]["spec"].get("restartPolicy") not in ("OnFailure", "Never"):
                    problem(path, "a Job's restartPolicy must be OnFailure or Never")
                check_container(path, c)
            elif kind == "ConfigMap":
                for k, v in (d.get("data") or {}).items():
                    if re.search(r"PASSWORD|SECRET", k):
                        problem(path, f"ConfigMap key {k} looks like a secret")
                    if k == "DATABASE_URL" and re.search(r"://[^/@]*:[^/@]*@", str(v)):
                        problem(path, "DATABASE_URL carries a password")
    for path, s in services:
        sel = s["spec"]["selector"]
        match = [d for d in deployments
                 if all(d["spec"]["template"]["metadata"]["labels"].get(k) == v
                        for k, v in sel.items())]
        if not match:
            problem(path, f"Service {s['metadata']['name']} selects no Deployment")
            continue
        declared = set()
        for c in match[0]["spec"]["template"]["spec"]["containers"]:
            names, numbers = container_ports(c)
            declared |= names | numbers
        for p in s["spec"]["ports"]:
            if p.get("targetPort", p["port"]) not in declared:
                problem(path, f"Service port {p['port']}: targetPort not declared by the Pod")
    schemas = {next(e["value"] for e in c["env"] if e["name"] == "OUTBOX_SCHEMA")
               for d in deployments for c in d["spec"]["template"]["spec"]["containers"]
               if c["name"] == "outbox-relay"}
    if schemas != {"quote", "policy", "customer", "saga"}:
        problem(K8S, f"relays cover {sorted(schemas)}, want quote, policy, customer and saga")
    names = {d["metadata"]["name"] for d in deployments}
    for want in ("quote-api", "policy-worker", "customer-worker", "quote-worker",
                 "saga-orchestrator"):
        if want not in names:
            problem(K8S, f"no Deployment {want}")
    for want in ("ConfigMap", "Job", "Service", "Secret"):
        if want not in kinds:
            problem(K8S, f"no {want}")
    notes.append(f"kubernetes structure: {len(deployments)} Deployments, {len(services)} Services")


def check_compose():
    path = os.path.join(DEPLOY, "compose.yaml")
    doc = load_all(path)[0]
    services = doc.get("services", {})
    pg = services.get("postgres", {})
    if not str(pg.get("image", "")).startswith("postgres:15"):
        problem(path, "postgres must be PostgreSQL 15")
    kafka = services.get("kafka", {})
    if "broker,controller" not in str(kafka.get("environment", {}).get("KAFKA_PROCESS_ROLES")):
        problem(path, "kafka must run in KRaft mode (KAFKA_PROCESS_ROLES=broker,controller)")
    if services.get("migrate", {}).get("command") != ["quotectl", "migrate"]:
        problem(path, "migrate must run [quotectl, migrate]")
    relays = {}
    for name, s in services.items():
        if s.get("command") == ["outbox-relay"]:
            relays[name] = s.get("environment", {}).get("OUTBOX_SCHEMA")
    for want in ("quote-api", "policy-worker", "customer-worker", "quote-worker"):
        if want not in services:
            problem(path, f"no service {want}")
        elif "migrate" not in services[want].get("depends_on", {}):
            problem(path, f"{want} must wait for migrate")
    if set(relays.values()) != {"quote", "policy", "customer"}:
        problem(path, f"relays cover {sorted(relays.values())}, want quote, policy and customer")
    for name, s in services.items():
        env = s.get("environment", {}) or {}
        for k, v in env.items():
            if re.search(r"PASSWORD", k) and not str(v).startswith("${"):
                problem(path, f"{name}: {k} must come from the environment, not the file")
    notes.append(f"compose structure: {len(services)} services, relays {sorted(relays)}")


def compose_mounts(service):
    """(host path relative to deploy/, container path) of the service's bind mounts."""
    out = []
    for v in service.get("volumes", []) or []:
        parts = str(v).split(":")
        if parts[0].startswith("./"):
            out.append((os.path.normpath(parts[0]), parts[1]))
    return out


def check_observability():
    """Prometheus and Grafana in the compose file, wired to deploy/prometheus and deploy/grafana."""
    import json
    path = os.path.join(DEPLOY, "compose.yaml")
    services = load_all(path)[0].get("services", {})
    for name in ("prometheus", "grafana"):
        if name not in services:
            problem(path, f"no service {name}")
            return
        for host, _ in compose_mounts(services[name]):
            if not os.path.exists(os.path.join(DEPLOY, host)):
                problem(path, f"{name}: mounted path {host} does not exist")
    prom_mounts = dict((c, h) for h, c in compose_mounts(services["prometheus"]))
    config_host = prom_mounts.get("/etc/prometheus/prometheus.yml")
    if config_host != os.path.join("prometheus", "prometheus.yml"):
        problem(path, "prometheus must mount ./prometheus/prometheus.yml at /etc/prometheus")
        return
    config_path = os.path.join(DEPLOY, config_host)
    config = load_all(config_path)[0]
    for rule_file in config.get("rule_files", []):
        if prom_mounts.get(os.path.join("/etc/prometheus", rule_file)) != os.path.join(
                "prometheus", rule_file):
            problem(config_path, f"rule file {rule_file} is not mounted beside the config")
    # Every process with METRICS_ADDRESS is scraped, on that port, with the labels the rules use.
    metrics_ports = {}
    for name, s in services.items():
        env = s.get("environment", {}) or {}
        if "METRICS_ADDRESS" in env:
            metrics_ports[name] = (str(env["METRICS_ADDRESS"]).rsplit(":", 1)[-1],
                                   env.get("OUTBOX_SCHEMA"))
    scraped = set()
    for job in config.get("scrape_configs", []):
        for sc in job.get("static_configs", []):
            for target in sc.get("targets", []):
                host, _, port = target.partition(":")
                if host == "localhost":
                    continue
                if host not in metrics_ports:
                    problem(config_path, f"target {target}: no compose service with METRICS_ADDRESS")
                    continue
                scraped.add(host)
                want_port, schema = metrics_ports[host]
                if port != want_port:
                    problem(config_path, f"target {target}: {host} serves metrics on {want_port}")
                if schema and (job["job_name"] != "outbox-relay" or
                               sc.get("labels", {}).get("outbox") != schema):
                    problem(config_path, f"target {target}: a relay needs job outbox-relay and "
                                         f"label outbox={schema}")
    for missing in sorted(set(metrics_ports) - scraped):
        problem(config_path, f"compose service {missing} serves metrics but is not scraped")
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "config", config_path], capture_output=True,
                           text=True)
        if r.returncode != 0:
            problem(config_path, "promtool check config:\n" + r.stdout + r.stderr)
        else:
            notes.append("promtool check config prometheus/prometheus.yml (and its rules): ok")
    else:
        problem(DEPLOY, "promtool is not installed (Debian's prometheus: scripts/install-deps.sh)")
    # Grafana: the provisioned datasource's uid is the one every panel uses; the dashboards
    # provider reads the directory compose mounts.
    graf_mounts = dict((c, h) for h, c in compose_mounts(services["grafana"]))
    prov_host = graf_mounts.get("/etc/grafana/provisioning")
    if prov_host is None:
        problem(path, "grafana must mount ./grafana/provisioning at /etc/grafana/provisioning")
        return
    uids = set()
    for f in sorted(os.listdir(os.path.join(DEPLOY, prov_host, "datasources"))):
        for d in load_all(os.path.join(DEPLOY, prov_host, "datasources", f)):
            uids |= {ds["uid"] for ds in d.get("datasources", [])}
    dash_dirs = set()
    for f in sorted(os.listdir(os.path.join(DEPLOY, prov_host, "dashboards"))):
        for d in load_all(os.path.join(DEPLOY, prov_host, "dashboards", f)):
            dash_dirs |= {p["options"]["path"] for p in d.get("providers", [])}
    panels = 0
    for container_dir in sorted(dash_dirs):
        host_dir = graf_mounts.get(container_dir)
        if host_dir is None:
            problem(path, f"grafana: provisioned dashboard path {container_dir} is not mounted")
            continue
        for f in sorted(os.listdir(os.path.join(DEPLOY, host_dir))):
            dash_path = os.path.join(DEPLOY, host_dir, f)
            try:
                with open(dash_path) as fh:
                    dash = json.load(fh)
            except ValueError as e:
                problem(dash_path, f"not JSON: {e}")
                continue
            ids = [p["id"] for p in dash.get("panels", [])]
            if len(ids) != len(set(ids)):
                problem(dash_path, "panel ids are not unique")
            for p in dash.get("panels", []):
                if p.get("type") == "row":
                    continue
                panels += 1
                refs = [p.get("datasource")] + [t.get("datasource") for t in p.get("targets", [])]
                for ref in refs:
                    if not ref or ref.get("uid") not in uids:
                        problem(dash_path, f"panel {p.get('title')}: datasource {ref} is not "
                                           f"a provisioned one ({sorted(uids)})")
                if not p.get("targets") or not all(t.get("expr") for t in p["targets"]):
                    problem(dash_path, f"panel {p.get('title')}: a query without expr")
    notes.append(f"prometheus/grafana wiring: {len(scraped)} scraped services, {panels} panels")


def check_eventhubs():
    path = os.path.join(K8S, "eventhubs", "eventhubs.properties")
    props = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                props[k.strip()] = v.strip()
    want = {"security.protocol": "SASL_SSL", "sasl.mechanisms": "PLAIN",
            "sasl.username": "$ConnectionString", "compression.type": "none"}
    for k, v in want.items():
        if props.get(k) != v:
            problem(path, f"{k} must be {v}")
    if any("password" in k for k in props):
        problem(path, "the password belongs in the Secret (KAFKA_SASL_PASSWORD)")
    patch = load_all(os.path.join(K8S, "eventhubs", "configmap-patch.yaml"))[0]
    if not str(patch["data"].get("KAFKA_BOOTSTRAP_SERVERS", "")).endswith(":9093"):
        problem(path, "Event Hubs' Kafka endpoint is port 9093")
    notes.append("event hubs properties: ok" if not any("eventhubs" in p for p in problems)
                 else "event hubs properties: problems")


def check_dockerfile():
    path = os.path.join(DEPLOY, "Dockerfile")
    text = open(path).read()
    froms = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M)
    if len(froms) < 2 or not all(f[0].startswith("debian:bookworm") for f in froms):
        problem(path, f"want a multi-stage build from debian:bookworm, got {froms}")
    if "scripts/install-deps.sh" not in text:
        problem(path, "the build stage must install the -dev packages via scripts/install-deps.sh")
    runtime = text.split(froms[-1][0], 1)[-1] if froms else ""
    if re.search(r"\b\S+-dev\b", runtime):
        problem(path, "the runtime stage installs a -dev package")
    if "COPY --from=build" not in runtime:
        problem(path, "the runtime stage must copy the binaries from the build stage")
    notes.append("Dockerfile structure: ok (image NOT built: no Docker engine here)")


def tool_version(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    m = re.search(r"v?(\d+\.\d+\.\d+)", r.stdout + r.stderr)
    return m.group(1) if m else "unknown version"


def run_docker_compose():
    path = os.path.join(DEPLOY, "compose.yaml")
    if shutil.which("docker-compose"):
        compose = ["docker-compose"]
    elif shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                   capture_output=True).returncode == 0:
        compose = ["docker", "compose"]
    else:
        problem(DEPLOY, "docker-compose is not installed (scripts/install-deps.sh installs it)")
        return
    version = tool_version(compose + ["version"])
    r = subprocess.run(compose + ["-f", path, "config", "-q"], capture_output=True, text=True)
    if r.returncode != 0:
        problem(path, "docker-compose config:\n" + r.stdout + r.stderr)
        return
    r = subprocess.run(compose + ["-f", path, "config", "--services"], capture_output=True,
                       text=True)
    listed = set(r.stdout.split())
    declared = set(load_all(path)[0].get("services", {}))
    if r.returncode != 0 or listed != declared:
        problem(path, f"docker-compose config --services: {sorted(listed)}, "
                      f"the file declares {sorted(declared)}\n{r.stderr}")
        return
    notes.append(f"{' '.join(compose)} {version} config -q: ok ({len(listed)} services)")


def run_kubectl():
    if not shutil.which("kubectl"):
        problem(K8S, "kubectl is not installed (scripts/install-deps.sh installs Debian's "
                     "kubernetes-client)")
        return
    version = tool_version(["kubectl", "version", "--client"])
    # `kubectl apply --dry-run=client` still asks an API server for discovery; with no
    # cluster here, render the kustomizations offline instead and check the result.
    for k in (os.path.join(K8S, "base"), os.path.join(K8S, "eventhubs"),
              os.path.join(K8S, "orchestration")):
        r = subprocess.run(["kubectl", "kustomize", k], capture_output=True, text=True)
        if r.returncode != 0:
            problem(k, f"kubectl {version} kustomize:\n" + r.stdout + r.stderr)
            continue
        docs = [d for d in yaml.safe_load_all(r.stdout) if d]
        for d in docs:
            if d["metadata"].get("namespace") != "quoteflow":
                problem(k, f"{d['kind']} {d['metadata']['name']}: not in namespace quoteflow")
        if k.endswith("eventhubs"):
            cms = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
            if "quoteflow-kafka-properties" not in cms:
                problem(k, "the overlay must generate ConfigMap quoteflow-kafka-properties")
            data = cms.get("quoteflow-config", {}).get("data", {})
            if not data.get("KAFKA_PROPERTIES_FILE", "").startswith("/etc/quoteflow/kafka/"):
                problem(k, "the overlay must point KAFKA_PROPERTIES_FILE at the mounted file")
        if k.endswith("orchestration"):
            cms = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
            if cms.get("quoteflow-config", {}).get("data", {}).get("SAGA_MODE") != "orchestration":
                problem(k, "the overlay must set SAGA_MODE=orchestration")
            if not any(d["kind"] == "Deployment" and d["metadata"]["name"] == "saga-orchestrator"
                       for d in docs):
                problem(k, "the overlay must add the saga-orchestrator Deployment")
        notes.append(f"kubectl {version} kustomize {os.path.relpath(k, DEPLOY)}: ok "
                     f"({len(docs)} objects)")
    notes.append("NOT RUN kubectl apply --dry-run=client: needs an API server (none here)")


def main():
    run_yamllint()
    for check in (check_kubernetes, check_compose, check_observability, check_eventhubs,
                  check_dockerfile):
        try:
            check()
        except (KeyError, TypeError, IndexError, StopIteration, yaml.YAMLError) as e:
            problem(DEPLOY, f"{check.__name__}: malformed ({type(e).__name__}: {e})")
    run_docker_compose()
    run_kubectl()
    for n in notes:
        print("deploy/validate:", n)
    for p in problems:
        print("deploy/validate: PROBLEM", p)
    print(f"deploy/validate: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
