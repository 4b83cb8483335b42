"""The Kubernetes manifests: kustomize renders them, every object passes the Kubernetes JSON
schemas (offline, kubernetes-validate), and they keep their promises: a non-root, read-only,
capability-free pod; probes on /healthz and /readyz; the index migrated before the facade
serves; no secret value anywhere; only VAULTAUTH_* names that are settings.

kubectl (with kustomize v4 or newer) must be on PATH: missing, the tests fail in CI (`CI` set;
.ci/run installs it) and are skipped as NOT RUN elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import SecretStr

from vaultauth.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
BASE = KUBERNETES / "base"
OVERLAY = KUBERNETES / "overlays" / "example"
# The oldest Kubernetes these manifests claim (PSS "restricted", policy/v1 PDBs), and the newest
# schemas kubernetes-validate ships.
SCHEMA_VERSIONS = ("1.25", kubernetes_validate.latest_version())
SETTINGS_NAMES = {f"VAULTAUTH_{name.upper()}" for name in Settings.model_fields}
# Settings that hold a secret (SecretStr): none may get a literal value in a manifest.
SECRET_SETTINGS = {
    f"VAULTAUTH_{name.upper()}"
    for name, field in Settings.model_fields.items()
    if SecretStr in getattr(field.annotation, "__args__", (field.annotation,))
}
CREDENTIALS_IN_URL = re.compile(r"://[^/@\s]+:[^/@\s]+@")

Manifest = dict[str, Any]


def _unusable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(f"NOT RUN: {reason}; CI runs it")


@pytest.fixture(scope="module")
def kubectl() -> str:
    binary = shutil.which("kubectl")
    if binary is None:
        _unusable("kubectl is not installed (.ci/run installs Debian's kubernetes-client)")
        raise AssertionError("unreachable")
    shown = subprocess.run(
        [binary, "version", "--client", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    version = json.loads(shown.stdout or "{}")
    kustomize = version.get("kustomizeVersion", "")
    minor = int(re.sub(r"\D", "", version.get("clientVersion", {}).get("minor", "0")) or 0)
    major = re.match(r"v(\d+)", kustomize)
    if (major is not None and int(major.group(1)) < 4) or (major is None and minor < 21):
        # Debian bookworm's kubernetes-client is kubectl 1.20 with kustomize v2.0.3, which
        # cannot take a directory under `resources:`.
        _unusable(
            f"{binary} is kubectl 1.{minor} (kustomize {kustomize or 'older than v4'}): "
            "these kustomizations need kubectl 1.21 or newer"
        )
    return binary


def render(kubectl: str, path: Path) -> list[Manifest]:
    result = subprocess.run(
        [kubectl, "kustomize", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def base(kubectl: str) -> list[Manifest]:
    return render(kubectl, BASE)


@pytest.fixture(scope="module")
def overlay(kubectl: str) -> list[Manifest]:
    return render(kubectl, OVERLAY)


@pytest.fixture(scope="module")
def monitored(kubectl: str, tmp_path_factory: pytest.TempPathFactory) -> list[Manifest]:
    """The example overlay with its commented-out ServiceMonitor component switched on."""
    copy = tmp_path_factory.mktemp("kubernetes") / "kubernetes"
    shutil.copytree(KUBERNETES, copy)
    kustomization = copy / "overlays" / "example" / "kustomization.yaml"
    text = kustomization.read_text()
    commented = "# components:\n#   - ../../components/servicemonitor\n"
    assert commented in text
    kustomization.write_text(
        text.replace(commented, "components:\n  - ../../components/servicemonitor\n")
    )
    return render(kubectl, copy / "overlays" / "example")


@pytest.fixture(params=["base", "overlay"])
def rendered(request: pytest.FixtureRequest) -> list[Manifest]:
    manifests: list[Manifest] = request.getfixturevalue(request.param)
    return manifests


def only(manifests: list[Manifest], kind: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind]
    assert len(found) == 1, [m["metadata"]["name"] for m in found]
    return found[0]


def pod_spec(manifests: list[Manifest]) -> Manifest:
    spec: Manifest = only(manifests, "Deployment")["spec"]["template"]["spec"]
    return spec


def facade(manifests: list[Manifest]) -> Manifest:
    (container,) = [c for c in pod_spec(manifests)["containers"] if c["name"] == "facade"]
    return container


def all_containers(manifests: list[Manifest]) -> Iterator[Manifest]:
    spec = pod_spec(manifests)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def config(manifests: list[Manifest]) -> dict[str, str]:
    data: dict[str, str] = only(manifests, "ConfigMap")["data"]
    return data


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("rendering", ["base", "overlay", "monitored"])
def test_every_object_passes_the_kubernetes_schemas(
    rendering: str, version: str, request: pytest.FixtureRequest
) -> None:
    manifests: list[Manifest] = request.getfixturevalue(rendering)
    assert manifests
    for manifest in manifests:
        if manifest["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD's kind: no schema in Kubernetes' own (checked below)
        name = f"{manifest['kind']}/{manifest['metadata']['name']}"
        try:
            # strict: unknown fields (a typo'd key) are errors too.
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            pytest.fail(f"{name} against {version}: {path}: {exc.message}", pytrace=False)


def test_the_base_holds_the_facade_and_nothing_optional(base: list[Manifest]) -> None:
    kinds = sorted(m["kind"] for m in base)
    assert kinds == sorted(
        ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"]
    )


def test_the_pod_runs_unprivileged(rendered: list[Manifest]) -> None:
    spec = pod_spec(rendered)
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert isinstance(pod["runAsUser"], int)
    assert pod["runAsUser"] > 0
    # The image's own user, so files the image installs are readable as it expects.
    image_uid = re.search(r"useradd [^\n]*--uid (\d+)", (ROOT / "Dockerfile").read_text())
    assert image_uid is not None
    assert pod["runAsUser"] == int(image_uid.group(1))
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(key)
    assert all("hostPath" not in volume for volume in spec["volumes"])
    containers = list(all_containers(rendered))
    assert len(containers) == 2
    for container in containers:
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert not context.get("privileged"), container["name"]
        assert context.get("runAsUser", pod["runAsUser"]) > 0, container["name"]
        resources = container["resources"]
        for bound in ("requests", "limits"):
            assert set(resources[bound]) >= {"cpu", "memory"}, (container["name"], bound)


def test_tmp_and_the_metrics_dir_are_on_an_empty_dir(rendered: list[Manifest]) -> None:
    spec = pod_spec(rendered)
    volumes = {v["name"]: v for v in spec["volumes"]}
    for container in all_containers(rendered):
        (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert "emptyDir" in volumes[tmp["name"]], container["name"]
    env = {e["name"]: e for e in facade(rendered)["env"]}
    assert env["PROMETHEUS_MULTIPROC_DIR"]["value"].startswith("/tmp/")


def test_the_facade_serves_on_8080_with_workers_matching_its_cpus(
    rendered: list[Manifest],
) -> None:
    container = facade(rendered)
    command = container["command"]
    assert command[:6] == ["vaultauth", "serve", "--host", "0.0.0.0", "--port", "8080"]
    assert command[6] == "--workers"
    workers = int(command[7])
    assert workers >= 1
    assert workers == int(container["resources"]["limits"]["cpu"])
    (port,) = container["ports"]
    assert port["containerPort"] == 8080
    service = only(rendered, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    (service_port,) = service["spec"]["ports"]
    assert service_port["port"] == 8080
    assert service_port["targetPort"] in (8080, port["name"])
    labels = only(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_probes_ask_healthz_for_liveness_and_readyz_for_readiness(
    rendered: list[Manifest],
) -> None:
    container = facade(rendered)
    port_name = container["ports"][0]["name"]
    expected = {
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
        "startupProbe": "/healthz",
    }
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert get["port"] in (8080, port_name), probe


def test_the_index_is_migrated_before_the_facade_serves(rendered: list[Manifest]) -> None:
    spec = pod_spec(rendered)
    (init,) = spec["initContainers"]
    assert init["command"] == ["vaultauth", "index", "upgrade"]
    assert init["image"] == facade(rendered)["image"]
    assert config(rendered)["VAULTAUTH_INDEX_AUTO_MIGRATE"] == "false"
    assert not [m for m in rendered if m["kind"] == "Job"]


def test_no_secret_value_is_written_in_the_manifests(rendered: list[Manifest]) -> None:
    assert "VAULTAUTH_INDEX_URL" in SECRET_SETTINGS
    assert not [m for m in rendered if m["kind"] == "Secret"]
    data = config(rendered)
    assert not SECRET_SETTINGS & set(data), SECRET_SETTINGS & set(data)
    for value in data.values():
        assert not CREDENTIALS_IN_URL.search(value), value
    for container in all_containers(rendered):
        env = {e["name"]: e for e in container.get("env", [])}
        assert env["VAULTAUTH_INDEX_URL"]["valueFrom"]["secretKeyRef"]["key"], container["name"]
        for name, entry in env.items():
            if name in SECRET_SETTINGS:
                assert "value" not in entry, (container["name"], name)
            assert not CREDENTIALS_IN_URL.search(entry.get("value", "")), (container["name"], name)


def test_every_vaultauth_variable_is_a_setting(rendered: list[Manifest]) -> None:
    used = {name for name in config(rendered) if name.startswith("VAULTAUTH_")}
    for container in all_containers(rendered):
        used |= {e["name"] for e in container.get("env", []) if e["name"].startswith("VAULTAUTH_")}
    assert {
        "VAULTAUTH_VAULT_ADDR",
        "VAULTAUTH_VAULT_AUTH_METHOD",
        "VAULTAUTH_VAULT_KUBERNETES_ROLE",
        "VAULTAUTH_INDEX_AUTO_MIGRATE",
        "VAULTAUTH_INDEX_URL",
    } <= used
    assert used <= SETTINGS_NAMES, used - SETTINGS_NAMES
    # Comments name settings too: they must not send anyone to a variable that does not exist.
    in_files = {
        name
        for path in KUBERNETES.rglob("*.yaml")
        for name in re.findall(r"\bVAULTAUTH_[A-Z0-9_]*[A-Z0-9]\b", path.read_text())
    }
    assert in_files <= SETTINGS_NAMES, in_files - SETTINGS_NAMES


def test_the_configuration_is_valid_for_the_settings(
    rendered: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SETTINGS_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name, value in config(rendered).items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.vault_auth_method == "kubernetes"
    assert settings.vault_kubernetes_role
    assert settings.index_auto_migrate is False
    assert all(a.startswith(("https://", "http://")) for a in settings.vault_addresses())


def test_the_pods_log_in_to_vault_as_the_service_account(rendered: list[Manifest]) -> None:
    spec = pod_spec(rendered)
    account = only(rendered, "ServiceAccount")
    assert spec["serviceAccountName"] == account["metadata"]["name"]
    # The account mounts no token by default; the facade's pod asks for it (Vault's login).
    assert account.get("automountServiceAccountToken") is False
    assert spec["automountServiceAccountToken"] is True
    # Kubernetes' Docker-link variables (VAULTAUTH_PORT, ...) would share the settings' prefix.
    assert spec["enableServiceLinks"] is False
    config_name = only(rendered, "ConfigMap")["metadata"]["name"]
    for container in all_containers(rendered):
        assert container["envFrom"] == [{"configMapRef": {"name": config_name}}]


def test_a_disruption_budget_keeps_one_of_several_replicas(rendered: list[Manifest]) -> None:
    budget = only(rendered, "PodDisruptionBudget")["spec"]
    assert budget["minAvailable"] == 1
    deployment = only(rendered, "Deployment")["spec"]
    assert deployment["replicas"] >= 2
    labels = deployment["template"]["metadata"]["labels"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()


def test_the_overlay_sets_image_namespace_and_vault_nodes(overlay: list[Manifest]) -> None:
    images = {c["image"] for c in all_containers(overlay)}
    assert len(images) == 1
    assert images != {"vaultauth:latest"}
    assert only(overlay, "Namespace")["metadata"]["name"] == "vaultauth"
    for manifest in overlay:
        if manifest["kind"] != "Namespace":
            assert manifest["metadata"]["namespace"] == "vaultauth", manifest["kind"]
    assert len(Settings(vault_addr=config(overlay)["VAULTAUTH_VAULT_ADDR"]).vault_addresses()) == 3
    cacert = config(overlay)["VAULTAUTH_VAULT_CACERT"]
    mounts = [m["mountPath"] for m in facade(overlay)["volumeMounts"]]
    assert any(cacert.startswith(f"{mount}/") for mount in mounts), (cacert, mounts)


def test_the_service_monitor_is_opt_in_and_scrapes_the_service(
    base: list[Manifest], overlay: list[Manifest], monitored: list[Manifest]
) -> None:
    assert not [m for m in base + overlay if m["kind"] == "ServiceMonitor"]
    monitor = only(monitored, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    service = only(monitored, "Service")
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"
    assert [m for m in monitored if m["kind"] != "ServiceMonitor"] == overlay
