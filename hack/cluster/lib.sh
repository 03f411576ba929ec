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
