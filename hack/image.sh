#!/usr/bin/env bash
# Build the operator image without Docker or a registry, the way the Dockerfile lays it out:
# the project and its dependencies as wheels, installed into a virtualenv at /opt/overture on the
# local cluster's python:3.12-slim rootfs (hack/cluster/images), user 10001, entrypoint
# `overture`, cmd `operator`. Written as a single-layer docker-archive by mkimage.py.
#   bash hack/image.sh            # build (or reuse) the archive; prints its path
#   bash hack/image.sh --import   # and import it as overture:dev into the local cluster's node
#                                 # (OVERTURE_CLUSTER_INSTANCE picks the cluster, as for up.sh)
#   bash hack/image.sh dbt [--import]   # the dbt image instead (images/dbt: dbt-core and
#                                 # dbt-postgres at the pins of images/dbt/requirements.txt in a
#                                 # virtualenv at /opt/dbt, entrypoint overture-dbt), tagged
#                                 # localhost/overture-dbt:dev ($OVERTURE_DBT_IMAGE)
# Cached by a hash of the sources, pyproject.toml, this script and the rootfs: unchanged
# sources cost a hash and, with --import, a `ctr import` (about 5 s).
# Needs: the python rootfs tarball (hack/cluster/images/build-images.sh python, run by up.sh),
# python3 with pip (the project's .venv), and PyPI for the dependencies' wheels the first time.
set -Eeuo pipefail
trap 'echo "[image] ERROR: unexpected failure (exit $?) in ${BASH_SOURCE[0]##*/} line $LINENO: $BASH_COMMAND" >&2' ERR
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=cluster/lib.sh
source "$ROOT/hack/cluster/lib.sh"

IMAGE=overture
[[ "${1:-}" == dbt ]] && { IMAGE=dbt; shift; }
if [[ $IMAGE == dbt ]]; then TAG=${OVERTURE_DBT_IMAGE:-localhost/overture-dbt:dev}; else TAG=${OVERTURE_IMAGE_TAG:-overture:dev}; fi
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
[[ -x "$PYTHON" ]] || PYTHON=python3
IMG_DIR="$OVERTURE_CACHE/images/overture"   # its own dir: build-images.sh prunes *.tar in images/
ROOTFS_TAR="$OVERTURE_CACHE/images/python-rootfs-${OVERTURE_DEBIAN_SUITE:-bookworm}.tar.gz"
PREFIX=/opt/$IMAGE
UID_GID=10001

ilog() { printf '[image] %s\n' "$*" >&2; }

sources_hash() {
  (
    cd "$ROOT"
    { if [[ $IMAGE == dbt ]]; then find images/dbt -type f | LC_ALL=C sort
      else find operator -type f \( -name '*.py' -o -name py.typed \) -not -path '*/__pycache__/*' | LC_ALL=C sort
        echo pyproject.toml README.md; fi
      echo hack/image.sh hack/cluster/images/mkimage.py; } |
      xargs sha256sum
    echo "$TAG $(stat -c '%s %Y' "$ROOTFS_TAR")"
  ) | sha256sum | cut -c1-12
}

