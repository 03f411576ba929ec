#!/usr/bin/env bash
# Developer and CI tools that are not Python packages, built from the Go module proxy (no
# binary downloads) into a cache, pinned, idempotent:
#   bash hack/tools.sh          # installs what is missing, prints the tools' directory
#   "$(bash hack/tools.sh)/helm" version
# Tools: helm (helm.sh/helm/v3). The cache is ${OVERTURE_CACHE:-~/.cache/overture}/tools/<tool>-<version>/,
# so a version bump here builds the new one beside the old. Needs Go (>= 1.26, or an older Go with
# GOTOOLCHAIN=auto) and the Go module proxy the first time (cold build of helm: about 1.5 min on
# 2 cores); afterwards nothing but a file check. Progress goes to stderr, the directory to stdout.
set -euo pipefail

HELM_VERSION=v3.21.4   # helm.sh/helm/v3; bump here and nowhere else
# The Kubernetes minor of the k8s.io/client-go that helm's go.mod pins (v0.36.x -> 1.36): helm's
# Makefile stamps it as the default .Capabilities.KubeVersion of `helm template`/`helm lint`;
# unstamped, helm says v1.20.0 and charts with a kubeVersion constraint fail to render.
HELM_K8S_MINOR=36

OVERTURE_CACHE=${OVERTURE_CACHE:-$HOME/.cache/overture}
TOOLS_DIR="$OVERTURE_CACHE/tools"

log() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }

# go_install <dir> <package@version> [ldflags]: `go install` into <dir>, atomically (a
# half-built tool never sits at the final path, so a killed build is simply redone).
go_install() {
  local dir=$1 pkg=$2 ldflags=${3:-} tmp
  # Go's default install place, for shells whose PATH lacks it
  command -v go >/dev/null || { [[ -x /usr/local/go/bin/go ]] && PATH=/usr/local/go/bin:$PATH; }
  command -v go >/dev/null || die "go is not on PATH (needed once to build ${pkg%@*}); install Go >= 1.26"
  local proxy
  proxy=$(go env GOPROXY)
  [[ -n "$proxy" && "$proxy" != off ]] || die "go env GOPROXY is '$proxy': the Go module proxy is needed to build $pkg"
  log "building $pkg (GOPROXY=$proxy; first time only)"
  mkdir -p "$TOOLS_DIR"
  tmp=$(mktemp -d "$TOOLS_DIR/.build.XXXXXX")
  # CGO off: a static binary that runs wherever the cache is copied.
  if ! GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath" go install -ldflags="-s -w $ldflags" "$pkg"; then
    rm -rf "$tmp"
    die "go install $pkg failed (output above)"
  fi
  mkdir -p "$dir"
  for f in "$tmp"/*; do mv -f "$f" "$dir/"; done
  rm -rf "$tmp"
}

ensure_helm() {
  local dir="$TOOLS_DIR/helm-$HELM_VERSION"
  if [[ ! -x "$dir/helm" ]]; then
    local t0=$SECONDS
    # helm's release builds stamp their version with -X; `go install` alone would say "v3.21".
    go_install "$dir" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
      "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION
       -X helm.sh/helm/v3/internal/version.gitTreeState=clean
       -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR
       -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR"
    log "helm $HELM_VERSION built in $((SECONDS - t0))s: $dir/helm"
  fi
  ln -sfn "$dir/helm" "$TOOLS_DIR/helm"
}

main() {
  ensure_helm
  echo "$TOOLS_DIR"
}

main "$@"; exit
