#!/usr/bin/env bash
# Start the local Overture cluster: etcd 3.6 + kube-apiserver/controller-manager/scheduler
# 1.34 as background processes, plus a node:
#   real  (default) kubelet + Debian's containerd/runc/CNI bridge, locally built images
#   kwok            one fake kwok node (the only node: every pod lands there, Job pods complete at once)
#   both            the real node + a kwok node tainted kwok.x-k8s.io/node=fake:NoSchedule
#                   (pods opt in with that toleration + nodeSelector overture.dev/node-kind=kwok)
#   none            control plane only
# Every mode also runs an S3 server (versitygw) with one bucket for artifacts and logs; its
# endpoint and keys are in $OVERTURE_CLUSTER_DIR/cluster.env (OVERTURE_S3_*).
# usage: hack/cluster/up.sh [--real|--kwok|--both|--none]     (or OVERTURE_NODE=real|kwok|both|none)
# State, logs, pid files, certs: ${OVERTURE_CLUSTER_DIR:-/tmp/overture-cluster}
# Admin kubeconfig: $OVERTURE_CLUSTER_DIR/admin.kubeconfig; users: $OVERTURE_CLUSTER_DIR/users/<name>.kubeconfig
# Idempotent: a healthy cluster in the same mode is left as it is; a stale or broken one is
# cleaned (down.sh) first. Everything listens on 127.0.0.1 except the kubelet, which listens
# on the node address $NODE_IP of a bridge this script creates.
# OVERTURE_CLUSTER_PROFILING=true serves /debug/pprof on the API server, the controller-manager
# and the scheduler (off by default, as before): `kubectl get --raw '/debug/pprof/profile?seconds=20'`
# profiles the API server (`go tool pprof -top FILE`; benchmarks/README.md, throughput session 6).
set -Eeuo pipefail
trap 'echo "[cluster] ERROR: unexpected failure (exit $?) in ${BASH_SOURCE[0]##*/} line $LINENO: $BASH_COMMAND" >&2' ERR
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=pki.sh
source "$HERE/pki.sh"
# shellcheck source=s3.sh
source "$HERE/s3.sh"

PROFILING=${OVERTURE_CLUSTER_PROFILING:-false}
STARTED=0      # set once we start processes: a failure then tears down what we started
T0=$SECONDS

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

# ---------------------------------------------------------------- helpers
log_tail() { # <component>
  local f="$LOGS_DIR/$1.log"
  if [[ -s "$f" ]]; then
    printf '[cluster] ---- last 40 lines of %s ----\n' "$f" >&2
    tail -n 40 "$f" >&2
    printf '[cluster] ---- end of %s ----\n' "$f" >&2
  else
    log "(no log output from $1 at $f)"
  fi
}

fail() { # <component> <message>
  log "FAILED: $2"
  log_tail "$1"
  exit 1
}

on_exit() {
  local rc=$?
  if [[ $rc -ne 0 && $STARTED -eq 1 ]]; then
    if [[ -n "${OVERTURE_KEEP_FAILED:-}" ]]; then
      log "start failed; OVERTURE_KEEP_FAILED set: leaving processes running (logs in $LOGS_DIR); hack/cluster/down.sh cleans up"
    else
      log "start failed: tearing down what was started (set OVERTURE_KEEP_FAILED=1 to keep it; logs stay in $LOGS_DIR)"
      bash "$HERE/down.sh" --quiet || true
    fi
  fi
  exit $rc
}

start_bg() { # <component> <cmd...>   detached (own session), output to logs/<component>.log
  local name=$1; shift
  log "starting $name"
  STARTED=1
  # 9>&-: don't hand the up/down lock to the daemon
  setsid "$@" >>"$LOGS_DIR/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$PIDS_DIR/$name.pid"
}

