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
  [ "${1:-}" = "--locked" ] || exec flock /tmp/homelab-lab.lock "$0" secrets --lab --locked
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

interrupt() {
  need_root "interrupt"
  die "interrupt: not implemented yet (phase 2 of issue 11; see RELIABILITY.md)"
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
