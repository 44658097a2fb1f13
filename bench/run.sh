#!/usr/bin/env bash
# Side-by-side redis-benchmark of keepkv (one node, durable: every ack is
# fsynced through the Raft log) and redis-server with
# --appendonly yes --appendfsync always, on loopback, fresh data dirs.
#
#   bench/run.sh                 # default matrix, 3 interleaved repetitions
#   REPS=5 N=200000 bench/run.sh
#
# Prints a markdown table (req/s, p50/p99 ms, ratio keepkv/redis) on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

KK_PORT=${KK_PORT:-7601}
RS_PORT=${RS_PORT:-7602}
"$WORK/keepkv" --addr 127.0.0.1:$KK_PORT --dir "$WORK/kk" --log-level warn 2>"$WORK/kk.log" &
wait_ping $KK_PORT
start_redis_always $RS_PORT

echo "| test | pipeline | value | keepkv req/s | redis always req/s | ratio | keepkv p50/p99 ms | redis p50/p99 ms |"
echo "|---|---|---|---|---|---|---|---|"
for test in set get; do
  for P in 1 16; do
    for D in 3 512; do
      compare $KK_PORT $RS_PORT $test $P $D "${test^^} | $P | $D"
    done
  done
done
