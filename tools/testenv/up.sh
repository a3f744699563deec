#!/usr/bin/env bash
# Starts a real control plane on 127.0.0.1 for the integration tests: etcd,
# kube-apiserver (own CA, static token), kube-controller-manager (the Job controller,
# garbage collection, namespaces), kube-scheduler and kwok (fake nodes and pod lifecycles).
# Writes $RUN/admin.kubeconfig and $RUN/env (source it for KUBECONFIG).
#
#   tools/testenv/up.sh        # binaries from tools/testenv/build.sh (must be built)
#
# Environment: TESTENV_RUN_DIR (default target/testenv), TESTENV_BIN (default: the
# build.sh cache dir), TESTENV_ETCD_PORT/TESTENV_ETCD_PEER_PORT/TESTENV_API_PORT/
# TESTENV_KCM_PORT/TESTENV_SCHED_PORT (defaults 12379/12380/16443/16257/16259),
# TESTENV_CLIENT_QPS/TESTENV_CLIENT_BURST (the controller manager's and the scheduler's
# client-side rate limit towards the API server; defaults 5000/10000, as kwok's
# "unlimited": see README.md), TESTENV_JOB_SYNCS (the Job controller's workers, default 5).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${TESTENV_BIN:-$("$HERE/build.sh" --print-bin-dir)}
RUN=${TESTENV_RUN_DIR:-$ROOT/target/testenv}
ETCD_PORT=${TESTENV_ETCD_PORT:-12379}
ETCD_PEER_PORT=${TESTENV_ETCD_PEER_PORT:-12380}
API_PORT=${TESTENV_API_PORT:-16443}
KCM_PORT=${TESTENV_KCM_PORT:-16257}
SCHED_PORT=${TESTENV_SCHED_PORT:-16259}
CLIENT_QPS=${TESTENV_CLIENT_QPS:-5000}
CLIENT_BURST=${TESTENV_CLIENT_BURST:-10000}
JOB_SYNCS=${TESTENV_JOB_SYNCS:-5}

for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
  if [[ ! -x $BIN/$b ]]; then
    echo "testenv: $BIN/$b is missing; run tools/testenv/build.sh first" >&2
    exit 1
  fi
done
for tool in openssl curl base64; do
  command -v "$tool" >/dev/null || { echo "testenv: $tool is required" >&2; exit 1; }
done

# A leftover control plane from an earlier run would hold the ports.
RUN=$RUN "$HERE/down.sh" >/dev/null 2>&1 || true
rm -rf "$RUN"
mkdir -p "$RUN/pki" "$RUN/logs" "$RUN/etcd"
PKI=$RUN/pki
TOKEN=testenv-$(openssl rand -hex 16)

