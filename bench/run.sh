#!/usr/bin/env bash
# bench/run.sh: our binaries against the Ansible playbooks they replace, side by side on the
# same lab (issue 10). Method: ../shared/research/ansible-baseline.md; results: BENCHMARKS.md.
#
#   bench/run.sh [--quick] [--runs N] [--no-ansible] [--skip SECTION]...
#
# Sections, in order: iso (provision-iso prepare vs cp), then under the lab lock:
# converge (fresh lab per sample, with form-cluster), noop, check, scaling.
#   --quick       one sample each, scaling on 3 hosts only, a 64 MiB ISO (CI runs this);
#                 Ansible is skipped (and the reason printed) if it cannot be installed
#   --runs N      samples per scenario (default 5)
#   --no-ansible  measure our binaries only
#   --skip S      leave out a section (iso, converge, noop, check, scaling)
#   --debug       use the debug binaries already built (target/debug, CARGO_TARGET_DIR honoured)
#                 instead of a release build: a smoke test that the script still runs (CI);
#                 its timings are not benchmark figures
#
# Needs root (the lab), python3 with venv, cargo; installs ansible-core (pinned) from PyPI into
# bench/.venv and GNU time if missing. Results: bench/results/<UTC time>/ (samples.jsonl, one
# line per timed command; summary.json; summary.md; logs/). Every command has a timeout, the
# lab lock a bounded wait (BENCH_LOCK_WAIT seconds, default 3600): it fails, it never hangs.
# BENCH_LOCK_HELD=1 says the caller already holds the lab lock (e.g. `flock -o LOCK bench/run.sh`).
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
ANSIBLE_VERSION=2.19.14
LOCK=/tmp/homelab-lab.lock

die() { echo "bench: error: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }

QUICK=0 RUNS="" NO_ANSIBLE=0 SKIP=" " DEBUG_BUILD=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --runs) [ $# -ge 2 ] || die "--runs needs a number"; RUNS=$2; shift ;;
    --runs=*) RUNS=${1#--runs=} ;;
    --no-ansible) NO_ANSIBLE=1 ;;
    --debug) DEBUG_BUILD=1 ;;
    --skip) [ $# -ge 2 ] || die "--skip needs a section"; SKIP="$SKIP$2 "; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done
[ -n "$RUNS" ] || RUNS=$([ "$QUICK" = 1 ] && echo 1 || echo 5)
case $RUNS in ''|*[!0-9]*|0) die "--runs must be a positive number, got '$RUNS'" ;; esac
skipped() { case $SKIP in *" $1 "*) return 0 ;; esac; return 1; }
[ "$(id -u)" = 0 ] || die "needs root (the lab is built from namespaces); run as root"

WORK=$BENCH/.work
VENV=$BENCH/.venv
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release
[ "$DEBUG_BUILD" = 0 ] || BIN=$TARGET/debug
export HOMELAB_LAB_DIR=$WORK/lab
LABDIR=$HOMELAB_LAB_DIR
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=$BENCH/results/$STAMP
mkdir -p "$RESULTS/logs" "$WORK"
SAMPLES=$RESULTS/samples.jsonl
NOTES=$RESULTS/notes.txt
: > "$SAMPLES"; : > "$NOTES"
note() { say "$*"; printf '%s\n' "$*" >> "$NOTES"; }
CMD_TIMEOUT=${BENCH_CMD_TIMEOUT:-900}
START_NS=$(date +%s%N)

# ---- prerequisites ---------------------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
  say "installing GNU time (peak RSS of every timed command)"
  DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q time >/dev/null \
    || { timeout 300 apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q time >/dev/null; } \
    || die "GNU time (/usr/bin/time) is missing and could not be installed: apt-get install time"
  note "installed the Debian package 'time' (GNU time)"
fi
for t in python3 cargo xorriso ssh flock timeout; do
  command -v "$t" >/dev/null || die "$t not found (scripts/deps.sh installs the lab's packages; cargo comes with rustup)"