# wait_until <component> <timeout s> <what> <cmd...>: poll cmd until it succeeds; fail
# early if the component's process died, with its log tail.
wait_until() {
  local name=$1 timeout=$2 what=$3; shift 3
  local deadline=$((SECONDS + timeout)) pid
  pid=$(pid_of "$name" || true)
  until "$@" >/dev/null 2>&1; do
    if [[ -n "$pid" ]] && ! pid_alive "$pid"; then
      fail "$name" "$name (pid $pid) exited while waiting for: $what"
    fi
    if ((SECONDS >= deadline)); then
      fail "$name" "timed out after ${timeout}s waiting for: $what"
    fi
    sleep 0.5
  done
}

https_ok() { curl -sfk --max-time 3 "$1" | grep -qx ok; }
kc() { "$KBIN/kubectl" --kubeconfig "$OVERTURE_CLUSTER_DIR/admin.kubeconfig" "$@"; }

port_owner() { ss -Hltnp "sport = :$1" 2>/dev/null | awk 'NR == 1 { sub(/.*users:/, "users:"); print }' || true; }
port_busy() { [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]; }

check_ports() {
  local spec name port busy=0
  local specs=("etcd:$ETCD_CLIENT_PORT" "etcd-peer:$ETCD_PEER_PORT" "kube-apiserver:$APISERVER_PORT"
               "kube-controller-manager:$KCM_PORT" "kube-scheduler:$SCHED_PORT" "versitygw:$S3_PORT")
  [[ "$MODE" == real || "$MODE" == both ]] && specs+=("kubelet:$KUBELET_PORT" "kubelet-healthz:$KUBELET_HEALTHZ_PORT")
  [[ "$MODE" == kwok || "$MODE" == both ]] && specs+=("kwok:$KWOK_PORT")
  for spec in "${specs[@]}"; do
    name=${spec%%:*}; port=${spec##*:}
    if port_busy "$port"; then
      log "port $port (needed by $name) is already in use by: $(port_owner "$port")"
      busy=1
    fi
  done
  [[ $busy -eq 0 ]] || die "ports in use (see above). Stop that process, or move our ports with OVERTURE_ETCD_PORT, OVERTURE_ETCD_PEER_PORT, OVERTURE_APISERVER_PORT, OVERTURE_KCM_PORT, OVERTURE_SCHED_PORT, OVERTURE_S3_PORT, OVERTURE_KWOK_PORT, OVERTURE_KUBELET_PORT, OVERTURE_KUBELET_HEALTHZ_PORT, or run a separate instance with OVERTURE_CLUSTER_INSTANCE=1..9"
}

# ---------------------------------------------------------------- state checks
expected_components() {
  echo etcd kube-apiserver kube-controller-manager kube-scheduler versitygw
  [[ "$1" == real || "$1" == both ]] && echo containerd kubelet
  [[ "$1" == kwok || "$1" == both ]] && echo kwok
  return 0
}

# 0 if a cluster in mode $MODE is running and healthy
already_up() {
  [[ -s "$STATE_FILE" ]] || return 1
  local mode c pid
  mode=$(sed -n 's/^OVERTURE_NODE=//p' "$STATE_FILE")
  for c in $(expected_components "$mode"); do
    pid=$(pid_of "$c" || true); pid_alive "$pid" || return 1
  done
  https_ok "https://127.0.0.1:$APISERVER_PORT/readyz" || return 1
  s3_healthy || return 1
  # a running "both" serves any request, anything serves "none"
  if [[ "$mode" != "$MODE" && "$mode" != both && "$MODE" != none ]]; then
    die "a cluster is already up with OVERTURE_NODE=$mode (asked for $MODE): run hack/cluster/down.sh first"
  fi
  UP_MODE=$mode
}

remnants() { # prints what a previous cluster left behind
  local f
  for f in "$PIDS_DIR"/*.pid; do
    [[ -e "$f" ]] && pid_alive "$(cat "$f")" && echo "process $(basename "$f" .pid) (pid $(cat "$f"))"
  done
  local p; for p in $(cluster_procs); do echo "process pid $p: $(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | cut -c1-100)"; done
  awk -v d="$OVERTURE_CLUSTER_DIR/" 'index($5, d) == 1 {print "mount " $5}' /proc/self/mountinfo
  ip link show "$POD_BRIDGE" >/dev/null 2>&1 && echo "bridge $POD_BRIDGE"
  ip link show "$NODE_BRIDGE" >/dev/null 2>&1 && echo "bridge $NODE_BRIDGE"
  [[ -e "$STATE_FILE" ]] && echo "state file $STATE_FILE"
  return 0
}

# ---------------------------------------------------------------- components
start_etcd() {
  mkdir -p "$OVERTURE_CLUSTER_DIR/etcd"
  start_bg etcd "$EBIN/etcd" --name overture --data-dir "$OVERTURE_CLUSTER_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "overture=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
    --unsafe-no-fsync --snapshot-count 10000 --quota-backend-bytes 4294967296 --log-level warn
  wait_until etcd 60 "etcd /health on 127.0.0.1:$ETCD_CLIENT_PORT" \
    bash -c "curl -sf --max-time 2 http://127.0.0.1:$ETCD_CLIENT_PORT/health | grep -q '\"health\":\"true\"'"
}

# OVERTURE_APISERVER_AUDIT=1: every request's metadata (verb, resource, subresource, user, user
# agent; no bodies) to $LOGS_DIR/audit.log, one JSON event a line: who writes what, e.g. per task
# (python -m benchmarks.audit). Off by default: it costs the API server CPU and disk.
write_audit_policy() {
  cat >"$OVERTURE_CLUSTER_DIR/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
POLICY
}

start_apiserver() {
  local -a audit=()
  if [[ "${OVERTURE_APISERVER_AUDIT:-0}" == 1 ]]; then
    write_audit_policy
    audit=(--audit-policy-file "$OVERTURE_CLUSTER_DIR/audit-policy.yaml" --audit-log-path "$LOGS_DIR/audit.log"
      --audit-log-maxsize 1024 --audit-log-maxbackup 1)
  fi
  start_bg kube-apiserver "$KBIN/kube-apiserver" "${audit[@]}" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --advertise-address "$NODE_IP" --endpoint-reconciler-type none \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --token-auth-file "$PKI/tokens.csv" \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction,PodNodeSelector,PodTolerationRestriction \
    --allow-privileged=true \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --requestheader-client-ca-file "$PKI/ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --profiling="$PROFILING" --v=1
  wait_until kube-apiserver 120 "kube-apiserver /readyz on 127.0.0.1:$APISERVER_PORT" \
    https_ok "https://127.0.0.1:$APISERVER_PORT/readyz"
}

start_controllers() {
  start_bg kube-controller-manager "$KBIN/kube-controller-manager" \
    --kubeconfig "$OVERTURE_CLUSTER_DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$OVERTURE_CLUSTER_DIR/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$OVERTURE_CLUSTER_DIR/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
    --leader-elect=false --controllers '*' \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials=true \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --allocate-node-cidrs=false --profiling="$PROFILING" --v=1 \
    --kube-api-qps=100 --kube-api-burst=200
  cat >"$OVERTURE_CLUSTER_DIR/scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: $OVERTURE_CLUSTER_DIR/scheduler.kubeconfig
leaderElection:
  leaderElect: false
EOF
  start_bg kube-scheduler "$KBIN/kube-scheduler" --config "$OVERTURE_CLUSTER_DIR/scheduler.yaml" \
    --authentication-kubeconfig "$OVERTURE_CLUSTER_DIR/scheduler.kubeconfig" \
    --authorization-kubeconfig "$OVERTURE_CLUSTER_DIR/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --profiling="$PROFILING" --v=1
  wait_until kube-controller-manager 60 "kube-controller-manager /healthz on 127.0.0.1:$KCM_PORT" \
    https_ok "https://127.0.0.1:$KCM_PORT/healthz"
  wait_until kube-scheduler 60 "kube-scheduler /healthz on 127.0.0.1:$SCHED_PORT" \
    https_ok "https://127.0.0.1:$SCHED_PORT/healthz"
  # pods can't be created before the ServiceAccount controller made `default`
  wait_until kube-controller-manager 60 "serviceaccount default/default" kc get serviceaccount default -n default
}

# ---------------------------------------------------------------- real node
preflight_real() {
  [[ $(id -u) -eq 0 ]] || die "the real node needs root (network bridge, containerd, kubelet); use OVERTURE_NODE=kwok as non-root"
  local b missing=()
  for b in containerd containerd-shim-runc-v2 runc ctr ip; do command -v "$b" >/dev/null || missing+=("$b"); done
  for b in bridge host-local loopback; do [[ -x "$CNI_BIN_DIR/$b" ]] || missing+=("$CNI_BIN_DIR/$b"); done
  [[ ${#missing[@]} -eq 0 ]] ||
    die "missing for the real node: ${missing[*]}. Run: bash hack/cluster/install-deps.sh (or use OVERTURE_NODE=kwok)"
  [[ -d /sys/fs/cgroup/memory || -f /sys/fs/cgroup/cgroup.controllers ]] || die "no cgroup filesystem at /sys/fs/cgroup"
}

setup_node_network() {
  # The node address lives on a bridge of our own (dummy interfaces don't work on this VM,
  # and the kubelet refuses a loopback node IP). Nothing is attached to it.
  if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    ip link add "$NODE_BRIDGE" type bridge
  fi
  ip addr replace "$NODE_CIDR" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  # Remember ip_forward: the CNI bridge plugin (isGateway) turns it on; down.sh restores it.
  [[ -s "$OVERTURE_CLUSTER_DIR/ip_forward.orig" ]] || cat /proc/sys/net/ipv4/ip_forward >"$OVERTURE_CLUSTER_DIR/ip_forward.orig"
  # Service IPs have no proxy here: make sure nothing sent to them leaves the machine.
  ip route replace blackhole "$SERVICE_CIDR"
  # The pod bridge with the host's address on it, before the CNI plugin would make it at the first
  # pod: the S3 server listens there, the one host address pods can reach. The plugin reuses it.
  if ! ip link show "$POD_BRIDGE" >/dev/null 2>&1; then
    ip link add "$POD_BRIDGE" type bridge
  fi
  ip addr replace "$POD_GATEWAY/${POD_CIDR#*/}" dev "$POD_BRIDGE"
  ip link set "$POD_BRIDGE" up
  mkdir -p "$OVERTURE_CLUSTER_DIR/cni/net.d" "$OVERTURE_CLUSTER_DIR/cni/ipam"
  # Pods: own bridge, host-local IPAM, no masquerade, and no default route in the pod
  # (isDefaultGateway false): pods reach each other and the host's bridge address only.
  cat >"$OVERTURE_CLUSTER_DIR/cni/net.d/10-overture.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$POD_BRIDGE",
      "isGateway": true,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "dataDir": "$OVERTURE_CLUSTER_DIR/cni/ipam"
      }
    }
  ]
}
EOF
}