wait_for() { # name seconds cmd...
  local name=$1 secs=$2
  shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
      echo "testenv: $name exited; last log lines:" >&2
      tail -n 40 "$RUN/logs/$name.log" >&2 || true
      return 1
    fi
    if ((SECONDS >= end)); then
      echo "testenv: $name not ready after ${secs}s; last log lines:" >&2
      tail -n 40 "$RUN/logs/$name.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
}
start() { # name cmd...; a pid file so down.sh stops exactly what was started
  local name=$1
  shift
  "$@" >"$RUN/logs/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

# --- PKI: our own CA, a serving cert with loopback SANs, a service-account key pair,
# and a static token for an admin in system:masters.
cat >"$PKI/ca.cnf" <<'CNF'
[req]
distinguished_name = dn
x509_extensions = v3_ca
prompt = no
[dn]
CN = testenv-ca
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
CNF
cat >"$PKI/apiserver.ext" <<'CNF'
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.0.0.1
CNF
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -config "$PKI/ca.cnf" \
  -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -subj /CN=kube-apiserver \
  -keyout "$PKI/apiserver.key" -out "$PKI/apiserver.csr" 2>/dev/null
openssl x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
  -CAcreateserial -days 3650 -extfile "$PKI/apiserver.ext" -out "$PKI/apiserver.crt" 2>/dev/null
openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
echo "$TOKEN,testenv-admin,testenv-admin,system:masters" >"$PKI/tokens.csv"

# --- etcd
start etcd "$BIN/etcd" --name=testenv --data-dir="$RUN/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="testenv=http://127.0.0.1:$ETCD_PEER_PORT" \
  --unsafe-no-fsync=true --log-level=warn
wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

# --- kube-apiserver
start kube-apiserver "$BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
  --cert-dir="$PKI" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" --token-auth-file="$PKI/tokens.csv" \
  --authorization-mode=Node,RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --disable-admission-plugins=ServiceAccount \
  --allow-privileged=true \
  --endpoint-reconciler-type=none
CURL=(curl -fsS --cacert "$PKI/ca.crt" -H "Authorization: Bearer $TOKEN")
wait_for kube-apiserver 90 "${CURL[@]}" "https://127.0.0.1:$API_PORT/readyz"
wait_for kube-apiserver 30 "${CURL[@]}" "https://127.0.0.1:$API_PORT/api/v1/namespaces/default"

cat >"$RUN/admin.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: testenv
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: testenv-admin
  user:
    token: $TOKEN
contexts:
- name: testenv
  context: {cluster: testenv, user: testenv-admin}
current-context: testenv
KC

# --- kube-controller-manager: the Job controller creates pods, garbage collection
# removes what an owner leaves behind, namespaces can be deleted. kwok heartbeats the
# nodes, so the node lifecycle controller may run too.
start kube-controller-manager "$BIN/kube-controller-manager" \
  --kubeconfig="$RUN/admin.kubeconfig" --authentication-kubeconfig="$RUN/admin.kubeconfig" \
  --authorization-kubeconfig="$RUN/admin.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --leader-elect=false \
  --use-service-account-credentials=false \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --kube-api-qps="$CLIENT_QPS" --kube-api-burst="$CLIENT_BURST" --concurrent-job-syncs="$JOB_SYNCS" \
  --controllers='*,-node-ipam-controller,-service-lb-controller,-node-route-controller,-cloud-node-lifecycle-controller'
wait_for kube-controller-manager 60 curl -fsSk "https://127.0.0.1:$KCM_PORT/healthz"

# --- kube-scheduler: places the pods of admitted Jobs on the (kwok) nodes. Its client's
# rate limit can only be set in a configuration file (the flags are ignored beside one).
cat >"$RUN/kube-scheduler.yaml" <<CFG
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: $RUN/admin.kubeconfig
  qps: $CLIENT_QPS
  burst: $CLIENT_BURST
leaderElection:
  leaderElect: false
CFG
start kube-scheduler "$BIN/kube-scheduler" --config="$RUN/kube-scheduler.yaml" \
  --authentication-kubeconfig="$RUN/admin.kubeconfig" \
  --authorization-kubeconfig="$RUN/admin.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$SCHED_PORT"
wait_for kube-scheduler 60 curl -fsSk "https://127.0.0.1:$SCHED_PORT/healthz"

# --- kwok: manages Nodes annotated kwok.x-k8s.io/node=fake, with our pod stages.
start kwok "$BIN/kwok" --kubeconfig="$RUN/admin.kubeconfig" --config="$HERE/kwok.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --manage-nodes-with-label-selector= --node-lease-duration-seconds=40 \
  --server-address=127.0.0.1:0
sleep 1
kill -0 "$(cat "$RUN/kwok.pid")" 2>/dev/null || { echo "testenv: kwok exited" >&2; tail -n 40 "$RUN/logs/kwok.log" >&2; exit 1; }

printf 'export KUBECONFIG=%s\nexport MUSTER_TESTENV_KUBECONFIG=%s\nexport TESTENV_RUN_DIR=%s\nexport TESTENV_BIN=%s\n' \
  "$RUN/admin.kubeconfig" "$RUN/admin.kubeconfig" "$RUN" "$BIN" >"$RUN/env"
echo "testenv: up at https://127.0.0.1:$API_PORT; source $RUN/env"
