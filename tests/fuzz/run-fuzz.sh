#!/bin/sh
# Runs a fuzz target (tests/fuzz/local.mk) for a bounded time; exits
# non-zero on a crash (libFuzzer leaves the input under WORKDIR/artifacts/).
#
# usage: run-fuzz.sh FUZZER GEN_SEEDS WORKDIR [SECONDS]
set -eu

if [ $# -lt 3 ]; then
	echo "usage: run-fuzz.sh FUZZER GEN_SEEDS WORKDIR [SECONDS]" >&2
	exit 2
fi
fuzzer=$1
gen=$2
work=$3
secs=${4:-30}

mkdir -p "$work/seeds" "$work/corpus" "$work/artifacts"
# A target with a data directory (fuzz_cs) makes it here; the last run's goes.
rm -rf "$work"/fuzz-cs-*
export SHOAL_FUZZ_DIR=$work
"$gen" "$work/seeds"
# Inputs that once failed are replayed as seeds every run (tests/fuzz/regress).
regress=$(dirname "$0")/regress
[ -d "$regress" ] && cp "$regress"/* "$work/seeds/" 2>/dev/null || true
# A hard wall-clock bound on top of libFuzzer's own, in case it hangs.
# The test suite's bounded run is reproducible: libFuzzer's seed is fixed
# (FUZZ_SEED, default 1; 0 = a random one, for runs by hand).
status=0
timeout -k 10 $((secs + 120)) "$fuzzer" -seed="${FUZZ_SEED:-1}" \
	-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=70000 \
	-artifact_prefix="$work/artifacts/" -print_final_stats=1 \
	"$work/corpus" "$work/seeds" >"$work/fuzz.log" 2>&1 || status=$?
tail -n 15 "$work/fuzz.log"
if [ "$status" -ne 0 ]; then
	echo "fuzz-check: FAILED (exit $status); log: $work/fuzz.log, inputs: $work/artifacts/" >&2
	exit 1
fi
echo "fuzz-check: passed ($(ls "$work/corpus" | wc -l) corpus entries, ${secs}s)"
