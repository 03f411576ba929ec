#!/usr/bin/env bash
# Build (once) Argo Workflows, the peer of benchmarks/peer.py, from the Go module proxy into the
# cache outside the repo (nothing of Argo's is committed):
#   ${OVERTURE_CACHE:-$HOME/.cache/overture}/bin/argo-workflows-<v>/{workflow-controller,argoexec,crds/*.yaml}
#   ${OVERTURE_CACHE:-$HOME/.cache/overture}/images/argo/argoexec-<v>-<recipe>.tar   (localhost/argoexec:<v>)
# and, if the local cluster of OVERTURE_CLUSTER_INSTANCE runs a real node, imports the executor
# image into its containerd (no registry: like hack/cluster/images/, a docker-archive + ctr import).
# Idempotent: a warm run checks files and the image list only. Prints KEY=VALUE lines at the end.
#
# usage: hack/argo/build.sh            build what is missing, import the image if a real node is up
#   OVERTURE_BUILD_FORCE=1             rebuild even if present
#   ARGO_VERSION=vX.Y.Z                another release of github.com/argoproj/argo-workflows/v4
#                                      (ARGO_SUM=h1:... then pins its module hash; empty: not checked)
#
# Two fixes the module zip needs (the release images are built from git, not from the zip):
# - Go module zips drop symlinks: workflow/executor/osspecific/signal_linux.go is a symlink to
#   signal_darwin.go in git, so argoexec does not build for linux from the zip. It is restored
#   as a copy in a writable copy of the module source (the module cache is read-only).
# - The executor image (FROM distroless/static upstream) is argoexec alone at /bin/argoexec,
#   with /etc/nsswitch.conf ("hosts: files dns", as upstream) so /etc/hosts (hostAliases) is read.
set -Eeuo pipefail
trap 'echo "[argo] ERROR: unexpected failure (exit $?) in ${BASH_SOURCE[0]##*/} line $LINENO: $BASH_COMMAND" >&2' ERR
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../cluster/lib.sh
source "$HERE/../cluster/lib.sh"

MODULE=github.com/argoproj/argo-workflows/v4
ARGO_VERSION=${ARGO_VERSION:-v4.0.5}
# go.sum's hash of the module zip: the source built is the one measured in benchmarks/README.md.
if [[ "$ARGO_VERSION" == v4.0.5 ]]; then ARGO_SUM=${ARGO_SUM-h1:/1lru5oXUd+k6KEDUps6rLX5OKfi1jTfabgXTly/VFU=}; fi
ARGO_SUM=${ARGO_SUM:-}
OUT="$OVERTURE_CACHE/bin/argo-workflows-$ARGO_VERSION"
SRC="$OVERTURE_CACHE/src/argo-workflows-$ARGO_VERSION"
IMAGE="localhost/argoexec:$ARGO_VERSION"
IMG_DIR="$OVERTURE_CACHE/images/argo"   # its own dir: build-images.sh prunes images/*.tar of other recipes
TARBALL=""   # $IMG_DIR/argoexec-<v>-<hash of the recipe: build_image and mkimage.py>.tar, set by main

alog() { printf '[argo] %s\n' "$*" >&2; }

fetch_source() {
  local json dir sum
  need_go
  alog "$MODULE@$ARGO_VERSION: go mod download"
  json=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "$MODULE@$ARGO_VERSION")
  dir=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])' <<<"$json")
  sum=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["Sum"])' <<<"$json")
  [[ -z "$ARGO_SUM" || "$sum" == "$ARGO_SUM" ]] || die "$MODULE@$ARGO_VERSION has hash $sum, expected $ARGO_SUM"
  rm -rf "$SRC.tmp.$$"; mkdir -p "$(dirname "$SRC")"
  cp -r "$dir" "$SRC.tmp.$$"
  chmod -R u+w "$SRC.tmp.$$"
  local signal="$SRC.tmp.$$/workflow/executor/osspecific"
  [[ -e "$signal/signal_linux.go" ]] || cp "$signal/signal_darwin.go" "$signal/signal_linux.go"
  rm -rf "$SRC"; mv "$SRC.tmp.$$" "$SRC"
}

