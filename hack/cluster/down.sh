#!/usr/bin/env bash
# Stop the local Overture cluster and clean up everything it made: processes (by pid
# file, and any of our component processes still pointing at the state dir), pod
# containers, mounts under the state dir, pod network namespaces, the two bridges,
# blackhole routes, kubepods cgroups and the state dir (its logs/ are kept unless --purge).
# Idempotent: safe to run when nothing is up.
# usage: hack/cluster/down.sh [--purge] [--quiet]
set -Eeuo pipefail
trap 'echo "[cluster] ERROR: unexpected failure (exit $?) in ${BASH_SOURCE[0]##*/} line $LINENO: $BASH_COMMAND" >&2' ERR
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

PURGE=0; QUIET=0
say() { [[ $QUIET -eq 1 ]] || log "$@"; }

# stop <pid...>: TERM, wait up to 10s, then KILL
stop_pids() {
  local pids=() p i
  for p in "$@"; do pid_alive "$p" && pids+=("$p"); done
  [[ ${#pids[@]} -gt 0 ]] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for i in $(seq 1 40); do
    local alive=()
    for p in "${pids[@]}"; do pid_alive "$p" && alive+=("$p"); done
    [[ ${#alive[@]} -eq 0 ]] && return 0
    # reap zombies of ours (if we are the parent) and keep waiting
    sleep 0.25
    pids=("${alive[@]}")
  done
  say "killing (no exit after TERM): ${pids[*]}"
  kill -KILL "${pids[@]}" 2>/dev/null || true
  sleep 0.2
}

stop_components() { # <name...> in parallel
  local n pid pids=()
  for n in "$@"; do
    pid=$(pid_of "$n" || true)
    pid_alive "$pid" && { say "stopping $n (pid $pid)"; pids+=("$pid"); }
  done
  [[ ${#pids[@]} -eq 0 ]] || stop_pids "${pids[@]}"
  for n in "$@"; do rm -f "$PIDS_DIR/$n.pid"; done
}

# Kill every process in the kubelet's pod cgroups (containers and pause processes).
kill_pod_processes() {
  local d pids
  for d in /sys/fs/cgroup/*"${CGROUP_ROOT%/}/kubepods" /sys/fs/cgroup"${CGROUP_ROOT%/}/kubepods"; do
    [[ -d "$d" ]] || continue
    # (cgroups vanish while we read them: find may fail, which is fine)
    pids=$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | tr '\n' ' ' || true)
    if [[ -n "${pids// /}" ]]; then
      say "killing pod processes in $d: $pids"
      # shellcheck disable=SC2086
      kill -KILL $pids 2>/dev/null || true
    fi
  done
}

remove_containers() { # while containerd still runs: delete tasks and containers (and their snapshots)
  local ctr_=(ctr --address "$CONTAINERD_SOCK" -n k8s.io) id
  [[ -S "$CONTAINERD_SOCK" ]] || return 0
  timeout 5 "${ctr_[@]}" version >/dev/null 2>&1 || return 0
  for id in $(timeout 10 "${ctr_[@]}" tasks ls -q 2>/dev/null || true); do
    timeout 10 "${ctr_[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  sleep 0.3
  for id in $(timeout 10 "${ctr_[@]}" tasks ls -q 2>/dev/null || true); do
    timeout 10 "${ctr_[@]}" tasks delete -f "$id" >/dev/null 2>&1 || true
  done
  for id in $(timeout 10 "${ctr_[@]}" containers ls -q 2>/dev/null || true); do
    timeout 10 "${ctr_[@]}" containers delete "$id" >/dev/null 2>&1 || true
  done
}

cleanup_netns() { # pod network namespaces that hold an address in our pod CIDR
  local ns addrs
  for ns in /run/netns/cni-*; do
    [[ -e "$ns" ]] || continue
    addrs=$(nsenter --net="$ns" ip -4 -o addr show 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | tr '\n' ' ' || true)
    if [[ -n "${addrs// /}" ]] && python3 - "$POD_CIDR" $addrs <<'EOF'
import ipaddress, sys
net = ipaddress.ip_network(sys.argv[1])
sys.exit(0 if any(ipaddress.ip_address(a) in net for a in sys.argv[2:]) else 1)
EOF
    then
      say "removing pod netns $ns"
      umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null || true
      rm -f "$ns"
    fi
  done
}

unmount_all() { # every mount below the state dir, deepest first
  local m i
  for i in 1 2 3; do
    mapfile -t mounts < <(awk -v d="$OVERTURE_CLUSTER_DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r)
    [[ ${#mounts[@]} -gt 0 ]] || return 0
    for m in "${mounts[@]}"; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
  done
  mapfile -t mounts < <(awk -v d="$OVERTURE_CLUSTER_DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo)
  [[ ${#mounts[@]} -eq 0 ]] || say "WARNING: still mounted: ${mounts[*]}"
}

cleanup_cgroups() { # the kubelet's cgroups under our cgroup root, once empty
  local d
  for d in /sys/fs/cgroup/*"${CGROUP_ROOT%/}/kubepods" /sys/fs/cgroup"${CGROUP_ROOT%/}/kubepods"; do
    [[ -d "$d" ]] || continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  if [[ "$CGROUP_ROOT" != / ]]; then
    for d in /sys/fs/cgroup/*"$CGROUP_ROOT" /sys/fs/cgroup"$CGROUP_ROOT"; do
      [[ -d "$d" ]] && rmdir "$d" 2>/dev/null || true
    done
  fi
}

main() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --purge) PURGE=1 ;; --quiet|-q) QUIET=1 ;;
      -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) die "unknown argument: $1" ;;
    esac
    shift
  done
  [[ $(id -u) -eq 0 ]] || say "not root: network/mount cleanup may be incomplete"
  take_lock
  local t0=$SECONDS
  rm -f "$STATE_FILE"   # from here on the cluster counts as down

  stop_components kwok kubelet
  kill_pod_processes
  remove_containers
  cleanup_netns          # while the shims/containerd may still hold references: fine, netns files go
  # a throwaway cluster: everything else stops at once (etcd going first only costs log lines)
  stop_components containerd kube-scheduler kube-controller-manager kube-apiserver etcd versitygw
  # anything of ours still running (lost pid files, shims, a previous cluster)
  local stray
  stray=$(cluster_procs | tr '\n' ' ')
  if [[ -n "${stray// /}" ]]; then
    say "stopping leftover cluster processes: $stray"
    # shellcheck disable=SC2086
    stop_pids $stray
  fi
  kill_pod_processes
  cleanup_netns
  unmount_all
  if [[ $(id -u) -eq 0 ]]; then
    ip link del "$POD_BRIDGE" 2>/dev/null && say "deleted bridge $POD_BRIDGE" || true
    ip link del "$NODE_BRIDGE" 2>/dev/null && say "deleted bridge $NODE_BRIDGE" || true
    ip route del blackhole "$SERVICE_CIDR" 2>/dev/null || true
    ip route del blackhole "$KWOK_POD_CIDR" 2>/dev/null || true
    if [[ -s "$OVERTURE_CLUSTER_DIR/ip_forward.orig" ]]; then
      cat "$OVERTURE_CLUSTER_DIR/ip_forward.orig" >/proc/sys/net/ipv4/ip_forward 2>/dev/null || true
    fi
    cleanup_cgroups
    # what the kubelet and libcni leave in fixed places
    find /var/log/containers -maxdepth 1 -type l -lname "$OVERTURE_CLUSTER_DIR/*" -delete 2>/dev/null || true
    rm -f /var/lib/cni/results/"$CNI_NETWORK"-* 2>/dev/null || true
  fi
  if [[ -d "$OVERTURE_CLUSTER_DIR" ]]; then
    if [[ $PURGE -eq 1 ]]; then
      rm -rf --one-file-system "$OVERTURE_CLUSTER_DIR"
    else
      find "$OVERTURE_CLUSTER_DIR" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf --one-file-system {} + 2>/dev/null || true
    fi
  fi
  if [[ $PURGE -eq 1 ]]; then
    say "cluster down ($((SECONDS - t0))s); $OVERTURE_CLUSTER_DIR removed"
  else
    say "cluster down ($((SECONDS - t0))s); logs kept in $LOGS_DIR (--purge removes them)"
  fi
}

main "$@"; exit
