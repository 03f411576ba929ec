#!/usr/bin/env bash
# `make demo`: the local cluster is up (make cluster-up ran first); install the CRDs, start the
# operator in the background, apply the ETL example, run it, and show it reaching SUCCESS.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash hack/cluster/env.sh)"
VENV=${VENV:-.venv}
LOG=${OVERTURE_CLUSTER_DIR:-/tmp/overture-cluster}/logs/operator.log
mkdir -p "$(dirname "$LOG")"

kubectl apply -f crds/ >/dev/null
# a CRD created a moment ago has no status.conditions yet, and kubectl wait fails on that at once
for _ in $(seq 30); do
  kubectl wait --for condition=Established crd/flows.overture.dev crd/executions.overture.dev --timeout=60s \
    >/dev/null 2>&1 && break
  sleep 1
done
kubectl wait --for condition=Established crd/flows.overture.dev crd/executions.overture.dev --timeout=5s >/dev/null
if [[ -f "$LOG.pid" ]] && kill -0 "$(cat "$LOG.pid")" 2>/dev/null; then
  echo "operator already running (pid $(cat "$LOG.pid"), log $LOG)"
else
  nohup "$VENV/bin/overture" operator --port 18080 >"$LOG" 2>&1 &
  echo $! >"$LOG.pid"
  for _ in $(seq 60); do curl -fs localhost:18080/readyz >/dev/null && break; sleep 1; done
  curl -fs localhost:18080/readyz >/dev/null || { echo "operator did not start; log:"; tail -30 "$LOG"; exit 1; }
  echo "operator running (pid $(cat "$LOG.pid"), log $LOG, metrics http://localhost:18080/metrics)"
fi

kubectl apply -f examples/02-etl-outputs.yaml
name=etl-demo-$(date +%s)
# who runs it, as `overture run` writes it (the chart's admission policy checks it when installed)
me=$(kubectl auth whoami -o jsonpath='{.status.userInfo.username}')
kubectl create -f - <<YAML
apiVersion: overture.dev/v1alpha1
kind: Execution
metadata: {name: $name}
spec: {flowRef: {name: etl-outputs}, requestedBy: "$me"}
YAML
echo "waiting for $name ..."
for _ in $(seq 180); do
  state=$(kubectl get execution "$name" -o jsonpath='{.status.state}' 2>/dev/null || true)
  case "$state" in SUCCESS|WARNING|FAILED|KILLED|CANCELLED) break ;; esac
  sleep 1
done
kubectl get flows
kubectl get executions
kubectl get execution "$name" -o jsonpath='{range .status.taskRuns[*]}{.id}{"\t"}{.state}{"\t"}{.outputs}{"\n"}{end}'
echo
kubectl describe execution "$name" | sed -n '/^Events:/,$p'
[[ "$state" == SUCCESS ]] || { echo "the demo execution ended ${state:-without a state}"; exit 1; }
echo "Done: $name reached SUCCESS. Stop the operator with: kill \$(cat $LOG.pid); make cluster-down"
