"""Where the service reads runbooks (`runbooks.source`): the image's bundled set, a ConfigMap,
a volume (an existing claim or any volume source) or a git repository synced by git-sync.
Every source is mounted read-only as a whole directory and watched; unsafe or contradictory
values are refused with what to do instead."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.rendering import RELEASE, Rendered, render, render_error

pytestmark = pytest.mark.chart

MOUNT = "/etc/sre-ai/runbooks"
CLAIM = ["runbooks.source=volume", "runbooks.volume.existingClaim=team-runbooks"]
GIT = ["runbooks.source=git", "runbooks.git.repo=https://git.example.com/sre/runbooks.git"]
HTTPS_AUTH = ["runbooks.git.auth.type=https", "runbooks.git.auth.existingSecret=runbooks-git",
              "runbooks.git.auth.username=sre-bot"]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def pod_spec(rendered: Rendered) -> dict[str, Any]:
    spec: dict[str, Any] = rendered.api_deployment()["spec"]["template"]["spec"]
    return spec


def volumes(rendered: Rendered) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod_spec(rendered)["volumes"]}


def mounts(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in container.get("volumeMounts", [])}


def git_sync(rendered: Rendered) -> dict[str, Any]:
    init = pod_spec(rendered).get("initContainers", [])
    assert [c["name"] for c in init] == ["git-sync"]
    container: dict[str, Any] = init[0]
    return container


def runbooks_volume_of_the_service(rendered: Rendered) -> tuple[str, dict[str, Any]]:
    """(SRE_AI_RUNBOOKS_DIR, the volume it lies in); the mount must be read-only, whole."""
    container = rendered.api_container()
    directory = env_of(container)["SRE_AI_RUNBOOKS_DIR"]
    mount = mounts(container)["runbooks"]
    assert mount["mountPath"] == MOUNT and mount["readOnly"] is True
    assert "subPath" not in mount and "subPathExpr" not in mount
    assert directory == MOUNT or directory.startswith(MOUNT + "/")
    return directory, volumes(rendered)["runbooks"]


# ------------------------------------------------------------------------ bundled, configMap


def test_bundled_by_default_nothing_mounted() -> None:
    rendered = render()
    assert "SRE_AI_RUNBOOKS_DIR" not in env_of(rendered.api_container())
    assert "runbooks" not in volumes(rendered)
    assert "initContainers" not in pod_spec(rendered)
    assert rendered.maybe("ConfigMap", f"{RELEASE}-runbooks") is None


def test_source_configmap_is_what_the_deprecated_enabled_flag_renders() -> None:
    extra = ["runbooks.extra.disk\\.md=# Disk full"]
    old = render(sets=["runbooks.enabled=true", *extra])
    new = render(sets=["runbooks.source=configMap", *extra])
    assert old.objects == new.objects
    directory, volume = runbooks_volume_of_the_service(new)
    assert directory == MOUNT
    assert volume["configMap"]["name"] == f"{RELEASE}-runbooks"
    assert new.get("ConfigMap", f"{RELEASE}-runbooks")["data"] == {"disk.md": "# Disk full\n"}


# ------------------------------------------------------------------------------------ volume


def test_volume_source_mounts_the_claim_read_only_and_reads_the_folder_inside_it() -> None:
    rendered = render("runbooks-volume-values.yaml")
    directory, volume = runbooks_volume_of_the_service(rendered)
    assert directory == f"{MOUNT}/sre/runbooks"
    assert volume["persistentVolumeClaim"] == {"claimName": "team-runbooks", "readOnly": True}
    assert rendered.maybe("ConfigMap", f"{RELEASE}-runbooks") is None
    assert "initContainers" not in pod_spec(rendered)


def test_volume_source_takes_any_volume_spec() -> None:
    rendered = render(sets=["runbooks.source=volume", "runbooks.volume.spec.nfs.server=nfs.lan",
                            "runbooks.volume.spec.nfs.path=/exports/runbooks",
                            "runbooks.volume.spec.nfs.readOnly=true"])
    directory, volume = runbooks_volume_of_the_service(rendered)
    assert directory == MOUNT
    assert volume == {"name": "runbooks", "nfs": {"server": "nfs.lan", "path": "/exports/runbooks",
                                                  "readOnly": True}}


def test_embeddings_are_cached_on_the_ledger_volume() -> None:
    for sets, durable in (([*CLAIM], True), ([*CLAIM, "ledger.path=/data/sre"], True),
                          ([*CLAIM, "redis.enabled=true"], False)):
        rendered = render(sets=sets)
        container = rendered.api_container()
        env = env_of(container)
        ledger_dir = env["SRE_AI_LEDGER_PATH"].rpartition("/")[0]
        assert env["SRE_AI_EMBEDDING_CACHE_DIR"] == f"{ledger_dir}/embeddings", sets
        assert mounts(container)["ledger"]["mountPath"] == ledger_dir, sets
        ledger = volumes(rendered)["ledger"]
        assert ("persistentVolumeClaim" in ledger) is durable, sets


# --------------------------------------------------------------------------------------- git


def test_git_source_runs_git_sync_as_a_native_sidecar_gating_the_service() -> None:
    rendered = render("runbooks-git-values.yaml")
    sidecar = git_sync(rendered)
    assert sidecar["restartPolicy"] == "Always"  # a native sidecar: runs for the pod's life
    assert sidecar["image"] == "registry.k8s.io/git-sync/git-sync:v4.7.1"
    args = sidecar["args"]
    for flag in ("--repo=git@github.com:acme/runbooks.git", "--ref=main", "--root=/git",
                 "--link=current", "--period=2m", "--depth=1", "--max-failures=5",
                 "--ssh-key-file=/etc/git-secret/ssh", "--ssh-known-hosts=true",
                 "--ssh-known-hosts-file=/etc/git-secret/known_hosts"):
        assert flag in args, (flag, args)
    # The service starts after the sidecar's startup probe: git-sync answers 200 on its HTTP
    # endpoint only once the first sync is published.
    bind = next(a for a in args if a.startswith("--http-bind=:"))
    probe = sidecar["startupProbe"]
    assert probe["httpGet"]["path"] == "/"
    port = next(p for p in sidecar["ports"] if p["name"] == probe["httpGet"]["port"])
    assert bind == f"--http-bind=:{port['containerPort']}"
    assert probe["periodSeconds"] * probe["failureThreshold"] == 120

    # git-sync writes the checkout; the service reads it through the link, read-only.
    directory, volume = runbooks_volume_of_the_service(rendered)
    assert directory == f"{MOUNT}/current/content/runbooks"
    assert "emptyDir" in volume
    git_mounts = mounts(sidecar)
    assert git_mounts["runbooks"]["mountPath"] == "/git"
    assert not git_mounts["runbooks"].get("readOnly")
    assert git_mounts["git-sync-tmp"]["mountPath"] == "/tmp"


def test_git_credentials_reach_only_git_sync_from_an_existing_secret() -> None:
    rendered = render("runbooks-git-values.yaml")
    secret_volume = volumes(rendered)["git-credentials"]["secret"]
    assert secret_volume == {"secretName": "runbooks-git", "defaultMode": 0o440}
    git_mount = mounts(git_sync(rendered))["git-credentials"]
    assert git_mount == {"name": "git-credentials", "mountPath": "/etc/git-secret",
                         "readOnly": True}
    assert "git-credentials" not in mounts(rendered.api_container())
    assert not [o for o in rendered.all("Secret") if o["metadata"]["name"] == "runbooks-git"]


def test_git_over_https_reads_the_token_from_a_file() -> None:
    sidecar = git_sync(render(sets=[*GIT, *HTTPS_AUTH]))
    assert "--username=sre-bot" in sidecar["args"]
    assert "--password-file=/etc/git-secret/password" in sidecar["args"]
    # never in the environment, where `kubectl describe` would show where it comes from
    assert not [e for e in sidecar["env"] if "PASSWORD" in e["name"]]


def test_a_public_repository_needs_no_credentials() -> None:
    rendered = render(sets=GIT)
    sidecar = git_sync(rendered)
    assert not [a for a in sidecar["args"] if a.startswith(("--username", "--password", "--ssh"))]
    assert "git-credentials" not in volumes(rendered)
    assert env_of(rendered.api_container())["SRE_AI_RUNBOOKS_DIR"] == f"{MOUNT}/current"


def test_git_over_ssh_may_leave_through_egress_network_policies() -> None:
    policy = render("runbooks-git-values.yaml").get("NetworkPolicy", RELEASE)
    ssh = [r for r in policy["spec"]["egress"]
           if {"port": 22, "protocol": "TCP"} in r.get("ports", [])]
    assert len(ssh) == 1 and ssh[0]["to"]
    https_only = render(sets=[*GIT, "networkPolicy.enabled=true",
                              "networkPolicy.egress.enabled=true"]).get("NetworkPolicy", RELEASE)
    assert not [r for r in https_only["spec"]["egress"]
                if {"port": 22, "protocol": "TCP"} in r.get("ports", [])]


# ------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        # incomplete: the schema names the field each source needs
        (["runbooks.source=volume"], "/runbooks/volume"),
        (["runbooks.source=git"], "/runbooks/git/repo"),
        (["runbooks.source=configMap"], "/runbooks/extra"),
        ([*GIT, "runbooks.git.auth.type=https"], "/runbooks/git/auth/existingSecret"),
        (["runbooks.source=s3"], "/runbooks/source"),
        ([*CLAIM, "runbooks.volume.subPath=/etc"], "/runbooks/volume/subPath"),
        ([*GIT, "runbooks.git.image.tag=latest"], "/runbooks/git/image/tag"),
        ([*GIT, "runbooks.git.extraArgs[0]=rm"], "/runbooks/git/extraArgs/0"),
        ([*GIT, "runbooks.git.period=60"], "/runbooks/git/period"),
        # contradictory or unsafe: the templates say what to do instead
        ([*CLAIM, "runbooks.volume.spec.nfs.server=x"], "set existingClaim or spec, not both"),
        (["runbooks.volume.existingClaim=team-runbooks"], "set runbooks.source=volume"),
        (["runbooks.git.repo=https://git.example.com/r.git"], "set runbooks.source=git"),
        ([*CLAIM, "runbooks.enabled=true"], "old spelling of runbooks.source=configMap"),
        ([*CLAIM, "runbooks.volume.subPath=team/../../etc"], "must stay inside its volume"),
        ([*GIT, "runbooks.git.path=.."], "must stay inside its volume"),
        (["runbooks.source=volume", f"runbooks.volume.existingClaim={RELEASE}-ledger"],
         "the ledger's claim"),
        (["runbooks.source=git", "runbooks.git.repo=https://bot:ghp_x@github.com/a/b.git"],
         "password or token in the URL"),
        (["runbooks.source=git", "runbooks.git.repo=http://git.example.com/r.git"],
         "plain http://"),
        (["runbooks.source=git", "runbooks.git.repo=git@github.com:a/b.git"],
         "set runbooks.git.auth.type=ssh"),
        ([*GIT, "runbooks.git.auth.existingSecret=s"], "auth.type=none"),
        ([*GIT, *HTTPS_AUTH, "runbooks.git.auth.username="], "needs runbooks.git.auth.username"),
        ([*GIT, "runbooks.git.auth.type=ssh", "runbooks.git.auth.existingSecret=s"],
         "needs an SSH repository URL"),
        (["runbooks.source=git", "runbooks.git.repo=https://git.example.com/r.git",
          "runbooks.git.auth.type=https", "runbooks.git.auth.existingSecret=s",
          "runbooks.git.auth.username=u", "runbooks.git.repo=ssh://git@host/r.git"],
         "needs an https:// repository URL"),
    ],
)
def test_unsafe_or_incomplete_runbook_sources_are_refused(sets: list[str], expected: str) -> None:
    assert expected in render_error(sets=sets)
