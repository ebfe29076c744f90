#!/usr/bin/env bash
# Installs what dhtscope needs on a fresh Debian machine with Node 20, then its npm packages:
# redis-server (the index; also started by the tests), python3-libtorrent (a real BitTorrent
# peer for the tests), chromium (the dashboard's browser test; never a browser download).
# Each is installed only when missing; apt-get runs as root, or through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
/usr/bin/python3 -c 'import libtorrent' >/dev/null 2>&1 || need+=(python3-libtorrent)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  if [ "$(id -u)" -eq 0 ]; then apt=(apt-get); else apt=(sudo apt-get); fi
  "${apt[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq "${need[@]}"
fi

# npm install, not the clean-install command: this registry's lock trips it (../shared/notes/toolchain.md, pitfall 21).
npm install --no-audit --no-fund
