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

# running <pid>: alive and not a zombie (an orphan's exit is reaped late here, and kill -0 says yes)
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ "${stat%% *}" != Z ]]
}

readyz() { curl -sfk --max-time 2 "https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null | grep -qx ok; }

main() {
  local down=0 signal=TERM
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --down) down=${2:?--down needs seconds}; shift ;;
      --kill) signal=KILL ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
  done
  take_lock
  local pid
  pid=$(pid_of kube-apiserver || true)
  pid_alive "$pid" || die "no running kube-apiserver in $OVERTURE_CLUSTER_DIR (pid file: $PIDS_DIR/kube-apiserver.pid)"
  local -a cmd
  mapfile -d '' -t cmd <"/proc/$pid/cmdline"
  [[ ${#cmd[@]} -gt 1 && "${cmd[0]##*/}" == kube-apiserver ]] || die "pid $pid is not a kube-apiserver: ${cmd[*]:0:1}"
  local t0=$SECONDS deadline
  log "stopping kube-apiserver (pid $pid, SIG$signal)"
  kill "-$signal" "$pid"
  # After TERM it stops listening at once, then may linger for half a minute finishing its
  # shutdown: 5 s of grace, then SIGKILL.
  deadline=$((SECONDS + 5))
  while running "$pid"; do
    if ((SECONDS >= deadline)); then
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 30))
    fi
    sleep 0.1
  done
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
