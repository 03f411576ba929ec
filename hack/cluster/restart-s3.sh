#!/usr/bin/env bash
# Restart the local cluster's S3 server (versitygw) alone, as an outage of the artifact store:
# same addresses, keys, bucket and data dir; everything else stays up. For fault tests (a task
# uploading or downloading while the store goes away).
#   hack/cluster/restart-s3.sh            # TERM (KILL after 5 s), start again, wait for /health
#   hack/cluster/restart-s3.sh --down 5   # stay down 5 s before starting again
#   hack/cluster/restart-s3.sh --kill     # SIGKILL instead of TERM
# Honours OVERTURE_CLUSTER_INSTANCE / OVERTURE_CLUSTER_DIR like the other scripts; serialises
# with up.sh/down.sh on the same lock. Prints the seconds the store was unreachable.
set -Eeuo pipefail
trap 'echo "[cluster] ERROR: unexpected failure (exit $?) in ${BASH_SOURCE[0]##*/} line $LINENO: $BASH_COMMAND" >&2' ERR
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=s3.sh
source "$HERE/s3.sh"

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }

main() {
  restart_options "$@"
  local down=$RESTART_DOWN signal=$RESTART_SIGNAL
  take_lock
  [[ -s "$STATE_FILE" ]] || die "the cluster is not up ($STATE_FILE missing)"
  local mode pid bin
  mode=$(sed -n 's/^OVERTURE_NODE=//p' "$STATE_FILE")
  pid=$(pid_of versitygw || true)
  running "${pid:-0}" || die "no running versitygw in $OVERTURE_CLUSTER_DIR (pid file: $PIDS_DIR/versitygw.pid)"
  bin="$(bin_dir versitygw)/versitygw"
  local t0=$SECONDS
  log "stopping versitygw (pid $pid, SIG$signal)"
  stop_and_wait "$pid" "$signal"
  [[ "$down" == 0 ]] || sleep "$down"
  log "starting versitygw (same addresses, keys and data)"
  printf '\n[cluster] ---- restarted by restart-s3.sh at %s ----\n' "$(date -u +%FT%TZ)" >>"$LOGS_DIR/versitygw.log"
  s3_start "$mode" "$bin"
  s3_wait 30 || { tail -n 40 "$LOGS_DIR/versitygw.log" >&2; die "versitygw did not answer /health after the restart"; }
  log "versitygw ready again (pid $(pid_of versitygw)) after $((SECONDS - t0)) s"
  echo "$((SECONDS - t0))"
}

main "$@"; exit
