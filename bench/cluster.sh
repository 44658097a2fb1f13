#!/usr/bin/env bash
# A 3-node keepkv cluster on this machine, benchmarked through the leader
# and through a follower (which forwards to the leader), side by side with
# redis-server --appendfsync always.
#
#   bench/cluster.sh             # REPS, N, CLIENTS, KEYSPACE as in run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

P1=${P1:-7701}; P2=7702; P3=7703; RS_PORT=${RS_PORT:-7704}
flags=(--log-level warn)
"$WORK/keepkv" --node-id n1 --addr 127.0.0.1:$P1 --dir "$WORK/n1" "${flags[@]}" 2>"$WORK/n1.log" &
wait_ping $P1
"$WORK/keepkv" --node-id n2 --addr 127.0.0.1:$P2 --dir "$WORK/n2" --join 127.0.0.1:$((P1 + 10000)) "${flags[@]}" 2>"$WORK/n2.log" &
"$WORK/keepkv" --node-id n3 --addr 127.0.0.1:$P3 --dir "$WORK/n3" --join 127.0.0.1:$((P1 + 10000)) "${flags[@]}" 2>"$WORK/n3.log" &
for _ in $(seq 100); do [ "$(redis-cli -p $P1 raft members | grep -c voter)" = 3 ] && break; sleep 0.1; done
start_redis_always $RS_PORT

echo "| test | pipeline | via | keepkv req/s | redis always req/s | ratio | keepkv p50/p99 ms | redis p50/p99 ms |"
echo "|---|---|---|---|---|---|---|---|"
for test in set get; do
  for P in 1 16; do
    compare $P1 $RS_PORT $test $P 3 "${test^^} | $P | leader"
    compare $P2 $RS_PORT $test $P 3 "${test^^} | $P | follower"
  done
done
