#!/usr/bin/env bash
# Bring the running cluster's real node up to date with wrapper/: build the wrapper image if its
# sources changed since the cached archive (Go needed then) and import it when it differs from
# the one the node has. up.sh imports it at start; this is for a cluster that stays up while
# wrapper/ changes (the e2e fixture calls it when it reuses a cluster). Nothing to do without a
# real node. Prints the image reference.
set -Eeuo pipefail
trap 'echo "[cluster] ERROR: unexpected failure (exit $?) in ${BASH_SOURCE[0]##*/} line $LINENO: $BASH_COMMAND" >&2' ERR
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

main() {
  [[ -s "$STATE_FILE" ]] || die "the cluster is not up ($STATE_FILE missing)"
  local mode tar stamp
  mode=$(sed -n 's/^OVERTURE_NODE=//p' "$STATE_FILE")
  [[ "$mode" == real || "$mode" == both ]] || { log "no real node: nothing to load"; return 0; }
  tar=$(bash "$HERE/images/build-images.sh" wrapper)
  stamp="$CONTAINERD_DIR/wrapper-image.loaded"
  if [[ "$(cat "$stamp" 2>/dev/null)" != "$tar" ]]; then
    ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$tar" >>"$LOGS_DIR/images.log" 2>&1 ||
      die "ctr import of $tar failed (log: $LOGS_DIR/images.log)"
    echo "$tar" >"$stamp"
    log "imported $WRAPPER_IMAGE from ${tar##*/}"
  fi
  echo "$WRAPPER_IMAGE"
}

main "$@"; exit
