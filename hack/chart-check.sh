#!/usr/bin/env bash
# `make chart`: lint and render charts/overture the way users will install it, with the pinned
# helm from hack/tools.sh. Checks:
#   - `helm lint` (strict) in both RBAC modes and with every optional object on;
#   - `helm template` in both modes parses as YAML, every document has apiVersion/kind/name,
#     and each mode renders the objects it must (and none it must not);
#   - a bad configuration fails the render with a message (namespaced mode without namespaces,
#     an unknown scope, two replicas without leader election, shards out of range or without
#     leader election), and operator.shards reaches the operator as OVERTURE_SHARDS.
# PYTHON (default python3) needs PyYAML.
set -euo pipefail
cd "$(dirname "$0")/.."
CHART=charts/overture
PYTHON=${PYTHON:-python3}
HELM="$(bash hack/tools.sh)/helm"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

NAMESPACED=(--set rbac.scope=namespaced --set 'rbac.namespaces={team-a,team-b}')
EVERYTHING=(--set ingress.enabled=true --set ingress.host=hooks.example.com --set serviceMonitor.enabled=true --set ui.enabled=true)

echo "[chart] $("$HELM" version --short) lint $CHART"
"$HELM" lint --strict "$CHART" >/dev/null
"$HELM" lint --strict "$CHART" "${NAMESPACED[@]}" >/dev/null
"$HELM" lint --strict "$CHART" "${EVERYTHING[@]}" >/dev/null

"$HELM" template overture "$CHART" -n overture --include-crds >"$out/cluster.yaml"
"$HELM" template overture "$CHART" -n overture --include-crds "${NAMESPACED[@]}" >"$out/namespaced.yaml"
"$HELM" template overture "$CHART" -n overture "${EVERYTHING[@]}" >"$out/everything.yaml"

# must_fail <message> <helm template flags...>: the render fails and says <message>.
must_fail() {
  local want=$1; shift
  if "$HELM" template overture "$CHART" "$@" >/dev/null 2>"$out/err"; then
    echo "[chart] ERROR: helm template $* rendered; it must fail with: $want" >&2
    exit 1
  fi
  grep -qF "$want" "$out/err" ||
    { echo "[chart] ERROR: helm template $* failed without saying '$want':" >&2; cat "$out/err" >&2; exit 1; }
}
must_fail "rbac.scope=namespaced needs rbac.namespaces" --set rbac.scope=namespaced
must_fail 'rbac.scope must be "cluster" or "namespaced"' --set rbac.scope=global
must_fail "replicaCount > 1 needs operator.leaderElection=true" --set replicaCount=2 --set operator.leaderElection=false
must_fail 'ui.auth must be "token" or "impersonate"' --set ui.enabled=true --set ui.auth=kubeconfig
must_fail "operator.shards must be a whole number from 1 to 64" --set operator.shards=0
must_fail "operator.shards must be a whole number from 1 to 64" --set operator.shards=65
must_fail "operator.shards > 1 needs operator.leaderElection=true" --set operator.shards=2 --set operator.leaderElection=false
must_fail 'operator.taskRuntime must be "job", "pod" or "managed-job"' --set operator.taskRuntime=pods

# The pod task runtime: the setting reaches the operator, and only then may it create and delete pods.
"$HELM" template overture "$CHART" -n overture --set operator.taskRuntime=pod >"$out/pods.yaml"
grep -A1 -- '- name: OVERTURE_TASK_RUNTIME' "$out/pods.yaml" | grep -qF 'value: "pod"' ||
  { echo "[chart] ERROR: operator.taskRuntime=pod did not render OVERTURE_TASK_RUNTIME=\"pod\"" >&2; exit 1; }
grep -qF 'verbs: ["get", "list", "watch", "create", "delete"]  # the pod and managed-job runtimes' "$out/pods.yaml" ||
  { echo "[chart] ERROR: operator.taskRuntime=pod did not grant create and delete on pods" >&2; exit 1; }
# The job runtime: the built-in Job controller makes the pods; the operator neither makes pods nor writes Job status.
"$HELM" template overture "$CHART" -n overture --set operator.taskRuntime=job >"$out/jobs.yaml"
grep -A1 -- '- name: OVERTURE_TASK_RUNTIME' "$out/jobs.yaml" | grep -qF 'value: "job"' ||
  { echo "[chart] ERROR: operator.taskRuntime=job did not render OVERTURE_TASK_RUNTIME=\"job\"" >&2; exit 1; }
