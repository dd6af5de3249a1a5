#!/usr/bin/env bash
# Installs the Debian packages logtrial's tests need, only when some are missing.
# Runs as root (CI and the dev machines are root); elsewhere it says what to install.
set -euo pipefail
PKGS=(iproute2 iptables procps faketime chromium)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then exit 0; fi
if [[ $(id -u) -ne 0 ]]; then
    echo "setup-debian: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 0
fi
echo "setup-debian: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