done

# Everything Ansible writes stays under bench/.work (never ~/.ansible).
export ANSIBLE_CONFIG=$BENCH/ansible/ansible.cfg ANSIBLE_NOCOLOR=1 ANSIBLE_DEPRECATION_WARNINGS=0 \
  ANSIBLE_INVENTORY=$WORK/ansible/inventory.yml ANSIBLE_HOME=$WORK/ansible-home \
  ANSIBLE_SSH_CONTROL_PATH_DIR=$WORK/ansible-home/cp
mkdir -p "$WORK/ansible" "$WORK/ansible-home/cp"
ANSIBLE_OK=0
setup_ansible() {
  if [ "$NO_ANSIBLE" = 1 ]; then note "Ansible not measured (--no-ansible)"; return; fi
  # (not `| grep -q`: with pipefail an early grep exit turns into SIGPIPE and a false "missing")
  if [[ "$("$VENV/bin/ansible-playbook" --version 2>/dev/null)" == *"core $ANSIBLE_VERSION]"* ]]; then
    ANSIBLE_OK=1; return
  fi
  say "installing ansible-core $ANSIBLE_VERSION from PyPI into $VENV"
  rm -rf "$VENV"
  if python3 -m venv "$VENV" >"$RESULTS/logs/pip.log" 2>&1 \
     && timeout 600 "$VENV/bin/pip" install --disable-pip-version-check --timeout 30 --retries 2 \
          "ansible-core==$ANSIBLE_VERSION" >>"$RESULTS/logs/pip.log" 2>&1; then
    ANSIBLE_OK=1
  else
    tail -5 "$RESULTS/logs/pip.log" >&2
    if [ "$QUICK" = 1 ]; then
      note "Ansible SKIPPED: ansible-core $ANSIBLE_VERSION could not be installed from PyPI (log: logs/pip.log)"
    else
      die "ansible-core $ANSIBLE_VERSION could not be installed from PyPI (log: $RESULTS/logs/pip.log); --no-ansible measures ours only"
    fi
  fi
}
setup_ansible

# ---- our binaries, release build -------------------------------------------------------------
PHASES="bootstrap-node bootstrap-qdevice form-cluster configure-storage drift-check provision-iso"
pkgs=(-p lab -p pve-sim); for b in $PHASES; do pkgs+=(-p "$b"); done
if [ "$DEBUG_BUILD" = 1 ]; then
  note "--debug: the debug binaries in $BIN, not a release build; these timings are a smoke test, not benchmark figures"
  for b in lab pve-sim $PHASES; do [ -x "$BIN/$b" ] || die "--debug: $BIN/$b is missing: run cargo build --workspace first"; done
else
  say "building our binaries (cargo build --release)"
  if ! (cd "$ROOT" && timeout 3600 cargo build --release -q "${pkgs[@]}") >"$RESULTS/logs/build.log" 2>&1; then
    # Someone's crate does not build right now: build what does, record the rest.
    for p in lab pve-sim $PHASES; do
      (cd "$ROOT" && timeout 3600 cargo build --release -q -p "$p") >>"$RESULTS/logs/build.log" 2>&1 \
        || note "$p: does not build in release mode (see logs/build.log); its figures are pending"
    done
  fi
fi
[ -x "$BIN/lab" ] && [ -x "$BIN/pve-sim" ] || die "lab/pve-sim did not build (logs/build.log): no lab, no benchmark"
# A phase is usable when its binary answers --version (a stub main does not).
usable() { [ -x "$BIN/$1" ] && timeout 10 "$BIN/$1" --version >/dev/null 2>&1; }
for b in $PHASES; do usable "$b" || note "$b: binary not usable yet (no --version); its figures are pending"; done
VERSION=$("$BIN/lab" --version | awk '{print $2}')
note "source: git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(n=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | wc -l); [ "$n" = 0 ] || echo " + uncommitted changes in $n files")"

