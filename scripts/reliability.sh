#!/usr/bin/env bash
# Reliability and security suite (issue 11; results and figures in RELIABILITY.md).
#
#   scripts/reliability.sh hostile             # hostile inventories/answers, answer server, fuzz regressions
#   scripts/reliability.sh fuzz [--seconds N]  # every fuzz target N s (default 30); scripts/fuzz.sh
#   scripts/reliability.sh secrets             # leak harness without the lab (validate/check/apply/error paths)
#   scripts/reliability.sh secrets --lab       # the full runbook on a fresh lab with known secrets:
#                                              # output, /proc/*/cmdline of every lab host, host files
#   scripts/reliability.sh interrupt PHASE [--points N] [--seed S]
#                                              # SIGKILL a phase at N seeded points on the lab, re-run,
#                                              # converge, zero changes after (needs the lab; root)
#   scripts/reliability.sh all [--lab]         # hostile + fuzz + secrets (+ the lab scenarios)
#
# Lab subcommands hold /tmp/homelab-lab.lock for their whole run and take their lab down.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN="$ROOT/target/debug"

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
    RUST_LOG=trace scripts/runbook.sh --lab $([ $run = 2 ] && echo --from bootstrap-node) -vv >"$work/runbook-$run.log" 2>&1 || rc=$?
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
# A watcher sees every remote command as it starts: a process in a lab host (another network
# namespace, visible from here) whose parent is an sshd session (`sshd: USER@notty`). The
# reference run from the phase's starting state counts them (M) and lists them. Kill point i
# of N is a k drawn (seeded) from the i-th slice of 1..M, so the points spread over every step;
# the tool is killed the moment its k-th remote command is seen running. For each point: reset
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

# watch TOOL_PID K LOG: log every remote command the lab hosts start while TOOL_PID lives
# ("N<TAB>cmdline"); with K > 0, SIGKILL TOOL_PID when the K-th one is seen.
watch_remote_commands() {
  perl -e '
    use strict; my ($tool, $k, $out) = @ARGV; my $me = readlink("/proc/self/ns/net");
    my %seen; my $n = 0; my @log; my $killed = 0;
    sub slurp { my $f = shift; open(my $h, "<", $f) or return undef; local $/; my $c = <$h>; close $h; return $c }
    while (kill(0, $tool) && !$killed) {
      opendir(my $d, "/proc") or die; my @pids = grep { /^\d+$/ && !$seen{$_} } readdir $d; closedir $d;
      for my $p (@pids) {
        $seen{$p} = 1;
        my $ns = readlink("/proc/$p/ns/net"); next if !defined $ns || $ns eq $me;
        my $st = slurp("/proc/$p/stat") // next; my ($ppid) = $st =~ /\) \S+ (\d+)/ or next;
        my $pc = slurp("/proc/$ppid/cmdline") // next;
        next unless $pc =~ /^sshd(?:-session)?: \S+\@notty/;
        my $c = slurp("/proc/$p/cmdline") // ""; $c =~ tr/\0/ /; $c =~ s/\s+$//;
        $n++; push @log, "$n\t$c";
        if ($k > 0 && $n >= $k) { kill("KILL", $tool); $killed = 1; last }
      }
    }
    open(my $o, ">", $out) or die; print $o "$_\n" for @log; close $o;
  ' "$@"
}

# Run a phase to completion on the lab; log to $2; its exit code.
phase_run() {
  local phase=$1 log=$2; shift 2
  local rc=0
  "$BIN/$phase" -i "$INV" -v "$@" >"$log" 2>&1 || rc=$?
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

pi_window_closed() {
  lab exec "$PI" -- sh -c "PATH=/usr/sbin:/usr/bin:/sbin:/bin; test ! -e $WINDOW_MARKER && sshd -T 2>/dev/null | grep -qix 'permitrootlogin no'"
}

interrupt() {
  need_root "interrupt"
  local phase="" points=20 seed=1 locked=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --points) points=${2:?--points needs a number}; shift ;;
      --seed) seed=${2:?--seed needs a number}; shift ;;
      --locked) locked=1 ;;
      -*) die "interrupt: unknown option $1" ;;
      *) phase=$1 ;;
    esac
    shift
  done
  case " ${PHASE_ORDER[*]} " in *" $phase "*) ;; *) die "interrupt PHASE: one of ${PHASE_ORDER[*]}" ;; esac
  [ $locked = 1 ] || exec flock /tmp/homelab-lab.lock "$ROOT/scripts/reliability.sh" interrupt "$phase" --points "$points" --seed "$seed" --locked
  say "interrupt $phase: $points seeded kill points (seed $seed)"
  cargo build --workspace --bins --quiet
  WORK=$(mktemp -d /tmp/homelab-rel-interrupt.XXXXXX)
  export HOMELAB_LAB_DIR="$WORK/lab"
  INV="$HOMELAB_LAB_DIR/homelab.toml"
  trap '"$BIN/lab" down >/dev/null 2>&1 || true' EXIT
  fresh_lab_before "$phase"

  # Reference run: how many remote commands, and which.
  "$BIN/$phase" -i "$INV" -v >"$WORK/reference.log" 2>&1 &
  local pid=$! rc=0
  watch_remote_commands "$pid" 0 "$WORK/reference-commands.txt"
  wait "$pid" || rc=$?
  [ $rc -eq 0 ] || die "reference run of $phase failed (exit $rc, $WORK/reference.log)"
  local M; M=$(wc -l <"$WORK/reference-commands.txt")
  [ "$M" -ge 1 ] || die "the watcher saw no remote command in the reference run"
  echo "reference run: $M remote commands ($WORK/reference-commands.txt)" >&2

  RANDOM=$seed
  local i killed=0 finished=0 failures=0 results=()
  for ((i = 0; i < points; i++)); do
    local k
    k=$(awk -v M="$M" -v i="$i" -v n="$points" -v r="$RANDOM" 'BEGIN { lo = 1 + (M - 1) * i / n; hi = 1 + (M - 1) * (i + 1) / n; k = int(lo + (hi - lo) * r / 32768 + 0.5); if (k < 1) k = 1; if (k > M) k = M; print k }')
    reset_to "$phase"
    local log="$WORK/point-$i.log" cmds="$WORK/point-$i-commands.txt" at verdict=ok problems=""
    rc=0
    "$BIN/$phase" -i "$INV" -v >"$log" 2>&1 &
    pid=$!
    watch_remote_commands "$pid" "$k" "$cmds"
    wait "$pid" 2>/dev/null || rc=$?
    if [ $rc -eq 137 ]; then
      killed=$((killed + 1))
      at="killed at remote command $k/$M: $(tail -1 "$cmds" | cut -f2 | cut -c1-90)"
    else
      finished=$((finished + 1))
      at="finished (exit $rc) after $(wc -l <"$cmds") remote commands, before command $k"
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

cmd=${1:-}; shift || true
case "$cmd" in
  hostile) hostile ;;
  fuzz) exec scripts/fuzz.sh "$@" ;;
  secrets)
    if [ "${1:-}" = "--lab" ]; then shift; secrets_lab "$@"; else secrets_local; fi ;;
  interrupt) interrupt "$@" ;;
  all)
    hostile; scripts/fuzz.sh; secrets_local
    if [ "${1:-}" = "--lab" ]; then
      "$0" secrets --lab
      for p in bootstrap-node bootstrap-qdevice form-cluster configure-storage; do "$0" interrupt "$p" --points 20; done
    fi ;;
  -h|--help|"") sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown subcommand '$cmd' (hostile, fuzz, secrets, interrupt, all)" ;;
esac
