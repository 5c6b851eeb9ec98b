#!/usr/bin/env bash
# Install the Debian packages homelab-iac and its lab need, only those missing.
# Used by scripts/test.sh, scripts/runbook.sh --lab and .ci/run, so a fresh Debian machine
# needs nothing but a Rust toolchain. Must run as root (it calls apt-get).
set -euo pipefail

PACKAGES=(
  openssh-server openssh-client   # real sshd in every lab host; ssh for pvecm add --use_ssh
  corosync corosync-qnetd corosync-qdevice  # the real cluster stack under the simulated pvecm
  xorriso                         # provision-iso prepare (ISO rewriting, as Proxmox's assistant)
  sudo                            # sudo -n for the automation user; visudo for validation
  attr                            # setfattr: opaque overlay dirs (private /root, /home in lab hosts)
  iproute2 util-linux procps psmisc  # ip netns, unshare/nsenter, ps/pkill
  openssl                         # lab certificates (pve-ssl.pem)
  libssl-dev pkg-config           # building ssh2 (libssh2-sys) and native-tls
  ca-certificates
  time python3 python3-venv       # bench/run.sh: GNU time (peak RSS), a venv for ansible-core
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing Debian packages: ${missing[*]}" >&2
  echo "deps: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "deps: installing ${missing[*]}" >&2
# Never start the freshly installed daemons (sshd, corosync, qnetd) in the machine's own
# namespace: the lab starts them inside its hosts. Debian honours policy-rc.d exit 101.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 0755 "$policy"; own_policy=1
fi
trap '[ "$own_policy" = 1 ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done" >&2
