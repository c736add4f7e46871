#!/usr/bin/env bash
# The peer comparison of issue 3: installs the peers' Debian packages, builds kvbench with the peer engines
# (this nested package, release, in its own .build folder) and runs the same workloads, keys and values against
# kvstore, floor, lmdb, leveldb, rocksdb and sqlite in one run. The text report ends with the ratio table
# (kvstore ops/sec ÷ each engine's, > 1 = kvstore faster).
#
# Usage: Benchmarks/Peers/compare.sh [kvbench flags...]      e.g.  compare.sh --num 100000
#   OUT=DIR    keep the text and JSON reports in DIR (default: a new temporary directory)
#   TARGETS=1  also run the other configurations of the issue's targets table (2 threads, 4 KiB and 256 KiB
#              values, LZ4, fillsync with 4 threads)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

packages=(liblz4-dev liblmdb-dev libleveldb-dev librocksdb-dev libsqlite3-dev)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "compare.sh: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "compare.sh: building kvbench-peers (release)..." >&2
swift build -c release --package-path "$here" --product kvbench-peers >&2
bin="$(swift build -c release --package-path "$here" --show-bin-path)/kvbench-peers"

out="${OUT:-$(mktemp -d -t kvbench-compare.XXXXXX)}"
mkdir -p "$out"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
engines=(--engine kvstore --engine floor --engine lmdb --engine leveldb --engine rocksdb --engine sqlite)

run() {   # run NAME kvbench-flags...
    local name="$1"
    shift
    echo "compare.sh: $name: $bin $*" >&2
    "$bin" "$@" --output "$out/$name-$stamp.json" | tee "$out/$name-$stamp.txt"
}

# The full comparison: N = 1,000,000, 16-byte keys, 100-byte values, warm page cache, durability .process.
run compare "${engines[@]}" "$@"

if [[ "${TARGETS:-0}" == 1 ]]; then
    run threads2 --engine kvstore --engine floor --threads 2 --benchmarks fillrandom,readrandom "$@"
    run value4k "${engines[@]}" --num 100000 --value-size 4096 --benchmarks fillrandom,readrandom "$@"
    run value256k "${engines[@]}" --num 10000 --value-size 262144 --benchmarks fillrandom,readrandom "$@"
    run lz4-4k --engine kvstore --engine floor --num 100000 --value-size 4096 --compression lz4 \
        --benchmarks fillrandom,readrandom "$@"
    run fillsync4 --engine kvstore --engine floor --engine leveldb --engine rocksdb --threads 4 \
        --benchmarks fillsync "$@"
fi

echo "compare.sh: reports in $out" >&2
