#!/bin/sh
# floor.sh SSH_CONFIG USER PROBE HOST...: run PROBE (bench/probe.sh) through one fresh ssh
# connection per host, `sudo -n sh -s` as USER (as our tools observe), all hosts at once.
# Exits non-zero if any host failed. Timed by run.sh: this is the SSH floor. FLOOR_SSH_OPTS adds
# ssh options (e.g. -o KexAlgorithms=curve25519-sha256).
cfg=$1 user=$2 probe=$3
shift 3
pids=""
for h in "$@"; do
  # shellcheck disable=SC2086
  ssh -F "$cfg" ${FLOOR_SSH_OPTS:-} -o BatchMode=yes -o ControlPath=none -l "$user" "$h" 'sudo -n sh -s' < "$probe" > /dev/null &
  pids="$pids $!"
done
rc=0
for p in $pids; do wait "$p" || rc=1; done
exit $rc
