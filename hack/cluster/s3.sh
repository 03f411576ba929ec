# shellcheck shell=bash
# The local cluster's S3 server (versitygw, posix backend), sourced by up.sh, down.sh and
# restart-s3.sh after lib.sh. One bucket ($S3_BUCKET), one root key pair made at the first start
# and kept in $S3_DIR/credentials.env (mode 600) so a restart serves the same keys and data.
# It listens on 127.0.0.1 and, with a real node, on the host's address on the pod bridge
# ($POD_GATEWAY): pods reach nothing else (no default route), and presigned URLs must name one
# host both the operator and pods reach, so that is the advertised endpoint when there is a
# node, 127.0.0.1 otherwise.

S3_DIR="$OVERTURE_CLUSTER_DIR/s3"
S3_CREDENTIALS="$S3_DIR/credentials.env"

s3_serves_pods() { # <mode>
  [[ "$1" == real || "$1" == both ]]
}

s3_endpoint() { # <mode>
  if s3_serves_pods "$1"; then echo "http://$POD_GATEWAY:$S3_PORT"; else echo "http://127.0.0.1:$S3_PORT"; fi
}

s3_healthy() { curl -sf --max-time 2 "http://127.0.0.1:$S3_PORT/health" >/dev/null 2>&1; }

# s3_credentials: sets S3_ACCESS_KEY / S3_SECRET_KEY, making them on the first call.
s3_credentials() {
  if [[ ! -s "$S3_CREDENTIALS" ]]; then
    mkdir -p "$S3_DIR"
    (umask 077 && printf 'S3_ACCESS_KEY=%s\nS3_SECRET_KEY=%s\n' \
      "overture$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" \
      "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" >"$S3_CREDENTIALS")
  fi
  S3_ACCESS_KEY=$(sed -n 's/^S3_ACCESS_KEY=//p' "$S3_CREDENTIALS")
  S3_SECRET_KEY=$(sed -n 's/^S3_SECRET_KEY=//p' "$S3_CREDENTIALS")
}

# s3_start <mode> <versitygw binary>: start detached (own session), log to logs/versitygw.log,
# pid in pids/versitygw.pid; the keys go in the environment, not on the command line (ps).
s3_start() {
  local mode=$1 bin=$2 ports=(--port "127.0.0.1:$S3_PORT")
  s3_serves_pods "$mode" && ports+=(--port "$POD_GATEWAY:$S3_PORT")
  s3_credentials
  mkdir -p "$S3_DIR/data" "$S3_DIR/meta" "$LOGS_DIR" "$PIDS_DIR"
  # --sidecar: object metadata in files beside the data, so no xattrs are needed (tmpfs has none).
  # 9>&-: don't hand the up/down lock to the daemon.
  ROOT_ACCESS_KEY_ID=$S3_ACCESS_KEY ROOT_SECRET_ACCESS_KEY=$S3_SECRET_KEY \
    setsid "$bin" "${ports[@]}" --region "$S3_REGION" --health /health --keep-alive --quiet \
    posix --sidecar "$S3_DIR/meta" "$S3_DIR/data" >>"$LOGS_DIR/versitygw.log" 2>&1 </dev/null 9>&- &
  echo $! >"$PIDS_DIR/versitygw.pid"
}

# s3_wait <timeout s>: until /health answers; 1 if the process died or time ran out.
s3_wait() {
  local deadline=$((SECONDS + $1)) pid
  pid=$(pid_of versitygw || true)
  until s3_healthy; do
    pid_alive "$pid" || return 1
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# s3_make_bucket: create $S3_BUCKET (SigV4-signed by curl); an existing one is fine.
s3_make_bucket() {
  local code
  s3_credentials
  # the SHA-256 of the empty body: S3 wants it in a header, curl signs it with the rest
  code=$(curl -s -o "$S3_DIR/make-bucket.out" -w '%{http_code}' --max-time 10 -X PUT \
    --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
    -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
    "http://127.0.0.1:$S3_PORT/$S3_BUCKET") || true
  [[ "$code" == 200 ]] || grep -q BucketAlreadyOwnedByYou "$S3_DIR/make-bucket.out" 2>/dev/null
}

# Lines for cluster.env: where the store is and the keys (the operator and the tests read them).
s3_env_lines() { # <mode>
  s3_credentials
  cat <<EOF
OVERTURE_S3_ENDPOINT=$(s3_endpoint "$1")
OVERTURE_S3_BUCKET=$S3_BUCKET
OVERTURE_S3_REGION=$S3_REGION
OVERTURE_S3_ACCESS_KEY_ID=$S3_ACCESS_KEY
OVERTURE_S3_SECRET_ACCESS_KEY=$S3_SECRET_KEY
EOF
}