# ---- timing helper ---------------------------------------------------------------------------
# timed SCENARIO TOOL PHASE SAMPLE FORMAT [EXTRA_JSON] -- COMMAND...: wall time (date +%s%N),
# exit code, peak RSS (GNU time %M), stdout/stderr to logs/, one JSON line to samples.jsonl.
LAST_RC=0 LAST_LOG=""
timed() {
  local scenario=$1 tool=$2 phase=$3 sample=$4 format=$5 extra=""
  shift 5
  if [ "$1" != "--" ]; then extra=$1; shift; fi
  shift
  local log="$RESULTS/logs/$scenario.$tool.$phase.$sample" t0 t1 rc rss
  # timeout(1) runs programs, not shell functions: run ours/play through bash (exported).
  if declare -F "$1" >/dev/null; then set -- bash -c '"$@"' bench "$@"; fi
  t0=$(date +%s%N)
  set +e
  /usr/bin/time -f %M -o "$log.rss" timeout -k 10 "$CMD_TIMEOUT" "$@" >"$log.out" 2>"$log.err" 9>&-
  rc=$?
  set -e
  t1=$(date +%s%N)
  rss=$(tail -n 1 "$log.rss" 2>/dev/null | tr -cd 0-9)
  python3 "$BENCH/lib/record.py" --scenario "$scenario" --tool "$tool" --phase "$phase" --sample "$sample" \
    --format "$format" --stdout "$log.out" --rc "$rc" --rss-kb "${rss:-0}" \
    --seconds "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')" \
    ${extra:+--extra "$extra"} >>"$SAMPLES"
  [ "$rc" = 124 ] && note "$scenario/$tool/$phase #$sample: timed out after ${CMD_TIMEOUT}s (logs/${log##*/}.*)"
  LAST_RC=$rc LAST_LOG=$log
  return 0
}
ours() { local b=$1; shift; "$BIN/$b" -i "$LABDIR/homelab.toml" --json "$@"; }
play() { local p=$1; shift; "$VENV/bin/ansible-playbook" "$BENCH/ansible/$p.yml" "$@"; }
export -f ours play
export BIN LABDIR VENV BENCH

# ---- provision-iso prepare vs cp (no lab needed) -----------------------------------------------
iso_bench() {
  local mb=$([ "$QUICK" = 1 ] && echo 64 || echo 1024) d=$WORK/iso i
  usable provision-iso || { note "iso: provision-iso not usable; prepare-vs-cp pending"; return; }
  say "iso: building a ${mb} MiB synthetic hybrid ISO with xorriso"
  rm -rf "$d"; mkdir -p "$d/root/boot/grub" "$d/root/.disk"
  printf "PRODUCTLONG='Proxmox VE'\n" > "$d/root/.disk/info"
  : > "$d/root/auto-installer-capable"
  head -c 32768 /dev/urandom > "$d/root/boot/grub/eltorito.img"
  head -c 65536 /dev/zero > "$d/root/boot/efi.img"; head -c 65536 /dev/zero > "$d/efi.img"
  head -c 446 /dev/zero > "$d/mbr.bin"
  head -c "$((mb * 1024 * 1024))" /dev/urandom > "$d/root/pve-base.squashfs"
  (cd "$d" && xorriso -as mkisofs -o in.iso -V PVE -r -J -b boot/grub/eltorito.img -no-emul-boot \
     -boot-load-size 4 -boot-info-table --grub2-boot-info --grub2-mbr mbr.bin \
     -eltorito-alt-boot -e boot/efi.img -no-emul-boot -append_partition 2 0xef efi.img \
     -appended_part_as_gpt root) >"$RESULTS/logs/iso-build.log" 2>&1 || { note "iso: xorriso could not build the synthetic ISO"; return; }
  rm -rf "$d/root"
  cp "$ROOT/crates/provision-iso/tests/fixtures/inventory/homelab.toml" "$d/homelab.toml"
  local size; size=$(stat -c %s "$d/in.iso")
  for i in $(seq 1 "$RUNS"); do
    rm -f "$d/out.iso" "$d/copy.iso"; sync
    timed iso ours provision-iso "$i" plain "{\"iso_bytes\": $size}" -- \
      env PISO_TEST_ROOT_PW=bench-root-pw PISO_TEST_TOKEN=bench-token \
      "$BIN/provision-iso" -i "$d/homelab.toml" prepare --iso "$d/in.iso" --output "$d/out.iso" --fetch-from iso --node pve-node2
    [ "$LAST_RC" = 0 ] || note "iso: provision-iso prepare failed (exit $LAST_RC, logs/${LAST_LOG##*/}.err)"
    timed iso cp cp "$i" plain "{\"iso_bytes\": $size}" -- cp "$d/in.iso" "$d/copy.iso"
  done
  rm -rf "$d"
}
skipped iso || iso_bench

