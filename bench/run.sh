#!/usr/bin/env bash
# Side-by-side redis-benchmark of keepkv (one node, durable: every ack is
# fsynced through the Raft log) and redis-server with
# --appendonly yes --appendfsync always, on loopback, fresh data dirs.
#
#   bench/run.sh                 # default matrix, 3 interleaved repetitions
#   REPS=5 N=200000 bench/run.sh
#
# Prints a markdown table (req/s, p50, p99, ratio keepkv/redis) on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in redis-server redis-benchmark redis-cli go; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
done

REPS=${REPS:-3}
N=${N:-200000}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
WORK=$(mktemp -d)
KK_PORT=${KK_PORT:-7601}
RS_PORT=${RS_PORT:-7602}
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

go build -o "$WORK/keepkv" ./cmd/keepkv
"$WORK/keepkv" --addr 127.0.0.1:$KK_PORT --dir "$WORK/kk" --log-level warn 2>"$WORK/kk.log" &
redis-server --port $RS_PORT --bind 127.0.0.1 --dir "$WORK" --save '' \
  --appendonly yes --appendfsync always --logfile "$WORK/redis.log" &

wait_ping() { for _ in $(seq 100); do redis-cli -p "$1" set bench:ping 1 >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "bench: port $1 not serving" >&2; exit 1; }
wait_ping $KK_PORT
wait_ping $RS_PORT

# run PORT TEST PIPELINE SIZE -> "rps p50 p99"
run() {
  redis-benchmark -p "$1" -c "$CLIENTS" -n "$N" -r "$KEYSPACE" -t "$2" -P "$3" -d "$4" --csv 2>/dev/null |
    awk -F'"' 'NR==2 {print $4, $10, $14}'
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| test | pipeline | value | keepkv req/s | redis always req/s | ratio | keepkv p50/p99 ms | redis p50/p99 ms |"
echo "|---|---|---|---|---|---|---|---|"
for test in set get; do
  for P in 1 16; do
    for D in 3 512; do
      : >"$WORK/kk.txt"; : >"$WORK/rs.txt"
      for _ in $(seq "$REPS"); do  # interleaved repetitions
        run $KK_PORT $test $P $D >>"$WORK/kk.txt"
        run $RS_PORT $test $P $D >>"$WORK/rs.txt"
      done
      kk=$(cut -d' ' -f1 "$WORK/kk.txt" | median); rs=$(cut -d' ' -f1 "$WORK/rs.txt" | median)
      kkl=$(awk -v m="$kk" '$1==m {print $2"/"$3; exit}' "$WORK/kk.txt")
      rsl=$(awk -v m="$rs" '$1==m {print $2"/"$3; exit}' "$WORK/rs.txt")
      ratio=$(awk -v a="$kk" -v b="$rs" 'BEGIN {printf "%.2f", a/b}')
      echo "| ${test^^} | $P | $D | $kk | $rs | $ratio | $kkl | $rsl |"
    done
  done
done
