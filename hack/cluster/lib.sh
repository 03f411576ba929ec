# shellcheck shell=bash
# Shared settings and helpers for hack/cluster/*.sh (sourced, not executed).

CLUSTER_HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OVERTURE_CACHE=${OVERTURE_CACHE:-$HOME/.cache/overture}
OVERTURE_CLUSTER_DIR=${OVERTURE_CLUSTER_DIR:-/tmp/overture-cluster}
K8S_BINS="kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl"

# Fixed ports, all bound to 127.0.0.1 (kubelet: the node address, see below).
ETCD_CLIENT_PORT=${OVERTURE_ETCD_PORT:-23790}
ETCD_PEER_PORT=${OVERTURE_ETCD_PEER_PORT:-23800}
APISERVER_PORT=${OVERTURE_APISERVER_PORT:-16443}
KCM_PORT=${OVERTURE_KCM_PORT:-10257}
SCHED_PORT=${OVERTURE_SCHED_PORT:-10259}
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
KWOK_PORT=${OVERTURE_KWOK_PORT:-10247}

# The real node lives on a bridge we create (dummy interfaces don't work on this VM).
NODE_BRIDGE=${OVERTURE_NODE_BRIDGE:-ovt0}
NODE_IP=${OVERTURE_NODE_IP:-10.99.0.1}
NODE_CIDR=${OVERTURE_NODE_CIDR:-10.99.0.1/24}
POD_BRIDGE=${OVERTURE_POD_BRIDGE:-ovtcni0}
POD_CIDR=${OVERTURE_POD_CIDR:-10.244.0.0/24}
SERVICE_CIDR=${OVERTURE_SERVICE_CIDR:-10.96.0.0/24}
NODE_NAME=${OVERTURE_NODE_NAME:-overture-node}
KWOK_NODE_NAME=${OVERTURE_KWOK_NODE_NAME:-kwok-node-0}
KWOK_POD_CIDR=${OVERTURE_KWOK_POD_CIDR:-10.245.0.0/24}   # fake pod IPs; blackholed on the host
# Non-admin users with bearer tokens: kubeconfigs in $OVERTURE_CLUSTER_DIR/users/<name>.kubeconfig
OVERTURE_CLUSTER_USERS=${OVERTURE_CLUSTER_USERS:-tenant-a tenant-b}

PIDS_DIR="$OVERTURE_CLUSTER_DIR/pids"
LOGS_DIR="$OVERTURE_CLUSTER_DIR/logs"
STATE_FILE="$OVERTURE_CLUSTER_DIR/cluster.env"
CONTAINERD_DIR="$OVERTURE_CLUSTER_DIR/containerd"
CONTAINERD_SOCK="$CONTAINERD_DIR/containerd.sock"
LOCK_FILE=${OVERTURE_CLUSTER_LOCK:-/tmp/overture-cluster.lock}

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

# Version a wrapper module pins for its main module (parsed from go.mod, no go call).
pinned_version() { # <wrapper dir name> <module path>
  awk -v m="$2" '$0 !~ /=>/ { for (i = 1; i < NF; i++) if ($i == m && $(i+1) ~ /^v/) { print $(i+1); exit } }' \
    "$CLUSTER_HACK_DIR/$1/go.mod"
}

bin_dir() { # kubernetes|etcd|kwok
  case "$1" in
    kubernetes) echo "$OVERTURE_CACHE/bin/kubernetes-$(pinned_version k8sbins k8s.io/kubernetes)" ;;
    etcd) echo "$OVERTURE_CACHE/bin/etcd-$(pinned_version etcd go.etcd.io/etcd/server/v3)" ;;
    kwok) echo "$OVERTURE_CACHE/bin/kwok-$(pinned_version kwok sigs.k8s.io/kwok)" ;;
    *) die "bin_dir: unknown component $1" ;;
  esac
}

# Serialise up/down (flock: released by the kernel when the holder dies, so it can't go stale).
take_lock() {
  [[ -n "${OVERTURE_CLUSTER_LOCKED:-}" ]] && return 0
  exec 9>"$LOCK_FILE"
  if ! flock -n 9; then
    local holders ours p others=""
    holders=$(fuser "$LOCK_FILE" 2>/dev/null | tr -s ' ' || true)
    ours=" $(cluster_procs | tr '\n' ' ') $$ "
    for p in $holders; do [[ "$ours" == *" $p "* ]] || others+=" $p"; done
    if [[ -z "$others" ]]; then
      # only cluster components hold it (inherited fd): a stale lock, not a running up/down
      log "ignoring stale lock $LOCK_FILE (held only by cluster processes:$holders)"
    else
      log "waiting for another up.sh/down.sh (lock $LOCK_FILE held by pid(s):$others)"
      flock -w 600 9 || die "gave up waiting for $LOCK_FILE (held by:$others)"
    fi
  fi
  export OVERTURE_CLUSTER_LOCKED=1
}

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }
pid_of() { [[ -s "$PIDS_DIR/$1.pid" ]] && cat "$PIDS_DIR/$1.pid"; }

# pids of our component processes (etcd, kube-*, kubelet, kwok, containerd and its
# shims) whose command line mentions the state dir: finds a previous cluster's
# processes even when its pid files are gone.
cluster_procs() {
  local p exe cmd
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
    case "${exe##*/}" in
      etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kwok|containerd|containerd-shim-runc-v2) ;;
      *) continue ;;
    esac
    cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
    [[ "$cmd" == *"$OVERTURE_CLUSTER_DIR/"* ]] && echo "$p"
  done
  return 0
}