# ---- everything below holds the machine-wide lab lock ------------------------------------------
# fd 9 holds it; every command started from here closes fd 9 (`9>&-`), so no lab host, ssh
# master or stray child keeps the lock after this script is gone.
wait_s=${BENCH_LOCK_WAIT:-3600}
if [ "${BENCH_LOCK_HELD:-}" = 1 ]; then
  say "BENCH_LOCK_HELD=1: the caller holds $LOCK"
else
  exec 9>>"$LOCK"
  say "waiting for the lab lock $LOCK (at most ${wait_s}s, BENCH_LOCK_WAIT)"
  flock -w "$wait_s" 9 || die "the lab lock $LOCK was not free within ${wait_s}s (another lab is running); the lab scenarios were not measured"
fi
LOCK_NS=$(date +%s%N)
say "lab lock held"
note "load average when the lab work started: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores; other work on the machine inflates every figure, both tools alike)"

lab() { "$BIN/lab" "$@" 9>&-; }
CP_DIR=$WORK/ansible-home/cp
# Close Ansible's ControlPersist masters before the lab goes down (ansible-baseline.md gotcha:
# live masters keep the old namespaces and their veths alive, and the next `lab up` fails).
close_masters() {
  local s
  for s in "$CP_DIR"/*; do
    [ -S "$s" ] && ssh -o ControlPath="$s" -O exit bench-lab >/dev/null 2>&1 9>&- || true
  done
}
# Poll (bounded) until a condition holds; no fixed sleeps.
wait_until() {
  local secs=$1 what=$2; shift 2
  local end=$(( $(date +%s) + secs ))
  until "$@"; do
    [ "$(date +%s)" -lt "$end" ] || { note "gave up after ${secs}s waiting for: $what"; return 1; }
    sleep 0.2
  done
}
no_lab_links() { ! ip -br link 2>/dev/null | grep -q '^lab-'; }
LAB_UP=0
# `lab down` removes whatever lab runs on this machine, ours or one left running by the
# runbook (which keeps its lab up for the user): we hold the lab lock, so nobody else is
# using it.
lab_down() {
  close_masters
  lab down >>"$RESULTS/logs/lab-down.log" 2>&1 || note "lab down failed (logs/lab-down.log)"
  LAB_UP=0
}
cleanup() {
  local rc=$?
  lab_down
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# lab_fresh LABEL [lab up args]: a new lab, its Ansible inventory, its secrets in the environment.
lab_fresh() {
  local label=$1; shift
  lab_down
  wait_until 60 "the previous lab's links to disappear" no_lab_links || return 1
  timed lab-up lab "$label" 0 plain -- "$BIN/lab" up "$@"
  if [ "$LAST_RC" != 0 ]; then
    note "lab up $* failed (exit $LAST_RC): $(tail -n 3 "$LAST_LOG.err" | tr '\n' ' ')"
    return 1
  fi
  LAB_UP=1
  # shellcheck disable=SC1091
  . "$LABDIR/secrets.env"
  python3 "$BENCH/ansible/inventory.py" "$LABDIR" "$VERSION" > "$WORK/ansible/inventory.yml"
}

# ---- the default lab: 2 nodes, the Pi, the NAS ------------------------------------------------
ssh_lab() { ssh -F "$LABDIR/ssh_config" -o BatchMode=yes -o ControlPath=none "$@" 9>&-; }
AUTO_USER=homelab
# Hosts of the default lab our phases touch (nodes at link0, the Pi), from the inventory.
# lab_hosts [nodes|pi]: addresses (nodes at link0, then the Pi) from the lab inventory.
lab_hosts() {
  python3 -c 'import sys,tomllib
i = tomllib.load(open(sys.argv[1], "rb")); w = sys.argv[2]
n = [x["link0"] for x in i["nodes"]] if w in ("all", "nodes") else []
p = [i["qdevice"]["address"]] if i.get("qdevice") and w in ("all", "pi") else []
print(" ".join(n + p))' "$LABDIR/homelab.toml" "${1:-all}"
}

# The floor: one batched `sudo -n sh -s` probe per host, all hosts at once (lib/floor.sh, the
# baseline's par.sh), and one bare connection to the first host. Variants: the nodes only (what
# bootstrap-node and configure-storage touch), the Pi only (bootstrap-qdevice), and all hosts
# with curve25519-sha256, the key exchange libssh2 (our tools) negotiates; OpenSSH's default
# sntrup761x25519 costs ~90 ms more CPU per connection (ansible-baseline.md).
floor_sample() {
  local scenario=$1 i=$2 hosts nodes pi
  hosts=$(lab_hosts)
  nodes=$(lab_hosts nodes)
  pi=$(lab_hosts pi)
  floor_run "$scenario" probe-parallel "$i" "" $hosts
  [ "$scenario" = check ] || [ "$scenario" = noop ] || return 0
  floor_run "$scenario" probe-parallel-curve25519 "$i" "-o KexAlgorithms=curve25519-sha256" $hosts
  floor_run "$scenario" probe-nodes "$i" "" $nodes
  [ -n "$pi" ] && floor_run "$scenario" probe-pi "$i" "" $pi
  timed "$scenario" ssh connect "$i" plain -- \
    ssh -F "$LABDIR/ssh_config" -o BatchMode=yes -o ControlPath=none -l "$AUTO_USER" "${hosts%% *}" true
}
floor_run() {
  local scenario=$1 what=$2 i=$3 opts=$4
  shift 4
  timed "$scenario" ssh "$what" "$i" plain "{\"hosts\": $#}" -- \
    env FLOOR_SSH_OPTS="$opts" sh "$BENCH/lib/floor.sh" "$LABDIR/ssh_config" "$AUTO_USER" "$BENCH/probe.sh" "$@"
  [ "$LAST_RC" = 0 ] || note "$scenario: the floor probe ($what) failed on some host (logs/${LAST_LOG##*/}.err)"
}

