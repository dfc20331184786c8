#!/usr/bin/env bash
# Runs the ring/queue peer benchmarks ROUNDS times (default 6), one run of
# each benchmark per round, so that the implementations compared alternate
# in time on a shared machine, then prints benchstat tables with one column
# per implementation. Usage: bash run.sh [OUT] (default results.txt).
# BENCH selects the timed benchmarks (default 'ReadAt|Log|Queue'); AB=0 leaves
# out BenchmarkDurableAB (2000 durable appends per round, alternating ring and
# tidwall/wal in blocks of 50).
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-results.txt}
rounds=${ROUNDS:-6}
bench=${BENCH:-ReadAt|Log|Queue}
export PATH="$PATH:$(go env GOPATH)/bin"
command -v benchstat >/dev/null || go install golang.org/x/perf/cmd/benchstat@latest
go test -c -o peers.test .
trap 'rm -f peers.test' EXIT
{
	echo "# $(uname -srm); $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | xargs); $(nproc) CPUs"
	echo "# go test -bench '$bench' (and DurableAB unless AB=0), $rounds rounds; load at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
} > "$out"
for i in $(seq "$rounds"); do
	./peers.test -test.run XXX -test.bench "$bench" -test.benchtime 1s >> "$out"
	if [ "${AB:-1}" != 0 ]; then
		./peers.test -test.run XXX -test.bench 'DurableAB' -test.benchtime 2000x | grep '^Benchmark' >> "$out"
	fi
done
echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)" >> "$out"
for family in ReadAt Log Queue; do
	if grep -q "^Benchmark$family" "$out"; then
		benchstat -filter ".name:/^$family/" -col /impl "$out"
		echo
	fi
done
if grep -q "^BenchmarkDurableAB" "$out"; then
	benchstat -filter ".name:DurableAB" "$out"
fi