start_containerd() {
  mkdir -p "$CONTAINERD_DIR"
  cat >"$CONTAINERD_DIR/config.toml" <<EOF
# generated by hack/cluster/up.sh; containerd 1.6 (Debian 12)
version = 2
root = "$CONTAINERD_DIR/root"
state = "$CONTAINERD_DIR/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CONTAINERD_DIR/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:local"
  # REQUIRED on this VM: root lacks CAP_SYS_RESOURCE, so the default pause
  # oom_score_adj=-998 makes runc fail (/proc/self/oom_score_adj: Permission denied).
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$OVERTURE_CLUSTER_DIR/cni/net.d"
    max_conf_num = 1
EOF
  start_bg containerd containerd --config "$CONTAINERD_DIR/config.toml"
  wait_until containerd 60 "containerd on $CONTAINERD_SOCK" ctr --address "$CONTAINERD_SOCK" version
}

import_images() {
  local t
  for t in $IMAGE_TARS; do
    ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$t" >>"$LOGS_DIR/images.log" 2>&1 ||
      fail images "ctr import of $t failed"
    # what load-wrapper.sh compares with when wrapper/ changes while the cluster stays up
    if [[ "$t" == */overture-wrapper-* ]]; then echo "$t" >"$CONTAINERD_DIR/wrapper-image.loaded"; fi
  done
  log "images: $(ctr --address "$CONTAINERD_SOCK" -n k8s.io images ls -q | grep -v '^sha256:' | tr '\n' ' ')"
}