votes() { ssh_lab -l "$AUTO_USER" "$(lab_hosts | awk '{print $1}')" 'sudo -n pvecm status' 2>/dev/null | awk '/Total votes:/ {print $3}'; }
CS_ARGS=(--create-test-guest)

# One converge from a fresh lab. Ours: bootstrap-node, bootstrap-qdevice, form-cluster,
# configure-storage. Ansible: its bootstrap-node and bootstrap-qdevice plays (first contact as
# root), our form-cluster (no Ansible equivalent is in scope), its configure-storage plays.
converge_sample() {
  local tool=$1 i=$2
  lab_fresh "converge-$tool" || return 0
  if [ "$tool" = ours ]; then
    usable bootstrap-node && timed converge ours bootstrap-node "$i" ours -- ours bootstrap-node
    usable bootstrap-qdevice && timed converge ours bootstrap-qdevice "$i" ours -- ours bootstrap-qdevice
  else
    timed converge ansible bootstrap-node "$i" ansible -- play bootstrap-node -e "@$BENCH/ansible/first-contact.yml"
    timed converge ansible bootstrap-qdevice "$i" ansible -- play bootstrap-qdevice -e "@$BENCH/ansible/first-contact.yml"
    close_masters
  fi
  usable form-cluster || return 0
  timed "form-cluster-$tool" ours form-cluster "$i" ours "{\"bootstrapped_by\": \"$tool\"}" -- ours form-cluster
  local v; v=$(votes || true)
  printf '{"scenario":"form-cluster-votes","tool":"ours","phase":"form-cluster","sample":%s,"bootstrapped_by":"%s","votes":"%s"}\n' "$i" "$tool" "$v" >> "$SAMPLES"
  [ "$v" = 3 ] || note "converge #$i ($tool): after form-cluster pvecm status shows ${v:-no} total votes, not 3"
  if [ "$tool" = ours ]; then
    usable configure-storage && timed converge ours configure-storage "$i" ours -- ours configure-storage "${CS_ARGS[@]}"
  else
    timed converge ansible configure-storage "$i" ansible -- play configure-storage
  fi
  return 0
}