if grep -qF '# the pod and managed-job runtimes' "$out/jobs.yaml"; then
  echo "[chart] ERROR: the job runtime granted create on pods" >&2; exit 1
fi
if grep -qF 'jobs/status' "$out/jobs.yaml" "$out/pods.yaml"; then
  echo "[chart] ERROR: the job or pod runtime granted patch on jobs/status" >&2; exit 1
fi
# The managed-job runtime, the default: it makes the pods of its Jobs and writes their status.
grep -A1 -- '- name: OVERTURE_TASK_RUNTIME' "$out/cluster.yaml" | grep -qF 'value: "managed-job"' ||
  { echo "[chart] ERROR: the default did not render OVERTURE_TASK_RUNTIME=\"managed-job\"" >&2; exit 1; }
grep -qF '# the pod and managed-job runtimes' "$out/cluster.yaml" && grep -qF 'jobs/status' "$out/cluster.yaml" ||
  { echo "[chart] ERROR: the default (managed-job) runtime did not grant pods create and jobs/status patch" >&2; exit 1; }

# Two replicas side by side: the shard count reaches the operator as OVERTURE_SHARDS.
"$HELM" template overture "$CHART" -n overture --set replicaCount=2 --set operator.shards=4 >"$out/sharded.yaml"
grep -A1 -- '- name: OVERTURE_SHARDS' "$out/sharded.yaml" | grep -qF 'value: "4"' ||
  { echo "[chart] ERROR: operator.shards=4 did not render OVERTURE_SHARDS=\"4\"" >&2; exit 1; }

"$PYTHON" - "$out" <<'PY'
import collections
import sys

import yaml

out = sys.argv[1]


def kinds(mode: str) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    with open(f"{out}/{mode}.yaml") as f:
        for i, doc in enumerate(yaml.safe_load_all(f)):
            if doc is None:
                continue
            for key in ("apiVersion", "kind"):
                assert doc.get(key), f"{mode}: document {i} has no {key}"
            assert doc.get("metadata", {}).get("name"), f"{mode}: document {i} ({doc['kind']}) has no name"
            counts[doc["kind"]] += 1
    return counts


expected = {
    # CRDs 4; operator ClusterRole + flow-author + viewer + template-publisher + cluster-template-reader
    # (bound to everyone signed in) + service-account-user; leader-election Role + RoleBinding; the
    # admission policies on Flows and on Executions and their bindings
    "cluster": {"CustomResourceDefinition": 4, "ClusterRole": 6, "ClusterRoleBinding": 2, "Role": 1,
                "RoleBinding": 1, "ServiceAccount": 1, "Service": 1, "Deployment": 1,
                "ValidatingAdmissionPolicy": 2, "ValidatingAdmissionPolicyBinding": 2},
    # a Role + RoleBinding in each of the 2 namespaces, plus leader election; cluster-wide only
    # the read-only observer ClusterRole (CRDs, namespaces) and the user roles
    "namespaced": {"CustomResourceDefinition": 4, "ClusterRole": 6, "ClusterRoleBinding": 2, "Role": 3, "RoleBinding": 3,
                   "ServiceAccount": 1, "Service": 1, "Deployment": 1,
                   "ValidatingAdmissionPolicy": 2, "ValidatingAdmissionPolicyBinding": 2},
    # ... and the UI: its own ServiceAccount (granted nothing), Deployment and Service
    "everything": {"ClusterRole": 6, "ClusterRoleBinding": 2, "Role": 1, "RoleBinding": 1, "ServiceAccount": 2,
                   "Service": 2, "Deployment": 2, "Ingress": 1, "ServiceMonitor": 1,
                   "ValidatingAdmissionPolicy": 2, "ValidatingAdmissionPolicyBinding": 2},
}
for mode, want in expected.items():
    got = dict(kinds(mode))
    assert got == want, f"helm template ({mode}) rendered {got}, expected {want}"
    print(f"[chart] helm template ({mode}): {sum(got.values())} objects parse: "
          + ", ".join(f"{k} {v}" for k, v in sorted(got.items())))
PY
echo "[chart] OK"
