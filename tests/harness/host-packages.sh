#!/usr/bin/env bash
# Installs the Debian packages the test harness needs on the machine that runs `make`
# (root on Debian 12/13). Quiet and quick when everything is there already.
set -euo pipefail
packages=(python3-venv debootstrap docker.io docker-registry rsync git openssh-client shellcheck
          postgresql redis-server restic
          prometheus)  # promtool: the monitoring role's alert rules are unit-tested with `promtool test rules`
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "harness: missing Debian packages ${missing[*]}; run as root or install them first" >&2
    exit 1
  fi
  echo "harness: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