# Does the other tool see this lab as converged? (The playbooks mirror our desired state.)
mirror_check() {
  local by=$1 i=$2 p
  if [ "$by" = ansible ]; then
    for p in bootstrap-node bootstrap-qdevice configure-storage; do
      usable "$p" && timed mirror "ours-after-ansible" "$p" "$i" ours -- ours "$p" --check $([ "$p" = configure-storage ] && echo "${CS_ARGS[@]}")
    done
  else
    for p in bootstrap-node bootstrap-qdevice configure-storage; do
      timed mirror "ansible-after-ours" "$p" "$i" ansible -- play "$p" --check --diff
    done
  fi
}

noop_sample() {
  local tool=$1 i=$2 p
  for p in bootstrap-node bootstrap-qdevice configure-storage; do
    if [ "$tool" = ours ]; then
      usable "$p" && timed noop ours "$p" "$i" ours -- ours "$p" $([ "$p" = configure-storage ] && echo "${CS_ARGS[@]}")
    else
      timed noop ansible "$p" "$i" ansible -- play "$p"
    fi
  done
}

check_sample() {
  local tool=$1 i=$2 p
  for p in bootstrap-node bootstrap-qdevice configure-storage; do
    if [ "$tool" = ours ]; then
      usable "$p" && timed check ours "$p" "$i" ours -- ours "$p" --check $([ "$p" = configure-storage ] && echo "${CS_ARGS[@]}")
    else
      timed check ansible "$p" "$i" ansible -- play "$p" --check --diff
    fi
  done
  if [ "$tool" = ours ]; then
    usable drift-check && timed drift ours drift-check "$i" ours -- ours drift-check
  else
    timed drift ansible site "$i" ansible -- play site --check --diff
  fi
}

TOOLS=(ours); [ "$ANSIBLE_OK" = 1 ] && TOOLS+=(ansible)

if ! skipped converge; then
  for i in $(seq 1 "$RUNS"); do
    for tool in "${TOOLS[@]}"; do
      say "converge from fresh #$i: $tool"
      converge_sample "$tool" "$i"
      # once, on a lab converged by ours: does the Ansible mirror see it as converged?
      [ "$i" = 1 ] && [ "$tool" = ours ] && [ "$ANSIBLE_OK" = 1 ] && [ "$LAB_UP" = 1 ] && mirror_check ours 1
    done
  done
fi

