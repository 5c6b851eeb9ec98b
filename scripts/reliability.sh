#!/usr/bin/env bash
# Reliability and security suite (issue 11; results and figures in RELIABILITY.md).
#
#   scripts/reliability.sh hostile             # hostile inventories/answers, answer server, fuzz regressions
#   scripts/reliability.sh fuzz [--seconds N]  # every fuzz target N s (default 30); scripts/fuzz.sh
#   scripts/reliability.sh secrets             # leak harness without the lab (validate/check/apply/error paths)
#   scripts/reliability.sh secrets --lab       # the full runbook on a fresh lab with known secrets:
#                                              # output, /proc/*/cmdline of every lab host, host files
#   scripts/reliability.sh interrupt PHASE [--points N] [--seed S] [--no-build]
#                                              # SIGKILL a phase at N seeded points on the lab, re-run,
#                                              # converge, zero changes after (needs the lab; root)
#   scripts/reliability.sh fault SCENARIO [--no-build]
#                                              # a lab fault injected during a phase run, healed, re-run
#                                              # (join-link0-down, join-node-stopped, qnetd-stopped,
#                                              # master-stopped, nfs-unreachable)
#   scripts/reliability.sh all [--lab]         # hostile + fuzz + secrets (+ the lab scenarios)
#
# Lab subcommands hold /tmp/homelab-lab.lock for their whole run and take their lab down.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"

say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
die() { echo "reliability: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" -eq 0 ] || die "$1 needs root (the lab uses network namespaces)"; }

hostile() {
  say "hostile inputs: inventories, answer files, answer server, fuzz regressions"
  cargo test -p common --test hostile_inventory --test hostile_fuzz_regressions
  cargo test -p provision-iso --test hostile_answers --test hostile_serve --test hostile_fuzz_regressions
}

secrets_local() {
  say "secrets: every binary's paths with canary secrets (no lab)"
  cargo build --workspace --bins
  cargo test -p provision-iso --test hostile_secrets -- --nocapture
}

# The perl sampler: every /proc/*/cmdline (all lab hosts' processes are visible from the root
# pid namespace), as fast as it can, until $3 exists; the secret values come from the lab's
# secrets.env ($1) once it appears. Writes "samples N" and one line per hit to $2.
sampler() {
  perl -e '
    use strict; my ($envf, $out, $stop) = @ARGV; my @pats; my %hits; my $n = 0;
    while (! -e $stop) {
      if (!@pats && -e $envf && open(my $f, "<", $envf)) {
        while (<$f>) { chomp; if (/^export (\w+)=(.*)$/) { my ($k, $v) = ($1, $2); $v =~ s/^\x27(.*)\x27$/$1/; push @pats, [$k, $v] if length($v) >= 4 } }
        close $f;
      }
      unless (@pats) { select(undef, undef, undef, 0.05); next }
      opendir(my $d, "/proc") or die; my @pids = grep { /^\d+$/ && $_ != $$ } readdir $d; closedir $d;
      for my $p (@pids) {
        open(my $c, "<", "/proc/$p/cmdline") or next; local $/; my $cmd = <$c>; close $c;
        next unless defined $cmd; $cmd =~ tr/\0/ /;
        for my $x (@pats) { my $v = $x->[1]; if (index($cmd, $v) >= 0) { (my $r = $cmd) =~ s/\Q$v\E/<SECRET>/g; $hits{"$x->[0] in the argv of pid $p: $r"} = 1 } }
      }
      $n++;
    }
    open(my $o, ">", $out) or die; print $o "samples $n\n"; print $o "$_\n" for sort keys %hits; close $o;
  ' "$@"
}

