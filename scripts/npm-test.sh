#!/usr/bin/env bash
# Packs the npm packages (the launcher with its test helper, and the Linux x64 package
# carrying the binary cargo already built, its debug information stripped), installs
# the tarballs into an empty project as a user would, with Microsoft's JavaScript Graph
# client, and runs tests/npm there with node:test.
#
#   scripts/npm-test.sh [BINARY]      default: target/release/cloudpc-partners
set -euo pipefail
cd "$(dirname "$0")/.."

binary=$(realpath "${1:-target/release/cloudpc-partners}")
work=$(realpath "${CARGO_TARGET_DIR:-target}")/npm
rm -rf "$work"
mkdir -p "$work/packages"
cp -r npm/cloudpc-partners npm/linux-x64 "$work/packages/"
mkdir -p "$work/packages/linux-x64/bin"
objcopy --strip-debug "$binary" "$work/packages/linux-x64/bin/cloudpc-partners"
(cd "$work" && npm pack --silent ./packages/linux-x64 ./packages/cloudpc-partners >/dev/null)
ls "$work"/*.tgz | sed 's|.*/|packed |'

project="$work/project"
mkdir -p "$project"
cp tests/npm/stand-in.test.mjs "$project/"
cd "$project"
echo '{ "name": "an-empty-project", "private": true, "type": "module" }' > package.json
npm install --silent --no-audit --no-fund \
  ../cloudpc-partners-linux-x64-0.1.0.tgz ../cloudpc-partners-0.1.0.tgz \
  @microsoft/microsoft-graph-client@3.0.7 undici@6.29.1
env -u CLOUDPC_PARTNERS_BIN node --test stand-in.test.mjs
