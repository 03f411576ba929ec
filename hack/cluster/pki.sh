# shellcheck shell=bash
# Certificates, keys, tokens and kubeconfigs for the local cluster (sourced by up.sh).
# Everything is generated fresh at each start into $PKI (inside the state dir, never the repo).

PKI="$OVERTURE_CLUSTER_DIR/pki"

_key() { # <file>  EC P-256: fast to generate, accepted by every component
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  chmod 600 "$1"
}

pki_ca() {
  _key "$PKI/ca.key"
  openssl req -x509 -new -key "$PKI/ca.key" -sha256 -days 3650 -subj "/CN=overture-local-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$PKI/ca.crt" 2>/dev/null
}

# pki_cert <name> <subject> <server|client|both> [SAN list, e.g. "IP:127.0.0.1,DNS:localhost"]
pki_cert() {
  local name=$1 subj=$2 kind=$3 san=${4:-} eku ext
  case "$kind" in
    server) eku=serverAuth ;; client) eku=clientAuth ;; both) eku=serverAuth,clientAuth ;;
  esac
  ext=$(mktemp)
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ -n "$san" ]] && echo "subjectAltName=$san"
  } >"$ext"
  _key "$PKI/$name.key"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 365 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$ext" "$PKI/$name.csr"
}

b64() { base64 -w0 <"$1"; }

# write_kubeconfig <out> <user name> <user block: the YAML lines under "user:", indented 4>
write_kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: overture-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: $2
  user:
$3
contexts:
- name: overture-local
  context: {cluster: overture-local, user: $2, namespace: default}
current-context: overture-local
EOF
  chmod 600 "$1"
}

# kubeconfig_cert <out> <user> <cert name>
kubeconfig_cert() {
  write_kubeconfig "$1" "$2" "    client-certificate-data: $(b64 "$PKI/$3.crt")
    client-key-data: $(b64 "$PKI/$3.key")"
}

# kubeconfig_token <out> <user> <token>
kubeconfig_token() {
  write_kubeconfig "$1" "$2" "    token: $3"
}

pki_all() {
  rm -rf "$PKI"; mkdir -p "$PKI" "$OVERTURE_CLUSTER_DIR/users"; chmod 700 "$PKI"
  pki_ca
  pki_cert apiserver "/CN=kube-apiserver" server \
    "IP:127.0.0.1,IP:$NODE_IP,IP:$(svc_ip 1),DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  pki_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" client
  pki_cert front-proxy-client "/CN=front-proxy-client" client
  pki_cert admin "/O=system:masters/CN=overture-admin" client
  pki_cert controller-manager "/CN=system:kube-controller-manager" client
  pki_cert scheduler "/CN=system:kube-scheduler" client
  pki_cert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" client
  pki_cert kubelet-serving "/O=system:nodes/CN=system:node:$NODE_NAME" server "IP:$NODE_IP,DNS:$NODE_NAME"
  pki_cert kwok-serving "/CN=kwok" server "IP:127.0.0.1,DNS:localhost"
  # service-account token signing key (RSA: what every JWT consumer understands)
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  chmod 600 "$PKI/sa.key"

  kubeconfig_cert "$OVERTURE_CLUSTER_DIR/admin.kubeconfig" overture-admin admin
  kubeconfig_cert "$OVERTURE_CLUSTER_DIR/controller-manager.kubeconfig" system:kube-controller-manager controller-manager
  kubeconfig_cert "$OVERTURE_CLUSTER_DIR/scheduler.kubeconfig" system:kube-scheduler scheduler
  kubeconfig_cert "$OVERTURE_CLUSTER_DIR/kubelet.kubeconfig" "system:node:$NODE_NAME" kubelet-client

  # Non-admin identities: static bearer tokens (--token-auth-file). Users get no
  # permissions here; tests grant them RBAC. Group: overture:tenants.
  local u tok
  : >"$PKI/tokens.csv"
  for u in $OVERTURE_CLUSTER_USERS; do
    tok=$(openssl rand -hex 24)
    printf '%s,%s,%s,"system:authenticated,overture:tenants"\n' "$tok" "$u" "uid-$u" >>"$PKI/tokens.csv"
    kubeconfig_token "$OVERTURE_CLUSTER_DIR/users/$u.kubeconfig" "$u" "$tok"
  done
  chmod 600 "$PKI/tokens.csv"
}

# n-th address of the service CIDR (the `kubernetes` service gets .1)
svc_ip() { python3 -c 'import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1])[int(sys.argv[2])])' "$SERVICE_CIDR" "$1"; }
