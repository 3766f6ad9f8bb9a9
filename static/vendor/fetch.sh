#!/usr/bin/env bash
# Vendors htmx 2.x and its WebSocket extension from the npm registry at pinned versions.
# Run by hand to upgrade; the files it writes are committed and never edited by hand.
set -euo pipefail
HTMX_VERSION=2.0.11
WS_VERSION=2.0.4
HTMX_SHA256=d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717
WS_SHA256=896afc2936ded7a56373edf16ce75b0fe9bf49c03d1f55aee9baa94cb87c8d3e
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "htmx.org@${HTMX_VERSION}" "htmx-ext-ws@${WS_VERSION}" >/dev/null
tar -xzf "htmx.org-${HTMX_VERSION}.tgz" package/dist/htmx.min.js
mv package/dist/htmx.min.js htmx.min.js
rm -rf package
tar -xzf "htmx-ext-ws-${WS_VERSION}.tgz" package/dist/ws.min.js
mv package/dist/ws.min.js ws.js
echo "${HTMX_SHA256}  htmx.min.js" | sha256sum -c --quiet
echo "${WS_SHA256}  ws.js" | sha256sum -c --quiet
cp htmx.min.js ws.js "$here/"
echo "vendored htmx ${HTMX_VERSION} and htmx-ext-ws ${WS_VERSION}"
