# shellcheck shell=bash
# fake_api_lib.sh: what the e2e scripts that run nicproxy against the fake HTTPS API
# server (build/tests/fake_apiserver) share: its credentials, a kubeconfig for nicproxy,
# starting and stopping it on 127.0.0.1:6443 inside a network namespace, and the control
# requests (/fake/*) that change its cluster.
#
# fake_api_credentials sets FAKE_API_DIR and FAKE_API_TOKEN, which the other functions
# use; start_fake_api runs the caller's $FAKE (the fake's binary) and sets FAKE_PID.

# fake_api_credentials DIR TOKEN [CA_NAME]: in DIR, a CA (ca.key, ca.crt; CN CA_NAME,
# default e2e-ca) and a server certificate for IP 127.0.0.1 signed by it (server.key,
# server.crt), both EC prime256v1, openssl's output in DIR/openssl.log; then TOKEN in
# DIR/token. Non-zero when openssl failed.
fake_api_credentials() {
    local dir=$1 token=$2 ca_name=${3:-e2e-ca}
    FAKE_API_DIR=$dir
    FAKE_API_TOKEN=$token
    (
        cd "$dir" || exit 1
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
            -subj "/CN=$ca_name" -keyout ca.key -out ca.crt &&
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
                -keyout server.key -out server.csr &&
            printf 'subjectAltName=IP:127.0.0.1\n' >server.ext &&
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
                -extfile server.ext -out server.crt
    ) >"$dir/openssl.log" 2>&1 || return 1
    printf '%s\n' "$token" >"$dir/token"
}

# fake_api_kubeconfig FILE [SERVER]: a kubeconfig for nicproxy: SERVER (default the
# fake's https://127.0.0.1:6443), certificate-authority ca.crt and tokenFile token, both
# relative, so resolved next to FILE (write it in fake_api_credentials' DIR).
fake_api_kubeconfig() {
    cat >"$1" <<KC
apiVersion: v1
kind: Config
current-context: e2e
clusters:
- name: fake
  cluster:
    server: ${2:-https://127.0.0.1:6443}
    certificate-authority: ca.crt
contexts:
- name: e2e
  context:
    cluster: fake
    user: nicproxy
users:
- name: nicproxy
  user:
    tokenFile: token
KC
}

# start_fake_api NS LOG [SECONDS]: $FAKE on 127.0.0.1:6443 in network namespace NS with
# fake_api_credentials' certificate and token, its output in LOG; FAKE_PID is its pid.
# Waits up to SECONDS (default 10; 0 for a caller that waits itself) for it to listen:
# non-zero if it did not (or exited).
start_fake_api() {
    local ns=$1 log=$2 secs=${3:-10} i
    # ip netns exec execs the fake, so $! is the fake's own pid (a backgrounded function
    # would be a subshell, and killing that would leave the fake running).
    ip netns exec "$ns" "$FAKE" --cert "$FAKE_API_DIR/server.crt" --key "$FAKE_API_DIR/server.key" \
        --token "$FAKE_API_TOKEN" --listen 127.0.0.1 --port 6443 >"$log" 2>&1 &
    FAKE_PID=$!
    for ((i = 0; i < secs * 10; i++)); do
        grep -qs 'listening on' "$log" && return 0
        kill -0 "$FAKE_PID" 2>/dev/null || break
        sleep 0.1
    done
    grep -qs 'listening on' "$log"
}

# stop_fake_api: ends the fake start_fake_api started (SIGTERM, then waits for it).
stop_fake_api() {
    if [[ -n ${FAKE_PID:-} ]]; then
        kill "$FAKE_PID" 2>/dev/null
        wait "$FAKE_PID" 2>/dev/null
        FAKE_PID=""
    fi
    return 0
}

# fake_api_request NS METHOD PATH [BODY]: one control request to the fake in NS
# (https://127.0.0.1:6443/fake/PATH, PATH with its query), with the CA and the token.
fake_api_request() {
    ip netns exec "$1" curl -sS --max-time 5 --cacert "$FAKE_API_DIR/ca.crt" \
        -H "Authorization: Bearer $FAKE_API_TOKEN" -X "$2" --data-binary "${4:-}" \
        "https://127.0.0.1:6443/fake/$3"
}