secrets_lab() {
  need_root "secrets --lab"
  [ "${1:-}" = "--locked" ] || exec flock /tmp/homelab-lab.lock "$ROOT/scripts/reliability.sh" secrets --lab --locked
  say "secrets --lab: the full runbook twice with known secrets, every process's argv sampled"
  cargo build --workspace --bins
  local work; work=$(mktemp -d /tmp/homelab-rel-secrets.XXXXXX)
  export HOMELAB_LAB_DIR="$work/lab"
  local stop="$work/stop" hits="$work/cmdline-hits"
  sampler "$HOMELAB_LAB_DIR/secrets.env" "$hits" "$stop" &
  local sampler_pid=$!
  local rc=0
  for run in 1 2; do
    RUST_LOG=trace HOMELAB_LAB_LOCK_HELD=1 scripts/runbook.sh --lab $([ $run = 2 ] && echo --from bootstrap-node) -vv >"$work/runbook-$run.log" 2>&1 || rc=$?
    [ $rc -eq 0 ] || { echo "runbook run $run failed (exit $rc), log: $work/runbook-$run.log" >&2; break; }
  done
  touch "$stop"; wait "$sampler_pid" || true
  local leaks=0
  # Values, read from the lab's own secrets.env (random per lab).
  mapfile -t values < <(sed -n 's/^export [A-Z_]*=//p' "$HOMELAB_LAB_DIR/secrets.env" | sed "s/^'\(.*\)'\$/\1/")
  [ ${#values[@]} -ge 2 ] || die "no secrets in $HOMELAB_LAB_DIR/secrets.env"
  printf '%s\n' "${values[@]}" >"$work/patterns"
  echo "argv samples: $(head -1 "$hits")" >&2
  if [ "$(wc -l <"$hits")" -gt 1 ]; then tail -n +2 "$hits" >&2; leaks=$((leaks + $(tail -n +2 "$hits" | wc -l))); fi
  for f in "$work"/runbook-*.log; do
    if grep -qF -f "$work/patterns" "$f"; then echo "LEAK: a secret in the output ($f)" >&2; leaks=$((leaks + 1)); fi
  done
  # Every file the hosts changed (overlay uppers), the shared backplane, and the lab dir
  # (except secrets.env, which holds them by design).
  local found
  found=$(grep -rlF -f "$work/patterns" /run/homelab-lab/hosts/*/upper /run/homelab-lab/backplane "$HOMELAB_LAB_DIR" 2>/dev/null | grep -v "/secrets.env$" || true)
  if [ -n "$found" ]; then echo "LEAK: secrets in files:" >&2; echo "$found" >&2; leaks=$((leaks + $(echo "$found" | wc -l))); fi
  "$BIN/lab" down >/dev/null 2>&1 || true
  echo "secrets --lab: runbook exit $rc, $leaks leak(s); logs in $work" >&2
  [ $rc -eq 0 ] && [ $leaks -eq 0 ]
}

# ---------------------------------------------------------------------------------------------
# interrupt PHASE: SIGKILL the phase at its k-th remote command, for N seeded k, then re-run.
#
# The phase runs with -vv, which announces every remote command before sending it. The
# reference run from the phase's starting state counts them (M). Kill point i of N is a k drawn
# (seeded) from the i-th slice of 1..M, so the points spread over every step; the tool is
# killed the moment it announces its k-th remote command (so the command is cut while being
# sent or just started, or never arrives). For each point: reset
# the lab to the starting state, run and kill, then check that nothing is half-written
# (visudo -c and sshd -t on every host, no temporary files left beside managed files), re-run
# (must exit 0), run with --check (must report zero changes), check the hosts again and, after
# form-cluster, that the Pi's root window is closed.
#
# Starting states: bootstrap-node — freshly installed nodes (`lab fault wipe`);
# bootstrap-qdevice — a fresh Pi (wiped; its pins forgotten); form-cluster — bootstrapped nodes
# and Pi, no cluster; configure-storage — a formed cluster (both: a fresh lab + earlier phases).
# ---------------------------------------------------------------------------------------------
PHASE_ORDER=(bootstrap-node bootstrap-qdevice form-cluster configure-storage)
PI=qdevice1
WINDOW_MARKER=/var/lib/homelab-iac/qdevice-root-window

lab() { "$BIN/lab" "$@"; }

# The tool's own debug log announces every remote command before it is sent
# ("[DEBUG common::ssh::session] HOST: exec FIRST-LINE", -vv): counting those lines gives the
# same numbering in every run, unlike watching processes appear in the lab hosts (short ones are
# missed). EXEC_LINE matches them.
EXEC_LINE='^\[DEBUG common::ssh::session\] \S+: exec '

# run_killing_at K LOG CMD...: run CMD with stdout+stderr to LOG; with K > 0, SIGKILL it the
# moment it announces its K-th remote command. Exits with CMD's status (137 when killed).
run_killing_at() { run_acting_at "$1" "$EXEC_LINE" "" "${@:2}"; }

# run_acting_at K REGEX ACTION LOG CMD...: like run_killing_at, but counts only announced remote
# commands that also match REGEX, and on the K-th runs the shell command ACTION (the fault)
# instead of killing CMD ("" = kill). The tool keeps running; its status is returned.
run_acting_at() {
  perl -e '
    use strict; my ($k, $re, $also, $action, $log, @cmd) = @ARGV;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork() // die "fork: $!";
    if (!$pid) { close $r; open(STDOUT, ">&", $w); open(STDERR, ">&", $w); exec(@cmd) or die "exec $cmd[0]: $!" }
    close $w; open(my $o, ">", $log) or die "$log: $!"; select((select($o), $| = 1)[0]);
    my $n = 0; my $done = 0;
    while (my $line = <$r>) {
      print $o $line;
      next if $done || $k <= 0 || $line !~ /$re/ || $line !~ /$also/;
      next if ++$n < $k;
      $done = 1;
      if ($action eq "") { kill("KILL", $pid); print $o "### SIGKILL at remote command $n: $line" }
      else { print $o "### FAULT ($action) at: $line"; system("sh", "-c", $action) == 0 or print $o "### the fault command failed\n" }
    }
    waitpid($pid, 0); my $st = $?;
    exit(($st & 127) ? 128 + ($st & 127) : $st >> 8);
  ' "$1" "$EXEC_LINE" "${2:-.}" "$3" "$4" "${@:5}"
}

# The options a phase needs on the lab (as scripts/runbook.sh --lab passes them): the lab has no
# guests, so configure-storage creates the inventory's replication test guest.
phase_args() {
  case "$1" in
    configure-storage) echo --create-test-guest ;;
  esac
}

# Run a phase to completion on the lab; log to $2; its exit code.
phase_run() {
  local phase=$1 log=$2; shift 2
  local rc=0
  # shellcheck disable=SC2046 # phase_args prints whole words
  "$BIN/$phase" -i "$INV" -v $(phase_args "$phase") "$@" >"$log" 2>&1 || rc=$?
  return $rc
}

# Forget the Pi's pins (a wiped Pi has new keys; its first contact is accept-new again).
forget_pi_pins() {
  local kh="$HOMELAB_LAB_DIR/known_hosts"
  [ -f "$kh" ] || return 0
  grep -v -E "(^|,)(${PI}|${PI}\.[^ ,]*|10\.231\.10\.5|10\.231\.1\.5)(,| )" "$kh" >"$kh.new" || true
  mv "$kh.new" "$kh"
}

# A fresh lab, then every phase before $1.
fresh_lab_before() {
  local phase=$1
  lab down >/dev/null 2>&1 || true
  lab up >"$WORK/lab-up.log" 2>&1 || die "lab up failed ($WORK/lab-up.log)"
  set -a; . "$HOMELAB_LAB_DIR/secrets.env"; set +a
  for p in "${PHASE_ORDER[@]}"; do
    [ "$p" = "$phase" ] && break
    phase_run "$p" "$WORK/setup-$p.log" || die "setup for $phase: $p failed (log $WORK/setup-$p.log)"
  done
}

# Bring the lab to the starting state of $1: reinstall (`lab fault wipe`) the hosts the phase
# works on when nothing else depends on them; a fresh lab when cluster state is involved
# (the simulated /etc/pve is shared between the nodes).
reset_to() {
  case "$1" in
    bootstrap-node) for h in pve-node1 pve-node2; do lab fault wipe "$h" >/dev/null; done ;;
    bootstrap-qdevice) lab fault wipe "$PI" >/dev/null; forget_pi_pins ;;
    *) fresh_lab_before "$1" ;;
  esac
}

# Nothing half-written: sudoers (once sudo is installed) and sshd configs valid on every host,
# no temp files of the atomic upload (`.NAME.hiac.XXXXXX`) left where sudo/sshd read.
check_hosts_whole() {
  local h out
  for h in pve-node1 pve-node2 "$PI"; do
    out=$(lab exec "$h" -- sh -c 'PATH=/usr/sbin:/usr/bin:/sbin:/bin; ! command -v visudo >/dev/null || visudo -c' 2>&1) \
      || echo "  $h: visudo -c failed: $(echo "$out" | tail -3)"
    out=$(lab exec "$h" -- sh -c 'PATH=/usr/sbin:/usr/bin:/sbin:/bin; sshd -t' 2>&1) || echo "  $h: sshd -t failed: $out"
    out=$(lab exec "$h" -- sh -c 'ls -A /etc/sudoers.d /etc/ssh/sshd_config.d /root/.ssh /home/*/.ssh 2>/dev/null | grep -E "\.hiac\.[A-Za-z0-9]{6}$" || true')
    [ -z "$out" ] || echo "  $h: temp files of an interrupted upload left behind (ignored by sudo/sshd): $out"
  done
}

# begin_lab_scenario KIND PHASE BUILD LOCKED MESSAGE WORDS...: the start `interrupt` and `fault`
# share. Re-exec as `reliability.sh WORDS... --locked` under the lab lock (unless LOCKED), then
# build (unless BUILD=0), make $WORK, and bring a lab to PHASE's starting state.
begin_lab_scenario() {
  local kind=$1 phase=$2 build=$3 locked=$4 message=$5; shift 5
  if [ "$locked" != 1 ]; then
    local again=("$@" --locked); [ "$build" = 1 ] || again+=(--no-build)
    exec flock /tmp/homelab-lab.lock "$ROOT/scripts/reliability.sh" "${again[@]}"
  fi
  say "$message"
  [ "$build" = 0 ] || cargo build --workspace --bins --quiet
  [ -x "$BIN/$phase" ] || die "$BIN/$phase is missing: run cargo build --workspace"
  WORK=$(mktemp -d "/tmp/homelab-rel-$kind.XXXXXX")
  export HOMELAB_LAB_DIR="$WORK/lab"
  INV="$HOMELAB_LAB_DIR/homelab.toml"
  trap '"$BIN/lab" down >/dev/null 2>&1 || true' EXIT
  fresh_lab_before "$phase"
}

pi_window_closed() {
  lab exec "$PI" -- sh -c "PATH=/usr/sbin:/usr/bin:/sbin:/bin; test ! -e $WINDOW_MARKER && sshd -T 2>/dev/null | grep -qix 'permitrootlogin no'"
}

interrupt() {
  need_root "interrupt"
  local phase="" points=20 seed=1 locked=0 build=1
  while [ $# -gt 0 ]; do
    case "$1" in
      --points) points=${2:?--points needs a number}; shift ;;
      --seed) seed=${2:?--seed needs a number}; shift ;;
      --locked) locked=1 ;;
      --no-build) build=0 ;;
      -*) die "interrupt: unknown option $1" ;;
      *) phase=$1 ;;
    esac
    shift
  done
  case " ${PHASE_ORDER[*]} " in *" $phase "*) ;; *) die "interrupt PHASE: one of ${PHASE_ORDER[*]}" ;; esac
  begin_lab_scenario interrupt "$phase" "$build" "$locked" "interrupt $phase: $points seeded kill points (seed $seed)" \
    interrupt "$phase" --points "$points" --seed "$seed"

  # Reference run: how many remote commands, and which.
  local rc=0
  # shellcheck disable=SC2046
  run_killing_at 0 "$WORK/reference.log" "$BIN/$phase" -i "$INV" -vv $(phase_args "$phase") || rc=$?
  [ $rc -eq 0 ] || die "reference run of $phase failed (exit $rc, $WORK/reference.log)"
  local M; M=$(grep -cP "$EXEC_LINE" "$WORK/reference.log" || true)
  [ "$M" -ge 1 ] || die "the reference run announced no remote command ($WORK/reference.log)"
  echo "reference run: $M remote commands ($WORK/reference.log)" >&2

  RANDOM=$seed
  local i killed=0 finished=0 failures=0 results=()
  for ((i = 0; i < points; i++)); do
    local k
    k=$(awk -v M="$M" -v i="$i" -v n="$points" -v r="$RANDOM" 'BEGIN { lo = 1 + (M - 1) * i / n; hi = 1 + (M - 1) * (i + 1) / n; k = int(lo + (hi - lo) * r / 32768 + 0.5); if (k < 1) k = 1; if (k > M) k = M; print k }')
    reset_to "$phase"
    local log="$WORK/point-$i.log" at verdict=ok problems=""
    rc=0
    # shellcheck disable=SC2046
    run_killing_at "$k" "$log" "$BIN/$phase" -i "$INV" -vv $(phase_args "$phase") || rc=$?
    if [ $rc -eq 137 ]; then
      killed=$((killed + 1))
      at="killed at remote command $k/$M: $(grep '^### SIGKILL' "$log" | sed 's/^[^]]*\] //' | cut -c1-90)"
    else
      finished=$((finished + 1))
      at="finished (exit $rc) after $(grep -cP "$EXEC_LINE" "$log") remote commands, before command $k"
    fi
    problems+=$(check_hosts_whole)
    phase_run "$phase" "$WORK/point-$i-rerun.log" || problems+=$'\n'"  re-run failed (log $WORK/point-$i-rerun.log)"
    local crc=0
    phase_run "$phase" "$WORK/point-$i-check.log" --check || crc=$?
    [ $crc -eq 0 ] || problems+=$'\n'"  the run after the re-run reports changes or fails (exit $crc, log $WORK/point-$i-check.log)"
    problems+=$(check_hosts_whole)
    if [ "$phase" = form-cluster ] && ! pi_window_closed; then
      problems+=$'\n'"  the Pi's root window is open after the re-run"
    fi
    if [ -n "${problems//[$'\n ']/}" ]; then verdict="FAILED"; failures=$((failures + 1)); fi
    results+=("$(printf '%3d  %-6s  %s' "$i" "$verdict" "$at")")
    printf '%s\n' "${results[-1]}" >&2
    if [ "$verdict" != ok ]; then results+=("$problems"); printf '%s\n' "$problems" >&2; fi
  done
  echo >&2
  printf '%s\n' "${results[@]}" >"$WORK/summary.txt"
  echo "interrupt $phase: $points points (seed $seed, $M remote commands in the reference run): $killed killed mid-run, $finished finished first, $failures failed; logs in $WORK" | tee -a "$WORK/summary.txt" >&2
  [ $failures -eq 0 ]
}