# The kubelet insists its --cgroup-root exists in every hierarchy; cpuset children start
# empty and must get cpus/mems from the parent before anything can join them.
make_cgroup_root() {
  local h d
  [[ "$CGROUP_ROOT" == / ]] && return 0
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then   # cgroup v2 (unified)
    mkdir -p "/sys/fs/cgroup$CGROUP_ROOT"; return 0
  fi
  for h in /sys/fs/cgroup/*/; do
    h=${h%/}
    [[ -d "$h" && ! -L "$h" ]] || continue
    mountpoint -q "$h" || continue
    d="$h$CGROUP_ROOT"
    mkdir -p "$d"
    if [[ -f "$h/cpuset.cpus" ]]; then
      [[ -n "$(cat "$d/cpuset.cpus")" ]] || cat "$h/cpuset.cpus" >"$d/cpuset.cpus"
      [[ -n "$(cat "$d/cpuset.mems")" ]] || cat "$h/cpuset.mems" >"$d/cpuset.mems"
    fi
  done
}

start_kubelet() {
  local kdir="$OVERTURE_CLUSTER_DIR/kubelet"
  make_cgroup_root
  mkdir -p "$kdir" "$OVERTURE_CLUSTER_DIR/pod-logs" "$kdir/volume-plugins"
  cat >"$OVERTURE_CLUSTER_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs          # containerd 1.6 lacks the CRI RuntimeConfig call
failCgroupV1: false             # this VM is cgroup v1 (hybrid)
failSwapOn: false
cgroupRoot: $CGROUP_ROOT
cgroupsPerQOS: true
enforceNodeAllocatable: ["pods"]
oomScoreAdj: 0                  # no CAP_SYS_RESOURCE: -999 can't be set
maxOpenFiles: $(ulimit -Hn)
authentication:
  anonymous: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
  webhook: {enabled: true}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
rotateCertificates: false
serverTLSBootstrap: false
podLogsDir: $OVERTURE_CLUSTER_DIR/pod-logs
volumePluginDir: $kdir/volume-plugins
imageGCHighThresholdPercent: 100   # never GC the locally imported images
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
registerNode: true
shutdownGracePeriod: 0s
localStorageCapacityIsolation: true
EOF
  start_bg kubelet "$KBIN/kubelet" --config "$OVERTURE_CLUSTER_DIR/kubelet.yaml" \
    --kubeconfig "$OVERTURE_CLUSTER_DIR/kubelet.kubeconfig" --root-dir "$kdir" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
    --node-labels "overture.dev/node-kind=real" --v=1
  wait_until kubelet 90 "kubelet /healthz on 127.0.0.1:$KUBELET_HEALTHZ_PORT" \
    https_or_http_ok "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz"
  wait_until kubelet 120 "node $NODE_NAME Ready" \
    kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
}

https_or_http_ok() { curl -sf --max-time 3 "$1" | grep -qx ok; }

# ---------------------------------------------------------------- S3 server
start_s3() {
  log "starting versitygw (S3) on $(s3_endpoint "$MODE")"
  STARTED=1
  s3_start "$MODE" "$SBIN/versitygw"
  s3_wait 30 || fail versitygw "versitygw /health on 127.0.0.1:$S3_PORT did not answer"
  s3_make_bucket || fail versitygw "creating bucket $S3_BUCKET failed: $(cat "$S3_DIR/make-bucket.out" 2>/dev/null)"
}

# ---------------------------------------------------------------- kwok node
# A kwok pod whose container has the env var KWOK_EXIT_CODE (a number, not 0) fails with that
# exit code instead of completing: tests make a task fail on the fake node (e.g. only its first
# attempt: value "{{ 1 if taskrun.attempt == 1 else 0 }}"). Its weight beats pod-complete's 0.
# kwokctl's pod-complete ends only pods owned by a Job; pod-complete-workflow does the same for
# pods owned by an Argo Workflow (benchmarks/peer.py runs Argo Workflows beside Overture) or by an
# Execution (the operator's pod task runtime, OVERTURE_TASK_RUNTIME=pod, makes task pods itself).
write_kwok_fail_stage() {
  cat >"$OVERTURE_CLUSTER_DIR/kwok-stages.yaml" <<'EOF'
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-fail-on-request
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values: ['Running']
    - key: '.spec.containers.[].env.[] | select( .name == "KWOK_EXIT_CODE" ) | .value'
      operator: 'Exists'
    - key: '.spec.containers.[].env.[] | select( .name == "KWOK_EXIT_CODE" ) | .value'
      operator: 'NotIn'
      values: ['0', '']
  weight: 100
  next:
    statusTemplate: |
      {{ $now := Now }}
      containerStatuses:
      {{ range $index, $item := .spec.containers }}
      {{ $code := "0" }}
      {{ range $item.env }}{{ if eq .name "KWOK_EXIT_CODE" }}{{ $code = .value }}{{ end }}{{ end }}
      - image: {{ $item.image | Quote }}
        name: {{ $item.name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: {{ $code }}
            finishedAt: {{ $now | Quote }}
            message: {{ printf "kwok: failed on request (KWOK_EXIT_CODE=%s)" $code | Quote }}
            reason: Error
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: Failed
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-complete-workflow
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values: ['Running']
    - key: '.metadata.ownerReferences.[].kind'
      operator: 'In'
      values: ['Workflow', 'Execution']
  next:
    statusTemplate: |
      {{ $now := Now }}
      containerStatuses:
      {{ range $index, $item := .spec.containers }}
      - image: {{ $item.image | Quote }}
        name: {{ $item.name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: Succeeded
EOF
}

start_kwok() {
  # Blackhole the fake pod IPs so nothing sent to them can leave the machine.
  [[ $(id -u) -eq 0 ]] && ip route replace blackhole "$KWOK_POD_CIDR"
  local taint=""
  if [[ "$MODE" == both ]]; then
    taint='  taints:
  - {key: kwok.x-k8s.io/node, value: fake, effect: NoSchedule}'
  fi
  cat >"$OVERTURE_CLUSTER_DIR/kwok-node.yaml" <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $KWOK_NODE_NAME
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: $KWOK_NODE_NAME
    kubernetes.io/os: linux
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: ""
    type: kwok
    overture.dev/node-kind: kwok
spec:
$taint
EOF
  kc apply -f "$OVERTURE_CLUSTER_DIR/kwok-node.yaml" >/dev/null || fail kube-apiserver "creating the kwok node failed"
  write_kwok_fail_stage
  # The node renews a Lease, as a kubelet does (kwokctl's default, 40 s). Without one, stages.yaml's
  # node-heartbeat-with-lease updates the node's status only every 10-20 min: the node lifecycle
  # controller then marks the node NotReady every ~55 s (kwok's node-initialize makes it Ready
  # again at once), and each time marks every pod on it NotReady, a pod status update and an
  # Event or two per pod: 0-4 writes per task by a run's length, for every engine
  # (benchmarks/README "7, session 6: who writes what per task").
  start_bg kwok "$WBIN/kwok" --config "$WBIN/stages.yaml" --config "$OVERTURE_CLUSTER_DIR/kwok-stages.yaml" \
    --kubeconfig "$OVERTURE_CLUSTER_DIR/admin.kubeconfig" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-ip 127.0.0.1 --node-port "$KWOK_PORT" --cidr "$KWOK_POD_CIDR" \
    --server-address "127.0.0.1:$KWOK_PORT" \
    --tls-cert-file "$PKI/kwok-serving.crt" --tls-private-key-file "$PKI/kwok-serving.key" \
    --node-lease-duration-seconds 40
  wait_until kwok 60 "kwok node $KWOK_NODE_NAME Ready" \
    kc wait --for=condition=Ready "node/$KWOK_NODE_NAME" --timeout=2s
}

# ---------------------------------------------------------------- main
main() {
  MODE=${OVERTURE_NODE:-real}
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --real) MODE=real ;; --kwok) MODE=kwok ;; --both) MODE=both ;; --none) MODE=none ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
  done
  case "$MODE" in real|kwok|both|none) ;; *) die "OVERTURE_NODE must be real, kwok, both or none (got '$MODE')" ;; esac
  CNI_BIN_DIR=${OVERTURE_CNI_BIN_DIR:-/usr/lib/cni}

  take_lock
  if already_up; then
    log "cluster already up (OVERTURE_NODE=$UP_MODE) in $OVERTURE_CLUSTER_DIR; nothing to do"
    log "export KUBECONFIG=$OVERTURE_CLUSTER_DIR/admin.kubeconfig"
    exit 0
  fi
  local left
  left=$(remnants)
  if [[ -n "$left" ]]; then
    log "a previous cluster left this behind; cleaning it with down.sh first:"
    sed 's/^/[cluster]   /' <<<"$left" >&2
    bash "$HERE/down.sh" --quiet
  fi
  [[ "$MODE" == real || "$MODE" == both ]] && preflight_real
  check_ports

  # binaries (built once, cached by version; a cold build takes a while)
  local targets=(kubernetes etcd versitygw)
  [[ "$MODE" == kwok || "$MODE" == both ]] && targets+=(kwok)
  bash "$HERE/build.sh" "${targets[@]}" >/dev/null
  KBIN=$(bin_dir kubernetes); EBIN=$(bin_dir etcd); WBIN=$(bin_dir kwok); SBIN=$(bin_dir versitygw)
  # node images (first time: debootstrap, ~1.5 min; then a hash check)
  IMAGE_TARS=""
  if [[ "$MODE" == real || "$MODE" == both ]]; then
    IMAGE_TARS=$(bash "$HERE/images/build-images.sh") || die "building the node images failed (see above)"
  fi

  trap on_exit EXIT
  mkdir -p "$OVERTURE_CLUSTER_DIR" "$PIDS_DIR"
  rm -rf "$LOGS_DIR"; mkdir -p "$LOGS_DIR"
  log "generating certificates, keys and kubeconfigs in $OVERTURE_CLUSTER_DIR"
  pki_all

  start_etcd
  start_apiserver
  start_controllers
  if [[ "$MODE" == real || "$MODE" == both ]]; then
    setup_node_network
    start_containerd
    import_images
    start_kubelet
  fi
  [[ "$MODE" == kwok || "$MODE" == both ]] && start_kwok
  start_s3   # after the node network: it listens on the pod bridge too

  # it holds the store's keys: owner only
  (umask 077 && { cat <<EOF
OVERTURE_NODE=$MODE
OVERTURE_CLUSTER_DIR=$OVERTURE_CLUSTER_DIR
KUBECONFIG=$OVERTURE_CLUSTER_DIR/admin.kubeconfig
KUBECTL=$KBIN/kubectl
APISERVER=https://127.0.0.1:$APISERVER_PORT
NODE_NAME=$NODE_NAME
KWOK_NODE_NAME=$KWOK_NODE_NAME
USERS="$OVERTURE_CLUSTER_USERS"
EOF
    s3_env_lines "$MODE"
    if [[ "$MODE" == real || "$MODE" == both ]]; then echo "OVERTURE_WRAPPER_IMAGE=$WRAPPER_IMAGE"; fi
  } >"$STATE_FILE")
  STARTED=0
  log "cluster up (OVERTURE_NODE=$MODE) in $((SECONDS - T0))s"
  kc get nodes -o wide >&2 || true
  log "admin kubeconfig: $OVERTURE_CLUSTER_DIR/admin.kubeconfig; users: $(ls "$OVERTURE_CLUSTER_DIR/users" | tr '\n' ' ')"
  log 'use it: eval "$(hack/cluster/env.sh)"; stop: hack/cluster/down.sh'
}

main "$@"; exit
