#!/usr/bin/env bash
# Installs what dhtscope needs on a fresh Debian machine with Node 20, then its npm packages:
# redis-server (the index; also started by the tests), python3-libtorrent (a real BitTorrent
# peer for the tests), chromium (the dashboard's browser test; never a browser download),
# transmission-daemon (a real jech/dht node for test/transmission-netns.test.ts, which runs it
# in a network namespace of its own and needs root), systemd (its systemd-analyze checks the
# service unit in deploy/).
# Each is installed only when missing; apt-get runs as root, or through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
/usr/bin/python3 -c 'import libtorrent' >/dev/null 2>&1 || need+=(python3-libtorrent)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v transmission-daemon >/dev/null 2>&1 || need+=(transmission-daemon)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# systemd-analyze checks deploy/dhtscope.service (test/deploy-unit.test.ts); nothing is started.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  if [ "$(id -u)" -eq 0 ]; then apt=(apt-get); else apt=(sudo apt-get); fi
  "${apt[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq "${need[@]}"
  # Debian enables and starts the package's system service, a Transmission on the public DHT
  # with RPC on port 9091; the test starts daemons of its own, so the service is turned off again.
  if [[ " ${need[*]} " == *" transmission-daemon "* ]] && command -v systemctl >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then ctl=(systemctl); else ctl=(sudo systemctl); fi
    "${ctl[@]}" disable --now transmission-daemon.service >/dev/null 2>&1 || true
  fi
fi

# npm install, not the clean-install command: this registry's lock trips it (../shared/notes/toolchain.md, pitfall 21).
npm install --no-audit --no-fund