# ---------------------------------------------------------------------------------------------
# fault SCENARIO: an infrastructure fault injected *during* a phase run (issue 11 §2), the
# moment the tool announces the step named below; then the fault is healed and the phase must
# converge: re-run exits 0, a --check run after it reports zero changes, hosts whole.
# The faulted run itself may succeed (the step rode it out) or fail; a failure must exit 1 and
# name the host in its error. Scenarios (phase: step that triggers → fault → heal):
#   join-link0-down   form-cluster: `pvecm add` → pve-node2's link0 down → link0 up
#   join-node-stopped form-cluster: `pvecm add` → pve-node2 stopped → started
#   qnetd-stopped     form-cluster: `pvecm qdevice setup` → qnetd stopped on the Pi → started
#   master-stopped    configure-storage: first `pvesm add` → pve-node1 stopped → started
#   nfs-unreachable   configure-storage: first `pvesm add` → the NAS stopped → started
# ---------------------------------------------------------------------------------------------
FAULT_SCENARIOS=(join-link0-down join-node-stopped qnetd-stopped master-stopped nfs-unreachable)

# wait_for WHAT SECONDS CMD...: poll CMD until it succeeds, with a deadline and progress.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "  gave up waiting for $what after ${secs}s" >&2; return 1; }
    sleep 0.5 # polling interval of a bounded wait, not a fixed delay
  done
}

