#!/usr/bin/env bash
# Build the node's container images without a registry or a Docker engine, as
# docker-archive tarballs in ${OVERTURE_CACHE:-$HOME/.cache/overture}/images/:
#   localhost/pause:local                  static pause binary (gcc -static pause.c)
#   busybox:1.36                           Debian's busybox-static + applet symlinks
#   python:3.12-slim                       debootstrap --variant=minbase + python3
#                                          (really Debian 12's Python 3.11; `python` -> python3)
#   localhost/overture-wrapper:dev         the in-pod helper (wrapper/, Go stdlib, static) alone
#                                          at /overture-wrapper; $OVERTURE_WRAPPER_IMAGE renames it
# Each image is also tagged docker.io/library/<name> (what the kubelet asks for).
# Idempotent: tarball names carry a hash of the inputs; present ones are reused.
# Prints the tarball paths, one a line.  Needs: gcc, libc6-dev, busybox-static,
# debootstrap (hack/cluster/install-deps.sh) and the Debian mirror for debootstrap; Go for the
# wrapper (when its sources changed).
set -Eeuo pipefail
trap 'echo "[cluster] ERROR: unexpected failure (exit $?) in ${BASH_SOURCE[0]##*/} line $LINENO: $BASH_COMMAND" >&2' ERR
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"

IMG_DIR="$OVERTURE_CACHE/images"
mkdir -p "$IMG_DIR"
# The image recipe's own hash: any change to these files rebuilds the images.
RECIPE=$(cat "$HERE/mkimage.py" "$HERE/pause.c" "$HERE/build-images.sh" | sha256sum | cut -c1-12)
DEBIAN_SUITE=${OVERTURE_DEBIAN_SUITE:-bookworm}
DEBIAN_MIRROR=${OVERTURE_DEBIAN_MIRROR:-}
if [[ -z "$DEBIAN_MIRROR" ]]; then
  # use the mirror apt is configured with
  DEBIAN_MIRROR=$(grep -hoE '^(URIs:|deb)\s+\S+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    awk '{print $2}' | grep -v -e security -e '^\[' | grep -E '/debian/?$' | awk 'NR == 1' || true)
  DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
fi

work=$(mktemp -d "$IMG_DIR/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

mk() { python3 "$HERE/mkimage.py" "$@"; }

build_pause() {
  local out="$IMG_DIR/pause-local-$RECIPE.tar"
  if [[ ! -s "$out" ]]; then
    log "image localhost/pause:local: building"
    mkdir -p "$work/pause/dev" "$work/pause/proc" "$work/pause/sys"
    gcc -static -O2 -s -o "$work/pause/pause" "$HERE/pause.c"
    mk "$work/pause" "$out" --tag localhost/pause:local --entrypoint /pause
  fi
  touch "$out"   # in use: kept by the pruning below
  echo "$out"
}

build_busybox() {
  local out="$IMG_DIR/busybox-1.36-$RECIPE.tar" r="$work/busybox" p
  if [[ ! -s "$out" ]]; then
    log "image busybox:1.36: building from $(busybox 2>&1 | awk 'NR == 1 {print $1, $2}')"
    mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,var/tmp,dev,proc,sys,home}
    chmod 1777 "$r/tmp" "$r/var/tmp"
    cp "$(command -v busybox)" "$r/bin/busybox"
    for p in $("$r/bin/busybox" --list-full); do
      [[ "$p" == bin/busybox ]] && continue
      mkdir -p "$r/$(dirname "$p")"
      ln -sf /bin/busybox "$r/$p"
    done
    [[ -e "$r/bin/sh" ]] || ln -s /bin/busybox "$r/bin/sh"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$r/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
    mk "$r" "$out" --tag busybox:1.36 --tag docker.io/library/busybox:1.36 --cmd sh
  fi
  touch "$out"
  echo "$out"
}

build_python() {
  local out="$IMG_DIR/python-3.12-slim-$DEBIAN_SUITE-$RECIPE.tar"
  local rootfs_tar="$IMG_DIR/python-rootfs-$DEBIAN_SUITE.tar.gz" r="$work/python"
  if [[ ! -s "$out" ]]; then
    if [[ ! -s "$rootfs_tar" ]]; then
      log "image python:3.12-slim: debootstrap $DEBIAN_SUITE minbase + python3 from $DEBIAN_MIRROR (2-5 min)"
      local t0=$SECONDS
      debootstrap --variant=minbase --include=python3 "$DEBIAN_SUITE" "$r" "$DEBIAN_MIRROR" \
        >"$work/debootstrap.log" 2>&1 || {
          tail -30 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
      # slim it: no apt caches, docs, man pages, locales
      rm -rf "$r"/var/cache/apt/* "$r"/var/lib/apt/lists/* "$r"/usr/share/doc/* \
             "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/var/log/*
      find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
      ln -sf python3 "$r/usr/bin/python"
      tar -C "$r" --numeric-owner -czf "$rootfs_tar.tmp.$$" . && mv "$rootfs_tar.tmp.$$" "$rootfs_tar"
      log "python rootfs: $((SECONDS - t0))s, $(du -sh "$rootfs_tar" | cut -f1) compressed"
    else
      mkdir -p "$r" && tar -C "$r" --numeric-owner -xzf "$rootfs_tar"
    fi
    log "image python:3.12-slim: writing archive"
    mk "$r" "$out" --tag python:3.12-slim --tag docker.io/library/python:3.12-slim \
      --env LANG=C.UTF-8 --env PYTHONUNBUFFERED=1 --cmd python3
  fi
  touch "$out"
  echo "$out"
}

build_wrapper() {
  local src="$HERE/../../../wrapper" hash out r="$work/wrapper"
  src=$(cd "$src" && pwd)
  hash=$( (cd "$src" && find . -type f \( -name '*.go' -o -name go.mod \) ! -name '*_test.go' | LC_ALL=C sort | xargs sha256sum;
           echo "$WRAPPER_IMAGE") | sha256sum | cut -c1-12)
  out="$IMG_DIR/overture-wrapper-$hash-$RECIPE.tar"
  if [[ ! -s "$out" ]]; then
    command -v go >/dev/null || die "go not found on PATH: needed to build the wrapper image from $src"
    log "image $WRAPPER_IMAGE: building $src"
    mkdir -p "$r"/{dev,proc,sys,tmp}
    chmod 1777 "$r/tmp"
    (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=dev-$hash" -o "$r/overture-wrapper" .)
    mk "$r" "$out" --tag "$WRAPPER_IMAGE" --entrypoint /overture-wrapper
    # older builds of the wrapper are dead weight
    find "$IMG_DIR" -maxdepth 1 -name 'overture-wrapper-*.tar' ! -name "${out##*/}" -mtime +0 -delete 2>/dev/null || true
  fi
  touch "$out"
  echo "$out"
}

main() {
  local targets=("$@") t
  [[ ${#targets[@]} -gt 0 ]] || targets=(pause busybox python wrapper)
  for t in "${targets[@]}"; do
    case "$t" in
      pause) build_pause ;;
      busybox) build_busybox ;;
      python) build_python ;;
      wrapper) build_wrapper ;;
      *) die "unknown image '$t' (pause|busybox|python|wrapper)" ;;
    esac
  done
  # Archives of other recipes are dead weight once nobody used them for a day: the cache is
  # shared by every checkout on the machine, and two branches must not delete each other's.
  find "$IMG_DIR" -maxdepth 1 -name '*.tar' ! -name "*-$RECIPE.tar" -mtime +0 -delete 2>/dev/null || true
}

main "$@"; exit
