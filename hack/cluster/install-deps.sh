#!/usr/bin/env bash
# Install the Debian packages the local cluster needs (idempotent; root; Debian 12).
#   containerd + runc + containernetworking-plugins : the real node's runtime and CNI
#   busybox-static, debootstrap                      : building the busybox / python images
#   gcc + libc6-dev                                  : the static pause binary
#   openssl                                          : certificates at start
#   iproute2, iptables, conntrack, socat, kmod, ...  : kubelet / CNI bridge helpers
# Go (>= 1.24) must already be on PATH for hack/cluster/build.sh; it is not installed here.
set -euo pipefail

PKGS=(containerd runc containernetworking-plugins busybox-static debootstrap
      gcc libc6-dev openssl iproute2 iptables conntrack socat ethtool kmod
      util-linux mount procps curl ca-certificates python3)

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "[install-deps] ERROR: need root (or sudo)" >&2; exit 1; }
  SUDO=sudo
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "[install-deps] all packages present"
else
  echo "[install-deps] installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # --no-install-recommends keeps docker/criu/etc. out; policy-rc.d stops the
  # package scripts from trying to start containerd as a service (we run our own).
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "[install-deps] done"
fi
for b in containerd containerd-shim-runc-v2 runc ctr busybox debootstrap openssl ip; do
  command -v "$b" >/dev/null || { echo "[install-deps] ERROR: $b still missing after install" >&2; exit 1; }
done
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
  { echo "[install-deps] ERROR: CNI plugins missing in /usr/lib/cni" >&2; exit 1; }
