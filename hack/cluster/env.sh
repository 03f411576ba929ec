#!/usr/bin/env bash
# Print shell exports for the local cluster:  eval "$(hack/cluster/env.sh)"
# KUBECONFIG -> the admin kubeconfig; PATH gets the cached kubectl (the project's own,
# built with the cluster, not whatever kubectl the machine has) and etcdctl/kwok; the S3 store's
# OVERTURE_S3_* and OVERTURE_WRAPPER_IMAGE (cluster.env), which the operator and the CLI read.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
main() {
  local kbin ebin wbin
  kbin=$(bin_dir kubernetes); ebin=$(bin_dir etcd); wbin=$(bin_dir kwok)
  [[ -x "$kbin/kubectl" ]] || log "note: $kbin/kubectl not built yet (hack/cluster/build.sh)"
  [[ -s "$STATE_FILE" ]] || log "note: the cluster is not up (hack/cluster/up.sh)"
  printf 'export OVERTURE_CLUSTER_DIR=%q\n' "$OVERTURE_CLUSTER_DIR"
  printf 'export KUBECONFIG=%q\n' "$OVERTURE_CLUSTER_DIR/admin.kubeconfig"
  printf 'export PATH=%q:"$PATH"\n' "$kbin:$ebin:$wbin"
  # the artifact store and the wrapper image, for `overture operator`, `overture run -i x=@file`, `overture logs`
  if [[ -s "$STATE_FILE" ]]; then
    local line
    while IFS= read -r line; do
      [[ "$line" == OVERTURE_S3_*=* || "$line" == OVERTURE_WRAPPER_IMAGE=* ]] && printf 'export %s=%q\n' "${line%%=*}" "${line#*=}"
    done <"$STATE_FILE"
  fi
  return 0
}
main "$@"; exit
