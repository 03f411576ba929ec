#!/usr/bin/env bash
# Restart the local cluster's kube-apiserver alone, with the very command line it runs with
# (read from /proc/<pid>/cmdline), as an outage of the control plane: etcd, the controllers,
# the node(s) and everything else stay up. For chaos tests (tests/e2e/test_chaos.py).
#   hack/cluster/restart-apiserver.sh            # TERM (KILL after 5 s), start again, wait for /readyz
#   hack/cluster/restart-apiserver.sh --down 5   # stay down 5 s before starting again
#   hack/cluster/restart-apiserver.sh --kill     # SIGKILL instead of TERM (no graceful shutdown)
# Honours OVERTURE_CLUSTER_INSTANCE / OVERTURE_CLUSTER_DIR like the other scripts; serialises
# with up.sh/down.sh on the same lock. Prints the seconds the API was unreachable.
set -Eeuo pipefail
trap 'echo "[cluster] ERROR: unexpected failure (exit $?) in ${BASH_SOURCE[0]##*/} line $LINENO: $BASH_COMMAND" >&2' ERR
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }

readyz() { curl -sfk --max-time 2 "https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null | grep -qx ok; }

main() {
  restart_options "$@"
  local down=$RESTART_DOWN signal=$RESTART_SIGNAL
  take_lock
  local pid
  pid=$(pid_of kube-apiserver || true)
  pid_alive "$pid" || die "no running kube-apiserver in $OVERTURE_CLUSTER_DIR (pid file: $PIDS_DIR/kube-apiserver.pid)"
  local -a cmd
  mapfile -d '' -t cmd <"/proc/$pid/cmdline"
  [[ ${#cmd[@]} -gt 1 && "${cmd[0]##*/}" == kube-apiserver ]] || die "pid $pid is not a kube-apiserver: ${cmd[*]:0:1}"
  local t0=$SECONDS deadline
  log "stopping kube-apiserver (pid $pid, SIG$signal)"
  # After TERM it stops listening at once, then may linger for half a minute finishing its
  # shutdown: 5 s of grace, then SIGKILL.
  stop_and_wait "$pid" "$signal"
  [[ "$down" == 0 ]] || sleep "$down"
  log "starting kube-apiserver (same command line)"
  printf '\n[cluster] ---- restarted by restart-apiserver.sh at %s ----\n' "$(date -u +%FT%TZ)" >>"$LOGS_DIR/kube-apiserver.log"
  # 9>&-: don't hand the up/down lock to the daemon
  setsid "${cmd[@]}" >>"$LOGS_DIR/kube-apiserver.log" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$PIDS_DIR/kube-apiserver.pid"
  deadline=$((SECONDS + 120))
  until readyz; do
    running "$pid" || { tail -n 40 "$LOGS_DIR/kube-apiserver.log" >&2; die "kube-apiserver (pid $pid) exited while starting"; }
    ((SECONDS < deadline)) || die "kube-apiserver not ready 120 s after the restart (log: $LOGS_DIR/kube-apiserver.log)"
    sleep 0.2
  done
  log "kube-apiserver ready again (pid $pid) after $((SECONDS - t0)) s"
  echo "$((SECONDS - t0))"
}

main "$@"; exit
