#!/usr/bin/env bash
# The runbook: every phase in README order, stopping at the first failure with the phase's
# message and the command that resumes from there.
#
#   scripts/runbook.sh --lab                 # rehearse everything on a fresh simulated lab
#   scripts/runbook.sh -i homelab.toml       # the real homelab (after the nodes are installed)
#   scripts/runbook.sh --from form-cluster   # resume
#   scripts/runbook.sh --node pve-node2      # rebuild one node (after reinstalling it)
#   scripts/runbook.sh --check               # plan only: every phase with --check
#   --no-build: use the binaries already built in target/debug (tests; CARGO_TARGET_DIR is honoured)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

PHASES=(provision-iso bootstrap-node bootstrap-qdevice form-cluster configure-storage drift-check)

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  echo "options: --lab | -i/--inventory FILE | --from PHASE | --node NAME (repeatable) | --check | --no-build | -v"
  echo "phases:  ${PHASES[*]}"
}

lab=0; from=""; check=0; build=1; inventory="${HOMELAB_INVENTORY:-homelab.toml}"; verbose=()
node_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --lab) lab=1 ;;
    --from) from=${2:?--from needs a phase}; shift ;;
    --node) node_args+=(--node "${2:?--node needs a name}"); shift ;;
    --check) check=1 ;;
    --no-build) build=0 ;;
    -i|--inventory) inventory=${2:?-i needs a file}; shift ;;
    -v|-vv) verbose+=("$1") ;;
    -h|--help) usage; exit 0 ;;
    *) echo "runbook: unknown option $1" >&2; usage >&2; exit 1 ;;
  esac
  shift
done

if [ -n "$from" ]; then
  found=0; for p in "${PHASES[@]}"; do [ "$p" = "$from" ] && found=1; done
  [ $found = 1 ] || { echo "runbook: unknown phase '$from' (phases: ${PHASES[*]})" >&2; exit 1; }
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

# Build once; the phases are separate binaries of this workspace.
if [ "$lab" = 1 ] && [ "$(id -u)" -ne 0 ]; then
  echo "runbook: --lab needs root (network namespaces); run: sudo $0 --lab" >&2; exit 1
fi
if [ "$build" = 1 ]; then
  [ "$lab" = 1 ] && scripts/deps.sh
  step "build"
  cargo build --workspace --quiet
fi
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
[ -x "$BIN/lab" ] || { echo "runbook: $BIN/lab is missing: run cargo build --workspace (or drop --no-build)" >&2; exit 1; }

if [ "$lab" = 1 ]; then
  export HOMELAB_LAB_DIR="${HOMELAB_LAB_DIR:-$ROOT/.lab}"
  # The lab is one machine-wide resource (fixed address ranges): hold its lock for the run,
  # so a test suite or another rehearsal waits instead of tearing our lab down.
  # HOMELAB_LAB_LOCK_HELD=1: the caller (scripts/reliability.sh secrets --lab) holds it already.
  if [ "${HOMELAB_LAB_LOCK_HELD:-}" != 1 ]; then
    exec 9>/tmp/homelab-lab.lock
    if ! flock -n 9; then
      echo "runbook: waiting for /tmp/homelab-lab.lock (a test run or another lab user holds it) …" >&2
      flock 9
    fi
  fi
  # A fresh rehearsal always starts from a fresh lab; a resumed one (--from) reuses ours if it
  # is still up. `lab status --json` describes whatever lab runs on this machine.
  ours_running() {
    "$BIN/lab" status --json 2>/dev/null | tr -d ' \n' \
      | grep -q "\"running\":true,\"lab_dir\":\"$HOMELAB_LAB_DIR\""
  }
  if [ -n "$from" ] && ours_running && [ -f "$HOMELAB_LAB_DIR/secrets.env" ]; then
    step "lab: reusing the running lab in $HOMELAB_LAB_DIR"
  else
    step "lab down (anything left from an earlier lab)"
    "$BIN/lab" down
    step "lab up"
    "$BIN/lab" up
  fi
  inventory="$HOMELAB_LAB_DIR/homelab.toml"
  # First-contact secrets of this lab (random per lab); the phases read them by name.
  # shellcheck disable=SC1091
  set -a; . "$HOMELAB_LAB_DIR/secrets.env"; set +a
fi
export HOMELAB_INVENTORY="$inventory"

common=(-i "$inventory" "${node_args[@]}" "${verbose[@]}")
[ "$check" = 1 ] && common+=(--check)

run_phase() {
  local phase=$1; shift
  step "$phase $*"
  local rc=0
  "$BIN/$phase" "$@" "${common[@]}" || rc=$?
  if [ $rc -eq 2 ] && [ "$check" = 1 ]; then
    return 0 # --check: changes pending is the expected answer, not a failure
  fi
  if [ $rc -ne 0 ]; then
    echo >&2
    echo "runbook: phase '$phase' failed (exit $rc). Fix the problem above, then resume with:" >&2
    local again=("$0"); [ "$lab" = 1 ] && again+=(--lab) || again+=(-i "$inventory")
    echo "  ${again[*]} --from $phase ${node_args[*]}" >&2
    exit $rc
  fi
}

started=0; [ -z "$from" ] && started=1
for phase in "${PHASES[@]}"; do
  [ "$phase" = "$from" ] && started=1
  [ $started = 1 ] || continue
  case "$phase" in
    provision-iso)
      # On real hardware: `provision-iso serve` (answer server) or `provision-iso prepare` (ISO)
      # and an install of every node happen here. In the lab the hosts are already "installed",
      # so we generate and validate the answer files they would have been installed from.
      out_dir="$(dirname "$inventory")/answers"
      run_phase provision-iso answer --out "$out_dir"
      ;;
    configure-storage)
      # The lab has no guests; its inventory marks replication guest 900 `test_guest = true`,
      # so the rehearsal creates that small test guest. On real hardware replicate real guests
      # (or opt in yourself with --create-test-guest).
      if [ "$lab" = 1 ]; then run_phase configure-storage --create-test-guest; else run_phase configure-storage; fi
      ;;
    drift-check)
      [ "$check" = 1 ] && continue # drift-check is read-only already
      run_phase drift-check
      ;;
    *)
      run_phase "$phase"
      ;;
  esac
done

if [ "$lab" = 1 ] && [ "$check" = 0 ]; then
  step "cluster status (pve-node1)"
  "$BIN/lab" exec pve-node1 -- pvecm status || true
fi
step "runbook finished"
