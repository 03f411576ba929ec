# shellcheck shell=bash
# Shared settings and helpers for hack/cluster/*.sh (sourced, not executed).

CLUSTER_HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OVERTURE_CACHE=${OVERTURE_CACHE:-$HOME/.cache/overture}
K8S_BINS="kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl"

# OVERTURE_CLUSTER_INSTANCE=N (0-9, default 0) runs a separate cluster next to instance 0 on
# the same machine: its own state dir, ports, addresses, bridges and cgroup root. Every
# value below can also be set on its own.
INSTANCE=${OVERTURE_CLUSTER_INSTANCE:-0}
[[ "$INSTANCE" =~ ^[0-9]$ ]] || { echo "[cluster] ERROR: OVERTURE_CLUSTER_INSTANCE must be 0-9" >&2; exit 1; }
P=$((INSTANCE * 20))
if [[ $INSTANCE -eq 0 ]]; then SUFFIX=""; else SUFFIX="-$INSTANCE"; fi
OVERTURE_CLUSTER_DIR=${OVERTURE_CLUSTER_DIR:-/tmp/overture-cluster$SUFFIX}

# Fixed ports, all bound to 127.0.0.1 (the kubelet's 10250: the node address, see below).
ETCD_CLIENT_PORT=${OVERTURE_ETCD_PORT:-$((23790 + P))}
ETCD_PEER_PORT=${OVERTURE_ETCD_PEER_PORT:-$((23791 + P))}
APISERVER_PORT=${OVERTURE_APISERVER_PORT:-$((16443 + P))}
KCM_PORT=${OVERTURE_KCM_PORT:-$((10257 + P))}
SCHED_PORT=${OVERTURE_SCHED_PORT:-$((10259 + P))}
KUBELET_PORT=${OVERTURE_KUBELET_PORT:-$((10250 + P))}
KUBELET_HEALTHZ_PORT=${OVERTURE_KUBELET_HEALTHZ_PORT:-$((10248 + P))}
KWOK_PORT=${OVERTURE_KWOK_PORT:-$((10247 + P))}
# The S3 server (versitygw): on 127.0.0.1 and, with a real node, on $POD_GATEWAY too (pods
# can't reach 127.0.0.1), same port.
S3_PORT=${OVERTURE_S3_PORT:-$((17000 + P))}
S3_BUCKET=${OVERTURE_S3_BUCKET:-overture}
S3_REGION=${OVERTURE_S3_REGION:-us-east-1}
# The in-pod helper's image (hack/cluster/images/build-images.sh wrapper; source in wrapper/)
WRAPPER_IMAGE=${OVERTURE_WRAPPER_IMAGE:-localhost/overture-wrapper:dev}

