#!/usr/bin/env bash
# Fuzz every target in fuzz/ for a bounded time each; fail on any crash, hang or OOM.
#
#   scripts/fuzz.sh                      # every target, 30 s each
#   scripts/fuzz.sh --seconds 300        # longer
#   scripts/fuzz.sh inventory answer     # only these targets
#   scripts/fuzz.sh --list               # target names
#
# Targets (fuzz/src/*_checks.rs says what each one asserts): inventory, answer, webhook_keys,
# inventory_values, quorum, cfgtool, qdevice, pvesm_pvesr, pvesh_json, corosync_conf,
# section_config, system_text.
#
# Each target starts from the repository's fixtures (seed corpus) plus fuzz/regressions/TARGET/
# and keeps what it learns in fuzz/corpus/TARGET/ (git-ignored) for the next run. A crash is
# copied to fuzz/regressions/TARGET/ — commit it with the fix: `cargo test` replays every file
# there (crates/{common,provision-iso}/tests/hostile_fuzz_regressions.rs).
#
# cargo-fuzz needs nightly rustc flags; on a stable toolchain RUSTC_BOOTSTRAP=1 enables them
# (documented in RELIABILITY.md). cargo-fuzz is installed with `cargo install` when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

ALL=(inventory answer webhook_keys inventory_values quorum cfgtool qdevice pvesm_pvesr pvesh_json corosync_conf section_config system_text)
seconds=30
timeout_s=10
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=${2:?--seconds needs a number}; shift ;;
    --timeout) timeout_s=${2:?--timeout needs a number}; shift ;;
    --list) printf '%s\n' "${ALL[@]}"; exit 0 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz: unknown option $1" >&2; exit 1 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[ ${#targets[@]} -eq 0 ] && targets=("${ALL[@]}")
for t in "${targets[@]}"; do
  case " ${ALL[*]} " in *" $t "*) ;; *) echo "fuzz: unknown target '$t' (targets: ${ALL[*]})" >&2; exit 1 ;; esac
done
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || { echo "fuzz: --seconds must be a positive integer" >&2; exit 1; }

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)" >&2
  cargo install cargo-fuzz --locked
fi
if ! rustc -V | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi

# Seed files of each target: fixtures whose layout the target parses.
P=crates/common/tests/fixtures/parsers
S=crates/pve-sim/tests/fixtures
seeds() {
  case "$1" in
    inventory) ls crates/common/tests/fixtures/inventory/*.toml crates/provision-iso/tests/fixtures/inventory/*.toml examples/homelab.toml ;;
    answer) ls crates/provision-iso/tests/fixtures/answers/*/*.toml crates/provision-iso/tests/fixtures/golden/*.toml ;;
    webhook_keys) ls fuzz/seeds/webhook_keys/* ;;
    inventory_values) ls fuzz/seeds/inventory_values/* ;;
    quorum) ls $P/pvecm-status-* $P/pvecm-nodes-* $P/quorumtool-* $S/pvecm-* ;;
    cfgtool) ls $P/cfgtool-* $S/cfgtool-* ;;
    qdevice) ls $P/qdevice-tool-* $P/qnetd-tool-* ;;
    pvesm_pvesr) ls $P/pvesm-* $P/pvesr-* $S/pvesm-* $S/pvesr-* ;;
    pvesh_json) ls $P/*.json $S/*.json ;;
    corosync_conf) ls $P/corosync.conf $S/corosync.conf ;;
    section_config) ls $P/*.cfg $S/*.cfg ;;
    system_text) ls $P/sshd-T.txt $P/dpkg-query.txt $P/etc-hosts.txt $P/getent-passwd.txt $P/stat.txt $P/apt-* fuzz/seeds/system_text/* ;;
  esac
}

echo "fuzz: building ${#targets[@]} target(s) (release, debug assertions, AddressSanitizer)" >&2
build_start=$(date +%s)
if ! cargo fuzz build 2>"$ROOT/fuzz/build.log"; then
  tail -40 "$ROOT/fuzz/build.log" >&2
  echo "fuzz: build failed (full log: fuzz/build.log)" >&2
  exit 1
fi
build_s=$(( $(date +%s) - build_start ))
FUZZ_BIN="$ROOT/fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release"

mkdir -p fuzz/logs
failed=()
summary=()
total_execs=0
run_start=$(date +%s)
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  mkdir -p "$corpus" "fuzz/regressions/$t" "fuzz/artifacts/$t"
  while read -r f; do
    [ -f "$f" ] && cp -n "$f" "$corpus/seed-$(echo "$f" | tr '/' '_')"
  done < <(seeds "$t"; ls fuzz/regressions/"$t"/* 2>/dev/null || true)
  before=$(ls "fuzz/artifacts/$t" | wc -l)
  log="fuzz/logs/$t.log"
  echo "fuzz: $t for ${seconds}s ($(ls "$corpus" | wc -l) inputs in the corpus)" >&2
  rc=0
  # The binary cargo-fuzz built above (running it directly skips cargo's rebuild check).
  "$FUZZ_BIN/$t" "$corpus" \
    -max_total_time="$seconds" -timeout="$timeout_s" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  execs=${execs:-0}
  total_execs=$((total_execs + execs))
  new=$(( $(ls "fuzz/artifacts/$t" | wc -l) - before ))
  if [ "$rc" -ne 0 ] || [ "$new" -gt 0 ]; then
    failed+=("$t")
    for a in $(ls -t "fuzz/artifacts/$t" | head -n "$((new > 0 ? new : 0))"); do
      cp "fuzz/artifacts/$t/$a" "fuzz/regressions/$t/$a"
      echo "fuzz: $t: $a kept as fuzz/regressions/$t/$a (reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run $t fuzz/regressions/$t/$a)" >&2
    done
    grep -E "panicked at|ERROR: libFuzzer|SUMMARY|deadly signal|timeout" "$log" | head -8 >&2 || true
    summary+=("$(printf '%-17s %10s execs  FAILED (exit %s, log %s)' "$t" "$execs" "$rc" "$log")")
  else
    summary+=("$(printf '%-17s %10s execs  ok' "$t" "$execs")")
  fi
done
run_s=$(( $(date +%s) - run_start ))

echo >&2
printf '%s\n' "${summary[@]}" >&2
echo "fuzz: ${#targets[@]} target(s) × ${seconds}s: $total_execs executions in ${run_s}s (build ${build_s}s), ${#failed[@]} failing" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} — fix the crash, keep the input in fuzz/regressions/, run cargo test" >&2
  exit 1
fi