quorate() { lab exec pve-node1 -- pvecm status 2>/dev/null | grep 'Quorate:[[:space:]]*Yes' >/dev/null; }
three_votes() { lab exec pve-node1 -- pvecm status 2>/dev/null | grep 'Total votes:[[:space:]]*3$' >/dev/null; }
nas_answers() { quorate && lab exec pve-node1 -- pvesm scan nfs 10.231.1.25 2>/dev/null | grep /volume1 >/dev/null; }

fault() {
  need_root "fault"
  local scenario="" locked=0 build=1
  while [ $# -gt 0 ]; do
    case "$1" in
      --locked) locked=1 ;;
      --no-build) build=0 ;;
      -*) die "fault: unknown option $1" ;;
      *) scenario=$1 ;;
    esac
    shift
  done
  # trigger: a regex on the announced remote command; settle: what "healed" means before the
  # re-run (an admin waits for the cluster to recover from the fault, then re-runs).
  local phase trigger act heal settle=quorate
  local storage_step="pve-node1: exec sudo -n -- sh -c 'set -e" # the first storage (pvesm add) script
  case "$scenario" in
    join-link0-down) phase=form-cluster trigger='pvecm add' act="$BIN/lab fault link-down pve-node2 link0" heal="$BIN/lab fault link-up pve-node2 link0" ;;
    join-node-stopped) phase=form-cluster trigger='pvecm add' act="$BIN/lab fault stop pve-node2" heal="$BIN/lab fault start pve-node2" ;;
    qnetd-stopped) phase=form-cluster trigger='pvecm qdevice setup' act="$BIN/lab exec $PI -- systemctl stop corosync-qnetd" heal="$BIN/lab exec $PI -- systemctl start corosync-qnetd" settle=three_votes ;;
    master-stopped) phase=configure-storage trigger=$storage_step act="$BIN/lab fault stop pve-node1" heal="$BIN/lab fault start pve-node1" settle=three_votes ;;
    nfs-unreachable) phase=configure-storage trigger=$storage_step act="$BIN/lab fault stop nas" heal="$BIN/lab fault start nas" settle=nas_answers ;;
    *) die "fault SCENARIO: one of ${FAULT_SCENARIOS[*]}" ;;
  esac
  begin_lab_scenario fault "$phase" "$build" "$locked" "fault $scenario: $phase, at \`$trigger\`: $act" fault "$scenario"

  local rc=0 problems="" outcome
  # shellcheck disable=SC2046
  # (bounded: a tool that hangs on the fault is a finding, not a stuck suite)
  run_acting_at 1 "$trigger" "$act" "$WORK/faulted.log" timeout 600 "$BIN/$phase" -i "$INV" -vv $(phase_args "$phase") || rc=$?
  grep -q '^### FAULT' "$WORK/faulted.log" || problems+=$'\n'"  the trigger \`$trigger\` was never announced: no fault injected"
  case $rc in
    0) outcome="the faulted run succeeded (rode the fault out)" ;;
    1) outcome="the faulted run failed cleanly (exit 1): $(grep -E 'FAILED|error' "$WORK/faulted.log" | grep -v '^\[' | head -1 | cut -c1-150)"
       # (no `| grep -q`: under pipefail its early exit makes the first grep fail with SIGPIPE)
       grep -v '^\[' "$WORK/faulted.log" | grep -E 'pve-node[0-9]|qdevice1|nas' >/dev/null \
         || problems+=$'\n'"  the failure does not name a host" ;;
    124) outcome="the faulted run hung (killed after 600 s)"; problems+=$'\n'"  the tool hung on the fault" ;;
    *) outcome="the faulted run ended with exit $rc"; problems+=$'\n'"  exit $rc is neither success nor a clean failure (1)" ;;
  esac
  echo "  $outcome" >&2
  sh -c "$heal" >"$WORK/heal.log" 2>&1 || problems+=$'\n'"  healing failed ($WORK/heal.log)"
  wait_for "$settle after healing" 120 "$settle" || problems+=$'\n'"  not settled ($settle) 120 s after healing"
  problems+=$(check_hosts_whole)
  phase_run "$phase" "$WORK/rerun.log" || problems+=$'\n'"  re-run after healing failed (log $WORK/rerun.log)"
  local crc=0
  phase_run "$phase" "$WORK/check.log" --check || crc=$?
  [ $crc -eq 0 ] || problems+=$'\n'"  the run after the re-run reports changes or fails (exit $crc, log $WORK/check.log)"
  problems+=$(check_hosts_whole)
  if [ "$phase" = form-cluster ] && ! pi_window_closed; then problems+=$'\n'"  the Pi's root window is open after the re-run"; fi
  local verdict=held; [ -z "${problems//[$'\n ']/}" ] || verdict=FAILED
  echo "fault $scenario: $verdict — $outcome; healed, re-run converged$([ $verdict = held ] || echo ' NOT'); logs in $WORK$problems" | tee "$WORK/summary.txt" >&2
  [ $verdict = held ]
}

cmd=${1:-}; shift || true
case "$cmd" in
  hostile) hostile ;;
  fuzz) exec scripts/fuzz.sh "$@" ;;
  secrets)
    if [ "${1:-}" = "--lab" ]; then shift; secrets_lab "$@"; else secrets_local; fi ;;
  interrupt) interrupt "$@" ;;
  fault) fault "$@" ;;
  all)
    hostile; scripts/fuzz.sh; secrets_local
    if [ "${1:-}" = "--lab" ]; then
      "$0" secrets --lab
      for p in bootstrap-node bootstrap-qdevice form-cluster configure-storage; do "$0" interrupt "$p" --points 20; done
      for f in "${FAULT_SCENARIOS[@]}"; do "$0" fault "$f"; done
    fi ;;
  -h|--help|"") sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown subcommand '$cmd' (hostile, fuzz, secrets, interrupt, fault, all)" ;;
esac
