#!/usr/bin/env bash
# The long crash run: at least 100 SIGKILLs of the real binary under remote_write load,
# with cuts, checkpoints and merges every few hundred milliseconds, and an exact ledger of
# what was acknowledged compared after every restart (tests/crash/crash_harness.cc).
# Usage: bench/crash/run.sh [KILLS] [extra harness flags...]
set -euo pipefail
cd "$(dirname "$0")/../.."
KILLS=${1:-120}
shift || true
make build >/dev/null
cmake --build build/release --target crash_harness >/dev/null
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u +%F)"
build/release/tests/crash/crash_harness --pharos build/release/pharos --kills "$KILLS" \
  --writers 4 --series 100 --profiles 2m@300,1h@1800,1h@1800 "$@"