build() { # <out.tar>
  local out=$1 work r site pyver t0=$SECONDS
  work=$(mktemp -d "$IMG_DIR/.overture.XXXXXX")
  WORK=$work   # removed by the EXIT trap, also when a step fails
  r="$work/rootfs"
  mkdir -p "$r" && tar -C "$r" --numeric-owner -xzf "$ROOTFS_TAR"
  pyver=$(cd "$r/usr/bin" && ls python3.[0-9]* | grep -E '^python3\.[0-9]+$' | sort -V | tail -1)
  pyver=${pyver#python}
  ilog "building $TAG on the rootfs's Python $pyver"

  local wanted=(-r "$ROOT/images/dbt/requirements.txt")
  if [[ $IMAGE == overture ]]; then
    # The builder stage: wheels of the project and of every dependency, for the rootfs's Python.
    "$PYTHON" -m pip wheel -q --no-deps --wheel-dir "$work/wheels" "$ROOT" >"$work/wheel.log" 2>&1 ||
      { cat "$work/wheel.log" >&2; die "pip wheel of the project failed (log above)"; }
    wanted=(--find-links "$work/wheels" "$work"/wheels/overture-*.whl)
  fi
  # The runtime stage: a virtualenv at /opt/overture made by hand (the rootfs has no venv
  # module): pyvenv.cfg, bin/python -> the system python, site-packages filled by pip --target.
  site="$r$PREFIX/lib/python$pyver/site-packages"
  mkdir -p "$site" "$r$PREFIX/bin"
  printf 'home = /usr/bin\ninclude-system-site-packages = false\nversion = %s\n' "$pyver" >"$r$PREFIX/pyvenv.cfg"
  ln -s "/usr/bin/python$pyver" "$r$PREFIX/bin/python"
  ln -s python "$r$PREFIX/bin/python3"
  "$PYTHON" -m pip install -q --disable-pip-version-check --no-compile --target "$site" \
    --python-version "$pyver" --implementation cp --only-binary=:all: \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    "${wanted[@]}"
  # pip --target puts console scripts in <target>/bin with the building Python's shebang.
  for f in "$site"/bin/*; do
    sed "1s|^#!.*|#!$PREFIX/bin/python|" "$f" >"$r$PREFIX/bin/$(basename "$f")"
    chmod 755 "$r$PREFIX/bin/$(basename "$f")"
  done
  rm -rf "$site/bin"
  # As the Dockerfile does: `overture operator` runs as python -OO where the -OO bytecode is
  # installed (process_memory.without_docstrings), else it keeps its docstrings (~2.5 MiB).
  # Compiled by the building Python, valid for the rootfs's only if both are the same version;
  # unchecked-hash because mkimage.py sets every mtime to the epoch (a timestamp .pyc would be stale).
  if [[ $("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') == "$pyver" ]]; then
    "$PYTHON" -m compileall -q -j 0 -o 2 --invalidation-mode unchecked-hash -s "$r" -p / "$site" >/dev/null
  else
    ilog "no -OO bytecode: the building Python is not $pyver (the operator will keep its docstrings)"
  fi
  echo "overture:x:$UID_GID:$UID_GID:overture:/nonexistent:/usr/sbin/nologin" >>"$r/etc/passwd"
  echo "overture:x:$UID_GID:" >>"$r/etc/group"
  local entry=(--entrypoint "$PREFIX/bin/overture" --cmd operator) tags=(--tag "$TAG" --tag "docker.io/library/$TAG")
  if [[ $IMAGE == dbt ]]; then
    install -m 755 "$ROOT/images/dbt/overture-dbt" "$r$PREFIX/bin/overture-dbt"
    sed -i "1s|^#!.*|#!$PREFIX/bin/python|" "$r$PREFIX/bin/overture-dbt"
    ln -s "$PREFIX/bin/dbt" "$r/usr/local/bin/dbt"   # `dbt` on the PATH for a shell in the image
    # dbt reports usage to dbt Labs unless told not to; a task's pod has no business calling out.
    entry=(--entrypoint "$PREFIX/bin/overture-dbt" --cmd build --env DBT_SEND_ANONYMOUS_USAGE_STATS=false
      --env DO_NOT_TRACK=1 --env HOME=/tmp)
    tags=(--tag "$TAG")
  fi
  python3 "$ROOT/hack/cluster/images/mkimage.py" "$r" "$out" "${tags[@]}" "${entry[@]}" \
    --env LANG=C.UTF-8 --env PYTHONUNBUFFERED=1 --env PYTHONDONTWRITEBYTECODE=1
  ilog "$TAG: $(du -h "$out" | cut -f1) in $((SECONDS - t0))s"
}

import_image() { # <tar>
  [[ -S "$CONTAINERD_SOCK" ]] || die "no containerd at $CONTAINERD_SOCK: is the local cluster (instance $INSTANCE) up with a real node?"
  ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$1" >/dev/null
  ilog "imported $TAG into the node of $OVERTURE_CLUSTER_DIR"
}

WORK=""
trap '[[ -z "$WORK" ]] || rm -rf "$WORK"' EXIT

main() {
  local import=0
  [[ "${1:-}" == --import ]] && import=1
  [[ -s "$ROOTFS_TAR" ]] || bash "$ROOT/hack/cluster/images/build-images.sh" python >/dev/null
  [[ -s "$ROOTFS_TAR" ]] || die "no python rootfs at $ROOTFS_TAR"
  mkdir -p "$IMG_DIR"
  local out
  out="$IMG_DIR/$IMAGE-${TAG//[:\/]/-}-$(sources_hash).tar"
  if [[ ! -s "$out" ]]; then
    find "$IMG_DIR" -maxdepth 1 -name "$IMAGE-${TAG//[:\/]/-}-*.tar" -delete   # older builds
    build "$out.tmp.$$" && mv "$out.tmp.$$" "$out"
  fi
  (( import )) && import_image "$out"
  echo "$out"
}

main "$@"; exit
