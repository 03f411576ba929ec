#!/usr/bin/env bash
# Build (once) the cluster binaries from the pinned wrapper Go modules in
# hack/cluster/{k8sbins,etcd,kwok,versitygw} into a version-keyed cache outside the repo:
#   ${OVERTURE_CACHE:-$HOME/.cache/overture}/bin/kubernetes-<v>/{kube-apiserver,...,kubectl}
#   ${OVERTURE_CACHE:-$HOME/.cache/overture}/bin/etcd-<v>/{etcd,etcdctl}
#   ${OVERTURE_CACHE:-$HOME/.cache/overture}/bin/kwok-<v>/kwok
#   ${OVERTURE_CACHE:-$HOME/.cache/overture}/bin/versitygw-<v>/versitygw   (the S3 server)
# Idempotent: components whose binaries are present are skipped (a warm run
# takes well under a second). Prints the bin dirs (KEY=DIR lines) at the end.
#
# usage: hack/cluster/build.sh [all|kubernetes|etcd|kwok|versitygw]...   (default: all)
#   OVERTURE_BUILD_FORCE=1  rebuild even if present
set -Eeuo pipefail
trap 'echo "[cluster] ERROR: unexpected failure (exit $?) in ${BASH_SOURCE[0]##*/} line $LINENO: $BASH_COMMAND" >&2' ERR
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

build_kubernetes() {
  local kv out minor ld p
  kv=$(pinned_version k8sbins k8s.io/kubernetes)
  out=$(bin_dir kubernetes)
  if [[ -z "${OVERTURE_BUILD_FORCE:-}" ]] && all_exec "$out" $K8S_BINS; then
    log "kubernetes $kv: cached in $out"; return 0
  fi
  need_go
  minor=$(cut -d. -f2 <<<"$kv")
  ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$kv -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    ld+=" -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  log "kubernetes $kv: building $K8S_BINS (cold: ~4-5 min on this 2-core VM, more on slower machines) -> $out"
  local tmp t0=$SECONDS pkgs=() b
  tmp=$(fresh_tmp "$out")
  for b in $K8S_BINS; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  (cd "$HERE/k8sbins" && CGO_ENABLED=0 go build -mod=readonly -trimpath -tags selinux,notest \
      -ldflags "$ld" -o "$tmp/" "${pkgs[@]}")
  finish_build kubernetes "$kv" "$tmp" "$out" "$t0"
}

build_etcd() {
  local v out
  v=$(pinned_version etcd go.etcd.io/etcd/server/v3)
  out=$(bin_dir etcd)
  if [[ -z "${OVERTURE_BUILD_FORCE:-}" ]] && all_exec "$out" etcd etcdctl; then
    log "etcd $v: cached in $out"; return 0
  fi
  need_go
  log "etcd $v: building etcd, etcdctl (cold: ~1 min) -> $out"
  local tmp t0=$SECONDS
  tmp=$(fresh_tmp "$out")
  go_build etcd "-s -w" "$tmp/etcd" go.etcd.io/etcd/server/v3
  go_build etcd "-s -w" "$tmp/etcdctl" go.etcd.io/etcd/etcdctl/v3
  finish_build etcd "$v" "$tmp" "$out" "$t0"
}

build_kwok() {
  local v out
  v=$(pinned_version kwok sigs.k8s.io/kwok)
  out=$(bin_dir kwok)
  if [[ -z "${OVERTURE_BUILD_FORCE:-}" ]] && all_exec "$out" kwok && [[ -s "$out/stages.yaml" ]]; then
    log "kwok $v: cached in $out"; return 0
  fi
  need_go
  log "kwok $v: building (cold: ~2 min) -> $out"
  local tmp t0=$SECONDS
  tmp=$(fresh_tmp "$out")
  go_build kwok "-s -w" "$tmp/kwok" sigs.k8s.io/kwok/cmd/kwok
  # kwok alone (unlike kwokctl) has no built-in stages: take kwokctl's defaults
  # (node init + heartbeat with lease, pod ready/complete/delete) from the pinned module.
  local src f
  src=$(cd "$HERE/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    [[ -s "$src/kustomize/stage/$f" ]] || die "kwok stage $f not found in $src"
    printf -- '---\n' >>"$tmp/stages.yaml"; cat "$src/kustomize/stage/$f" >>"$tmp/stages.yaml"
  done
  finish_build kwok "$v" "$tmp" "$out" "$t0"
}

build_versitygw() {
  local v out
  v=$(pinned_version versitygw github.com/versity/versitygw)
  out=$(bin_dir versitygw)
  if [[ -z "${OVERTURE_BUILD_FORCE:-}" ]] && all_exec "$out" versitygw; then
    log "versitygw $v: cached in $out"; return 0
  fi
  need_go
  log "versitygw $v: building (cold: ~1-2 min) -> $out"
  local tmp t0=$SECONDS
  tmp=$(fresh_tmp "$out")
  go_build versitygw "-s -w -X main.Version=$v -X main.Build=module-proxy -X main.BuildTime=1970-01-01T00:00:00Z" \
    "$tmp/versitygw" github.com/versity/versitygw/cmd/versitygw
  finish_build versitygw "$v" "$tmp" "$out" "$t0"
}

# go_build <wrapper module dir> <ldflags> <output file> <main package>: static, the pinned versions
go_build() {
  (cd "$HERE/$1" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$2" -o "$3" "$4")
}

main() {
  local targets=("$@") t
  [[ ${#targets[@]} -gt 0 ]] || targets=(all)
  for t in "${targets[@]}"; do
    case "$t" in
      all) build_etcd; build_kwok; build_versitygw; build_kubernetes ;;
      kubernetes|k8s) build_kubernetes ;;
      etcd) build_etcd ;;
      kwok) build_kwok ;;
      versitygw|s3) build_versitygw ;;
      *) die "unknown target '$t' (all|kubernetes|etcd|kwok|versitygw)" ;;
    esac
  done
  echo "KUBERNETES_BIN=$(bin_dir kubernetes)"
  echo "ETCD_BIN=$(bin_dir etcd)"
  echo "KWOK_BIN=$(bin_dir kwok)"
  echo "VERSITYGW_BIN=$(bin_dir versitygw)"
}

main "$@"; exit