# The lab is converged now (by the last converge, or by one here); no-op and check alternate on it.
if ! skipped noop || ! skipped check; then
  if [ "$LAB_UP" != 1 ]; then converge_sample "${TOOLS[-1]}" 0; fi
  [ "$ANSIBLE_OK" = 1 ] && [ "${TOOLS[-1]}" = ansible ] && mirror_check ansible 1
  if ! skipped noop; then
    for i in $(seq 1 "$RUNS"); do
      say "no-op re-run #$i"
      floor_sample noop "$i"
      for tool in "${TOOLS[@]}"; do noop_sample "$tool" "$i"; done
    done
  fi
  if ! skipped check; then
    # Peak RSS of pve-sim (our simulator behind pvesh/pvesm/pvesr in the hosts), measured inside
    # the master on the biggest read configure-storage makes.
    master=$(lab_hosts | awk '{print $1}')
    rss=$(ssh_lab -l "$AUTO_USER" "$master" 'sudo -n /usr/bin/time -f %M pvesh get /cluster/replication --output-format json 2>&1 >/dev/null | tail -n 1' 2>/dev/null | tr -cd 0-9)
    [ -n "$rss" ] && printf '{"scenario":"rss","tool":"ours","phase":"pve-sim","sample":1,"seconds":0,"rc":0,"rss_kb":%s}\n' "$rss" >> "$SAMPLES"
    for i in $(seq 1 "$RUNS"); do
      say "check mode #$i"
      floor_sample check "$i"
      for tool in "${TOOLS[@]}"; do check_sample "$tool" "$i"; done
    done
  fi
fi

# ---- drift-check scaling: 3, 8, 16, 32 nodes (no Pi, no NAS) ------------------------------------------
if ! skipped scaling; then
  SIZES=$([ "$QUICK" = 1 ] && echo 3 || echo "3 8 16 32")
  for n in $SIZES; do
    say "scaling: $n nodes"
    # No Pi, no NAS (from 15 nodes on a node would take the NAS's address): the same shape at every size.
    lab_fresh "scaling-$n" --nodes "$n" --no-qdevice --no-nas || { note "scaling $n: no lab, figures pending"; continue; }
    usable bootstrap-node || { note "scaling: bootstrap-node not usable"; break; }
    timed "scaling-$n" ours bootstrap-node-converge 0 ours "{\"nodes\": $n}" -- ours bootstrap-node
    [ "$LAST_RC" = 0 ] || note "scaling $n: bootstrap-node failed (exit $LAST_RC), the checks below are on a partly bootstrapped lab"
    for i in $(seq 1 "$RUNS"); do
      floor_sample "scaling-$n" "$i"
      timed "scaling-$n" ours bootstrap-node-check "$i" ours "{\"nodes\": $n}" -- ours bootstrap-node --check
      usable drift-check && timed "scaling-$n" ours drift-check "$i" ours "{\"nodes\": $n}" -- ours drift-check
    done
  done
fi

lab_down
note "load average when the lab work ended: $(cut -d' ' -f1-3 /proc/loadavg)"
say "lab work done in $(( ($(date +%s%N) - LOCK_NS) / 1000000000 )) s; lab lock released at exit"

# ---- summary -------------------------------------------------------------------------------
set +e
python3 "$BENCH/lib/summarize.py" "$RESULTS" --runs "$RUNS" $([ "$QUICK" = 1 ] && echo --quick) \
  --versions "$(printf 'ours=%s ansible-core=%s' "$VERSION" "$([ "$ANSIBLE_OK" = 1 ] && echo "$ANSIBLE_VERSION" || echo none)")" \
  --total-seconds "$(( ($(date +%s%N) - START_NS) / 1000000000 ))"
rc=$?
set -e
say "results: $RESULTS/summary.md"
case $rc in
  0) ;;
  3) die "some commands failed or a no-op changed something (\"Irregular samples\" in $RESULTS/summary.md)" ;;
  *) die "summarising failed (exit $rc)" ;;
esac
