#!/usr/bin/env bash
# The whole Hush test suite, on a fresh machine. It installs what the tests
# drive for real and then runs `go test`:
#   - Chromium (Debian's package) and the browser-test npm packages in e2e/
#     (playwright-core, axe-core), for the web app's browser tests;
#   - ssh-agent (Debian's openssh-client) and litewitness, for the witness tests.
# The Go toolchain and modules come through the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")"

# The patched toolchain go.mod names (machines that set GOTOOLCHAIN=local
# would otherwise stay on their own older Go).
export GOTOOLCHAIN=go1.27.3
export PATH="/usr/local/go/bin:$PATH"
export PATH="$(go env GOPATH)/bin:$PATH"

need=()
command -v ssh-agent >/dev/null && command -v ssh-add >/dev/null && command -v ssh-keygen >/dev/null || need+=(openssh-client)
[ -x "${HUSH_CHROMIUM:-/usr/bin/chromium}" ] || need+=(chromium fonts-dejavu-core)
command -v node >/dev/null && command -v npm >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  echo "--- installing ${need[*]} (Debian packages)"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "--- browser-test packages (npm ci in e2e/)"
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)

# witnessctl is not installed: its sigsum.org/sigsum-go dependency is not
# served by the module proxy; witnesstest registers logs in litewitness's
# SQLite database itself, as witnessctl add-log/add-key would.
command -v litewitness >/dev/null || go install filippo.io/torchwood/cmd/litewitness@v0.6.1

echo "--- go test"
HUSH_REQUIRE_BROWSER=1 go test -race -count=1 ./...
