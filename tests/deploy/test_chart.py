"""The Helm chart: lint, render, schema validation, policy checks, and what no tool checks.

Rendered with the default values and with deploy/helm/values-production.yaml, always with the
release namespace set (checkov's own Helm runner renders into `default` and then fails
CKV_K8S_21). No API server is needed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from .tools import (
    CHART,
    NAMESPACE,
    PRODUCTION_VALUES,
    REPO,
    find_tool,
    helm_template,
    load_documents,
    run,
)

VALUES = {"default": [], "production": ["-f", str(PRODUCTION_VALUES)]}
SECRET_ENV = ("LEARNLOOP_SECRET_KEY", "LEARNLOOP_DATABASE_URL", "LEARNLOOP_LLM_API_KEY")
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}


@pytest.fixture(scope="module", params=sorted(VALUES))
def rendered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, list[dict[str, Any]]]:
    name: str = request.param
    text = helm_template(*VALUES[name]).stdout
    path = tmp_path_factory.mktemp("rendered") / f"{name}.yaml"
    path.write_text(text)
    return name, path, load_documents(text)


def objects(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, component: str) -> dict[str, Any]:
    matches = [
        doc
        for doc in objects(docs, kind)
        if doc["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    assert len(matches) == 1, f"expected one {kind} for {component}, found {len(matches)}"
    return matches[0]


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"])
        for doc in docs
        if doc["kind"] in {"Deployment", "Job", "StatefulSet", "DaemonSet"}
    ]


def kubernetes_versions() -> list[str]:
    """The oldest version the chart supports (Chart.yaml kubeVersion) and the newest schema
    kubernetes-validate carries."""
    import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information

    schemas = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    carried = sorted(
        (
            tuple(int(part) for part in entry.name[1:].split("-")[0].split("."))
            for entry in schemas.iterdir()
            if entry.name.endswith("-local-strict")
        ),
    )
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    oldest = chart["kubeVersion"].removeprefix(">=").split("-")[0]
    newest = ".".join(map(str, carried[-1]))
    return [oldest, newest]


# --- tools -------------------------------------------------------------------------------


@pytest.mark.parametrize("values", sorted(VALUES))
def test_helm_lint_strict(values: str) -> None:
    result = run(
        [find_tool("helm"), "lint", "--strict", CHART, "--namespace", NAMESPACE, *VALUES[values]]
    )
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("version", kubernetes_versions())
def test_kubernetes_validate_strict(
    rendered: tuple[str, Path, list[dict[str, Any]]], version: str
) -> None:
    _, path, docs = rendered
    result = run([find_tool("kubernetes-validate"), "--strict", "-k", version, "--quiet", path])
    # CRDs (ServiceMonitor, PrometheusRule) have no schema there: test_monitoring_objects
    # checks them. Anything else without a schema is a mistake.
    for line in result.stdout.splitlines() + result.stderr.splitlines():
        if "Couldn't find schema" in line:
            assert any(kind in line for kind in CRD_KINDS), line
    assert len(docs) > 10


def test_checkov_on_rendered_chart(rendered: tuple[str, Path, list[dict[str, Any]]]) -> None:
    name, path, _ = rendered
    report = checkov(path, "kubernetes")
    failed = report["results"]["failed_checks"]
    assert not failed, "\n".join(
        f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in failed
    )
    assert report["summary"]["passed"] > 50
    # A skip is allowed only with a written reason (a checkov.io/skip annotation in the chart).
    for skipped in report["results"]["skipped_checks"]:
        reason = skipped["check_result"].get("suppress_comment") or ""
        assert len(reason) > 20, skipped["check_id"]
    if name == "production":
        assert not report["results"]["skipped_checks"], "production values skip nothing"


@pytest.mark.parametrize("containerfile", ["Containerfile", "scripts/image/Containerfile.prebuilt"])
def test_checkov_on_containerfile(containerfile: str, tmp_path: Path) -> None:
    # checkov recognises Dockerfiles by name only.
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text((REPO / containerfile).read_text())
    report = checkov(dockerfile, "dockerfile")
    assert not report["results"]["failed_checks"], report["results"]["failed_checks"]
    assert report["summary"]["passed"] > 10


@pytest.mark.parametrize("containerfile", ["Containerfile", "scripts/image/Containerfile.prebuilt"])
def test_hadolint(containerfile: str) -> None:
    run([find_tool("hadolint"), "--config", REPO / ".hadolint.yaml", REPO / containerfile])


def checkov(path: Path, framework: str) -> dict[str, Any]:
    result = run(
        [
            find_tool("checkov"),
            "--skip-download",
            "--output",
            "json",
            "--framework",
            framework,
            "--file",
            path,
        ],
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},  # no vendor API calls
    )
    assert result.returncode in (0, 1), result.stderr[-4000:]
    report: Any = json.loads(result.stdout)
    if isinstance(report, list):  # one entry per framework when several ran
        report = next(entry for entry in report if entry["check_type"] == framework)
    assert isinstance(report, dict), result.stdout[-2000:]
    assert "results" in report, result.stdout[-2000:]
    return report


# --- what the tools do not check ----------------------------------------------------------


def test_default_deny_policy(rendered: tuple[str, Path, list[dict[str, Any]]]) -> None:
    _, _, docs = rendered
    deny = [
        policy
        for policy in objects(docs, "NetworkPolicy")
        if set(policy["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not policy["spec"].get("ingress")
        and not policy["spec"].get("egress")
    ]
    assert len(deny) == 1
    assert deny[0]["spec"]["podSelector"] == {}, "default values deny the whole namespace"


def test_allowed_paths(rendered: tuple[str, Path, list[dict[str, Any]]]) -> None:
    _, _, docs = rendered
    policies = {
        p["metadata"]["name"].removeprefix("learnloop-"): p["spec"]
        for p in objects(docs, "NetworkPolicy")
    }
    web = one(docs, "Deployment", "web")["spec"]["template"]["metadata"]["labels"]
    worker = one(docs, "Deployment", "worker")["spec"]["template"]["metadata"]["labels"]
    job = objects(docs, "Job")[0]["spec"]["template"]["metadata"]["labels"]

    def selects(spec: dict[str, Any], labels: dict[str, str]) -> bool:
        selector = spec["podSelector"]
        if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
            return False
        return all(
            labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", [])
        )

    ingress = policies["allow-ingress-to-web"]
    assert selects(ingress, web)
    assert not selects(ingress, worker)
    assert ingress["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8000}]
    database = policies["allow-postgresql"]
    assert all(selects(database, labels) for labels in (web, worker, job))
    assert database["egress"][0]["ports"] == [{"protocol": "TCP", "port": 5432}]
    dns = policies["allow-dns"]
    assert all(selects(dns, labels) for labels in (web, worker, job))
    assert {p["port"] for p in dns["egress"][0]["ports"]} == {53}
    assert "allow-llm" not in policies, "no LLM egress unless networkPolicy.llm.enabled"


@pytest.mark.parametrize(
    ("settings", "expected_peer"),
    [
        (
            ["--set", "networkPolicy.llm.cidrs={203.0.113.0/24}"],
            {"ipBlock": {"cidr": "203.0.113.0/24"}},
        ),
        (
            [
                "--set",
                "networkPolicy.llm.namespaceSelector.matchLabels.name=llm",
                "--set",
                "networkPolicy.llm.podSelector.matchLabels.app=vllm",
            ],
            {
                "namespaceSelector": {"matchLabels": {"name": "llm"}},
                "podSelector": {"matchLabels": {"app": "vllm"}},
            },
        ),
    ],
)
def test_llm_egress_by_cidr_or_namespace(
    settings: list[str], expected_peer: dict[str, Any]
) -> None:
    docs = load_documents(
        helm_template("--set", "networkPolicy.llm.enabled=true", *settings).stdout
    )
    (llm,) = [
        p for p in objects(docs, "NetworkPolicy") if p["metadata"]["name"].endswith("allow-llm")
    ]
    assert llm["spec"]["egress"][0]["to"] == [expected_peer]
    components = llm["spec"]["podSelector"]["matchExpressions"][1]
    assert components == {
        "key": "app.kubernetes.io/component",
        "operator": "In",
        "values": ["worker"],
    }


def test_secrets_are_read_only_files(rendered: tuple[str, Path, list[dict[str, Any]]]) -> None:
    _, _, docs = rendered
    assert not objects(docs, "Secret"), "secrets come from an existing Secret by default"
    for name, spec in pod_specs(docs):
        secret_volumes = {v["name"]: v for v in spec.get("volumes", []) if "secret" in v}
        assert secret_volumes, f"{name} mounts the learnloop Secret"
        for container in spec["containers"] + spec.get("initContainers", []):
            where = f"{name}/{container['name']}"
            assert not any("secretRef" in source for source in container.get("envFrom", [])), where
            env = {e["name"]: e for e in container.get("env", [])}
            for entry in env.values():
                assert "secretKeyRef" not in entry.get("valueFrom", {}), f"{where}: {entry['name']}"
            for secret in SECRET_ENV:
                assert secret not in env, f"{where} sets {secret} as a value"
            mounts = [m for m in container.get("volumeMounts", []) if m["name"] in secret_volumes]
            assert mounts, where
            assert all(m.get("readOnly") is True for m in mounts), where
            for secret in ("LEARNLOOP_SECRET_KEY_FILE", "LEARNLOOP_DATABASE_URL_FILE"):
                path = env[secret]["value"]
                assert any(path.startswith(m["mountPath"] + "/") for m in mounts), (where, path)


def test_llm_key_file_only_for_llm_engine() -> None:
    docs = load_documents(
        helm_template(
            "--set",
            "config.graderEngine=llm",
            "--set",
            "llm.baseUrl=https://llm.example",
            "--set",
            "llm.model=m",
        ).stdout
    )
    for name, spec in pod_specs(docs):
        env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
        assert env["LEARNLOOP_LLM_API_KEY_FILE"] == "/var/run/secrets/learnloop/llm-api-key", name


def test_secret_values_in_env_are_refused() -> None:
    result = helm_template(
        "--set",
        "config.extraEnv[0].name=X",
        "--set",
        "config.extraEnv[0].valueFrom.secretKeyRef.name=s",
        check=False,
    )
    assert result.returncode != 0
    assert "plain values only" in result.stderr


def test_restricted_pod_security(rendered: tuple[str, Path, list[dict[str, Any]]]) -> None:
    _, _, docs = rendered
    for name, spec in pod_specs(docs):
        assert spec["automountServiceAccountToken"] is False, name
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] == 65532, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert not spec.get("hostNetwork"), name
        assert not spec.get("hostPID"), name
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, name
            assert context["runAsUser"] == 65532, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert {"requests", "limits"} <= set(container["resources"]), name
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp, f"{name}: /tmp is mounted"
            assert tmp[0]["name"] in tmp_volumes, f"{name}: /tmp is an emptyDir"
    for account in objects(docs, "ServiceAccount"):
        assert account["automountServiceAccountToken"] is False


def test_probes(rendered: tuple[str, Path, list[dict[str, Any]]]) -> None:
    _, _, docs = rendered
    web = one(docs, "Deployment", "web")["spec"]["template"]["spec"]["containers"][0]
    assert web["startupProbe"]["httpGet"]["path"] == "/livez"
    assert web["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    worker = one(docs, "Deployment", "worker")["spec"]["template"]["spec"]["containers"][0]
    assert worker["args"][0] == "worker"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert worker[probe]["httpGet"]["port"] == "metrics"


def test_web_pods_drain_before_sigterm(rendered: tuple[str, Path, list[dict[str, Any]]]) -> None:
    """A preStop hook keeps the pod serving while Services drop it; then SIGTERM starts the
    app's own drain, and both fit in the grace period."""
    _, _, docs = rendered
    pod = one(docs, "Deployment", "web")["spec"]["template"]["spec"]
    web = pod["containers"][0]
    command = web["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "/usr/bin/python3.11"  # the image has no shell and no sleep
    pause = int(command[-1].split("sleep(")[1].rstrip(")"))
    assert pause > 0
    env = {e["name"]: e.get("value") for e in web["env"]}
    grace = float(env["LEARNLOOP_SHUTDOWN_GRACE_SECONDS"])
    assert pause + grace <= pod["terminationGracePeriodSeconds"]


def test_prestop_that_outlasts_the_grace_period_is_refused() -> None:
    result = helm_template("--set", "web.preStopSeconds=20", check=False)
    assert result.returncode != 0
    assert "preStopSeconds" in result.stderr


def test_replicas_pdb_and_hpa_agree(rendered: tuple[str, Path, list[dict[str, Any]]]) -> None:
    _, _, docs = rendered
    web = one(docs, "Deployment", "web")["spec"]
    replicas = web["replicas"]
    assert replicas >= 2
    assert web["strategy"]["type"] == "RollingUpdate"
    assert web["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    spread = web["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    pdb = one(docs, "PodDisruptionBudget", "web")["spec"]
    assert pdb["minAvailable"] < replicas, "a drain must be able to evict a web pod"
    assert pdb["selector"]["matchLabels"] == web["selector"]["matchLabels"]
    for hpa in objects(docs, "HorizontalPodAutoscaler"):
        component = hpa["metadata"]["labels"]["app.kubernetes.io/component"]
        deployment = one(docs, "Deployment", component)
        assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
        assert hpa["spec"]["minReplicas"] >= deployment["spec"]["replicas"]
        assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert any(
        h["metadata"]["labels"]["app.kubernetes.io/component"] == "web"
        for h in objects(docs, "HorizontalPodAutoscaler")
    )


def test_bad_replica_settings_are_refused() -> None:
    result = helm_template("--set", "web.pdb.minAvailable=2", check=False)
    assert result.returncode != 0
    assert "minAvailable" in result.stderr
    result = helm_template("--set", "web.replicas=4", check=False)
    assert result.returncode != 0
    assert "minReplicas" in result.stderr


def test_migration_job_is_a_hook(rendered: tuple[str, Path, list[dict[str, Any]]]) -> None:
    _, _, docs = rendered
    (job,) = objects(docs, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["db", "upgrade"]
    assert "learnloop-web" in container["image"], "migrations run from the web image"
    account = job["spec"]["template"]["spec"]["serviceAccountName"]
    (hook_account,) = [
        a for a in objects(docs, "ServiceAccount") if a["metadata"]["name"] == account
    ]
    weight = int(hook_account["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert weight < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])


def test_every_object_in_release_namespace(
    rendered: tuple[str, Path, list[dict[str, Any]]],
) -> None:
    _, _, docs = rendered
    for doc in docs:
        assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]


def test_production_values_pin_digests_and_enable_monitoring() -> None:
    docs = load_documents(helm_template(*VALUES["production"]).stdout)
    for _, spec in pod_specs(docs):
        for container in spec["containers"]:
            assert "@sha256:" in container["image"], container["image"]
    monitor = objects(docs, "ServiceMonitor")[0]["spec"]
    ports = {p["name"] for s in objects(docs, "Service") for p in s["spec"]["ports"]}
    assert {e["port"] for e in monitor["endpoints"]} <= ports
    assert all(e["path"] == "/metrics" for e in monitor["endpoints"])
    rule = objects(docs, "PrometheusRule")[0]["spec"]
    alerts = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yaml").read_text())
    assert rule == alerts, "the chart's PrometheusRule carries deploy/prometheus/alerts.yaml"
    (ingress,) = objects(docs, "Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == one(docs, "Service", "web")["metadata"]["name"]


def test_chart_alerts_copy_is_identical() -> None:
    chart_copy = CHART / "files" / "alerts.yaml"
    assert chart_copy.read_text() == (REPO / "deploy" / "prometheus" / "alerts.yaml").read_text()


def container_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def test_production_web_trusts_the_ingress_and_keeps_metrics_off_it() -> None:
    """Issue 15: behind ingress-nginx every client must not be one client, and /metrics must not
    be public."""
    import ipaddress

    docs = load_documents(helm_template(*VALUES["production"]).stdout)
    web_pod = one(docs, "Deployment", "web")["spec"]["template"]["spec"]
    (web,) = web_pod["containers"]
    env = container_env(web)
    trusted = env["LEARNLOOP_TRUSTED_PROXIES"].split(",")
    networks = [ipaddress.ip_network(cidr) for cidr in trusted]
    assert networks
    assert all(network.is_private for network in networks)
    assert ipaddress.ip_address("10.244.1.17") in networks[0]  # a typical pod address
    ports = {port["name"]: port["containerPort"] for port in web["ports"]}
    assert env["LEARNLOOP_METRICS_PORT"] == str(ports["metrics"])
    assert env["LEARNLOOP_METRICS_HOST"] == "0.0.0.0"
    assert ports["metrics"] != ports["http"]
    (worker,) = one(docs, "Deployment", "worker")["spec"]["template"]["spec"]["containers"]
    assert container_env(worker)["LEARNLOOP_WORKER_METRICS_HOST"] == "0.0.0.0"

    # The Ingress routes only the Service's http port; /metrics is not served there.
    (ingress,) = objects(docs, "Ingress")
    backends = [
        path["backend"]["service"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert backends
    assert all(backend["port"] == {"name": "http"} for backend in backends)
    service_ports = {p["name"]: p for p in one(docs, "Service", "web")["spec"]["ports"]}
    assert service_ports["http"]["targetPort"] == "http"
    assert service_ports["metrics"]["targetPort"] == "metrics"

    # Only the monitoring namespace reaches the metrics ports, and nothing else on them.
    policies = {
        p["metadata"]["name"].removeprefix("learnloop-"): p for p in objects(docs, "NetworkPolicy")
    }
    metrics = policies["allow-metrics"]["spec"]["ingress"]
    assert len(metrics) == 1
    (peer,) = metrics[0]["from"]
    assert peer["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
    }
    assert {p["port"] for p in metrics[0]["ports"]} == {ports["metrics"], 9101}
    ingress_ports = policies["allow-ingress-to-web"]["spec"]["ingress"][0]["ports"]
    assert {p["port"] for p in ingress_ports} == {ports["http"]}
    monitor = objects(docs, "ServiceMonitor")[0]["spec"]
    assert {e["port"] for e in monitor["endpoints"]} == {"metrics"}