# The real node lives on a bridge we create (dummy interfaces don't work on this VM).
NODE_BRIDGE=${OVERTURE_NODE_BRIDGE:-ovt$INSTANCE}
NODE_IP=${OVERTURE_NODE_IP:-10.99.$INSTANCE.1}
NODE_CIDR=${OVERTURE_NODE_CIDR:-$NODE_IP/24}
POD_BRIDGE=${OVERTURE_POD_BRIDGE:-ovtcni$INSTANCE}
POD_CIDR=${OVERTURE_POD_CIDR:-10.244.$INSTANCE.0/24}
# The host's address on the pod bridge: the one host address pods can reach (they have no other
# route). up.sh makes the bridge with it before the first pod, so the S3 server can listen there.
POD_GATEWAY=${OVERTURE_POD_GATEWAY:-${POD_CIDR%.*/*}.1}
SERVICE_CIDR=${OVERTURE_SERVICE_CIDR:-10.96.$INSTANCE.0/24}
NODE_NAME=${OVERTURE_NODE_NAME:-overture-node$SUFFIX}
KWOK_NODE_NAME=${OVERTURE_KWOK_NODE_NAME:-kwok-node-0}
KWOK_POD_CIDR=${OVERTURE_KWOK_POD_CIDR:-10.245.$INSTANCE.0/24}   # fake pod IPs; blackholed on the host
# Non-admin users with bearer tokens: kubeconfigs in $OVERTURE_CLUSTER_DIR/users/<name>.kubeconfig
OVERTURE_CLUSTER_USERS=${OVERTURE_CLUSTER_USERS:-tenant-a tenant-b}

CNI_NETWORK="overture$SUFFIX"   # CNI network name (libcni caches results as /var/lib/cni/results/<name>-*)
PIDS_DIR="$OVERTURE_CLUSTER_DIR/pids"
LOGS_DIR="$OVERTURE_CLUSTER_DIR/logs"
STATE_FILE="$OVERTURE_CLUSTER_DIR/cluster.env"
CONTAINERD_DIR="$OVERTURE_CLUSTER_DIR/containerd"
CONTAINERD_SOCK="$CONTAINERD_DIR/containerd.sock"
LOCK_FILE=${OVERTURE_CLUSTER_LOCK:-$OVERTURE_CLUSTER_DIR.lock}
# The kubelet puts pods under <this>/kubepods in every cgroup hierarchy (cgroupfs driver):
# a root of our own, so down.sh never touches another kubelet's pods.
CGROUP_ROOT=${OVERTURE_CGROUP_ROOT:-/overture$SUFFIX}

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

# Version a wrapper module pins for its main module (parsed from go.mod, no go call).
pinned_version() { # <wrapper dir name> <module path>
  awk -v m="$2" '$0 !~ /=>/ { for (i = 1; i < NF; i++) if ($i == m && $(i+1) ~ /^v/) { print $(i+1); exit } }' \
    "$CLUSTER_HACK_DIR/$1/go.mod"
}

# Builds into the cache (hack/cluster/build.sh, hack/argo/build.sh)
need_go() {
  command -v go >/dev/null ||
    die "go not found on PATH (needed for a cold build: Go >= 1.26 or GOTOOLCHAIN=auto; the Go module proxy must be reachable)"
}

fresh_tmp() { # <out dir>: an empty dir beside it, renamed over it by finish_build
  local tmp="$1.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"; echo "$tmp"
}

finish_build() { # <name> <version> <tmp> <out> <start seconds>
  rm -rf "$4"; mv "$3" "$4"
  log "$1 $2: built in $((SECONDS - $5))s"
}

all_exec() { # <dir> <names...>
  local d=$1; shift
  local n; for n in "$@"; do [[ -x "$d/$n" ]] || return 1; done
}

bin_dir() { # kubernetes|etcd|kwok|versitygw
  case "$1" in
    kubernetes) echo "$OVERTURE_CACHE/bin/kubernetes-$(pinned_version k8sbins k8s.io/kubernetes)" ;;
    etcd) echo "$OVERTURE_CACHE/bin/etcd-$(pinned_version etcd go.etcd.io/etcd/server/v3)" ;;
    kwok) echo "$OVERTURE_CACHE/bin/kwok-$(pinned_version kwok sigs.k8s.io/kwok)" ;;
    versitygw) echo "$OVERTURE_CACHE/bin/versitygw-$(pinned_version versitygw github.com/versity/versitygw)" ;;
    *) die "bin_dir: unknown component $1" ;;
  esac
}

# Serialise up/down with flock(1). The lock belongs to the pid that took it (/proc/locks);
# if that pid is gone or is not an up/down script, the lock is stale (e.g. inherited by
# daemons of an old cluster): it is removed and a fresh one taken.
lock_holder() {
  local ino
  ino=$(stat -c %i "$LOCK_FILE" 2>/dev/null) || return 0
  awk -v ino="$ino" '$2 == "FLOCK" { n = split($6, a, ":"); if (a[n] == ino) { print $5; exit } }' /proc/locks
}

take_lock() {
  [[ -n "${OVERTURE_CLUSTER_LOCKED:-}" ]] && return 0
  local deadline=$((SECONDS + 900)) holder cmd said=0
  while :; do
    exec 9>>"$LOCK_FILE"
    flock -n 9 && break
    holder=$(lock_holder)
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/${holder:-0}/cmdline" || true)
    if [[ -z "$holder" || "$cmd" != *hack/cluster/* ]]; then
      log "removing stale lock $LOCK_FILE (taken by pid ${holder:-?}, no up/down script: ${cmd:-gone})"
      exec 9>&-
      rm -f "$LOCK_FILE"
      continue
    fi
    [[ $said -eq 1 ]] || log "waiting for another cluster script (pid $holder: $cmd) to finish"
    said=1
    ((SECONDS < deadline)) || die "gave up waiting for $LOCK_FILE (held by pid $holder: $cmd)"
    sleep 1
  done
  export OVERTURE_CLUSTER_LOCKED=1
}

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# running <pid>: alive and not a zombie (an orphan's exit is reaped late here, and kill -0 says yes)
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ "${stat%% *}" != Z ]]
}

# restart_options "$@": the restart-*.sh options (--down N, --kill, -h with the caller's usage);
# sets RESTART_DOWN (seconds to stay down) and RESTART_SIGNAL.
restart_options() {
  RESTART_DOWN=0 RESTART_SIGNAL=TERM
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --down) RESTART_DOWN=${2:?--down needs seconds}; shift ;;
      --kill) RESTART_SIGNAL=KILL ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
  done
}

# stop_and_wait <pid> <TERM|KILL>: signal it, SIGKILL after 5 s of grace, return once it is gone
# (restart-*.sh: a daemon may linger finishing its shutdown after it stopped listening).
stop_and_wait() {
  local pid=$1 deadline
  kill "-$2" "$pid"
  deadline=$((SECONDS + 5))
  while running "$pid"; do
    if ((SECONDS >= deadline)); then
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 30))
    fi
    sleep 0.1
  done
}
pid_of() { [[ -s "$PIDS_DIR/$1.pid" ]] && cat "$PIDS_DIR/$1.pid"; }

# pids of our component processes (etcd, kube-*, kubelet, kwok, versitygw, containerd and its
# shims) whose command line mentions the state dir: finds a previous cluster's
# processes even when its pid files are gone.
cluster_procs() {
  local p exe cmd
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
    case "${exe##*/}" in
      etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kwok|versitygw|containerd|containerd-shim-runc-v2) ;;
      *) continue ;;
    esac
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
    [[ "$cmd" == *"$OVERTURE_CLUSTER_DIR/"* ]] && echo "$p"
  done
  return 0
}