build_binaries() {
  if [[ -z "${OVERTURE_BUILD_FORCE:-}" ]] && all_exec "$OUT" workflow-controller argoexec &&
     [[ -s "$OUT/crds/argoproj.io_workflows.yaml" ]]; then
    alog "$ARGO_VERSION: cached in $OUT"; return 0
  fi
  [[ -z "${OVERTURE_BUILD_FORCE:-}" && -s "$SRC/go.mod" && -e "$SRC/workflow/executor/osspecific/signal_linux.go" ]] || fetch_source
  alog "$ARGO_VERSION: building workflow-controller, argoexec (cold: 4-8 min on this 2-core VM) -> $OUT"
  local tmp t0=$SECONDS p=github.com/argoproj/argo-workflows/v4
  tmp=$(fresh_tmp "$OUT")
  local ld="-s -w -X $p.version=$ARGO_VERSION -X $p.gitTag=$ARGO_VERSION -X $p.gitTreeState=clean"
  ld+=" -X $p.buildDate=1970-01-01T00:00:00Z -X $p.gitCommit=0000000000000000000000000000000000000000"
  (cd "$SRC" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$ld" -o "$tmp/" \
      ./cmd/workflow-controller ./cmd/argoexec)
  # the CRDs the release installs by default (minimal: large fields left out of the schema)
  mkdir -p "$tmp/crds"
  cp "$SRC"/manifests/base/crds/minimal/argoproj.io_*.yaml "$tmp/crds/"
  finish_build argo-workflows "$ARGO_VERSION" "$tmp" "$OUT" "$t0"
}

build_image() {
  if [[ -z "${OVERTURE_BUILD_FORCE:-}" && -s "$TARBALL" ]]; then return 0; fi
  alog "image $IMAGE: writing $TARBALL"
  mkdir -p "$IMG_DIR"
  local r
  r=$(mktemp -d "$IMG_DIR/.work.XXXXXX")
  mkdir -p "$r"/{bin,etc,tmp,dev,proc,sys}
  chmod 1777 "$r/tmp"
  cp "$OUT/argoexec" "$r/bin/argoexec"
  printf 'hosts: files dns\n' >"$r/etc/nsswitch.conf"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$r/etc/group"
  python3 "$CLUSTER_HACK_DIR/images/mkimage.py" "$r" "$TARBALL" --tag "$IMAGE" --entrypoint argoexec
  rm -rf "$r"
  find "$IMG_DIR" -maxdepth 1 -name 'argoexec-*.tar' ! -name "${TARBALL##*/}" -delete 2>/dev/null || true
}

# The real node's containerd (up.sh imports its own images at start; this one comes later).
import_image() {
  [[ -S "$CONTAINERD_SOCK" ]] || { alog "no real node up for instance $INSTANCE: image not imported"; return 0; }
  local config
  config=$(tar -xOf "$TARBALL" manifest.json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Config"])')
  # present if the node has the name and this build's config blob (ctr lists manifest digests only);
  # listings go to variables first: grep -q closing a pipe early fails it under pipefail
  local names
  names=$(ctr --address "$CONTAINERD_SOCK" -n k8s.io images ls -q)
  if grep -qx "$IMAGE" <<<"$names" &&
     ctr --address "$CONTAINERD_SOCK" -n k8s.io content get "sha256:${config%.json}" >/dev/null 2>&1; then
    alog "image $IMAGE: already in the node's containerd"; return 0
  fi
  ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$TARBALL" >&2
  alog "image $IMAGE: imported into $CONTAINERD_SOCK"
}

main() {
  TARBALL="$IMG_DIR/argoexec-$ARGO_VERSION-$({ declare -f build_image; cat "$CLUSTER_HACK_DIR/images/mkimage.py"; } |
    sha256sum | cut -c1-12).tar"
  build_binaries
  build_image
  import_image
  echo "ARGO_VERSION=$ARGO_VERSION"
  echo "ARGO_BIN=$OUT"
  echo "ARGO_CRDS=$OUT/crds"
  echo "ARGOEXEC_IMAGE=$IMAGE"
  # where pods on the real node reach this machine (the CNI bridge's own address)
  echo "POD_GATEWAY=$(python3 -c 'import ipaddress,sys; print(next(ipaddress.ip_network(sys.argv[1]).hosts()))' "$POD_CIDR")"
  echo "APISERVER_PORT=$APISERVER_PORT"
}

main "$@"; exit
