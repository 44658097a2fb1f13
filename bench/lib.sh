# Shared helpers for the bench scripts (sourced, not run).
for tool in redis-server redis-benchmark redis-cli go; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
done

REPS=${REPS:-3}
N=${N:-200000}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
go build -o "$WORK/keepkv" ./cmd/keepkv

wait_ping() { for _ in $(seq 100); do redis-cli -p "$1" set bench:ping 1 >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "bench: port $1 not serving" >&2; exit 1; }

start_redis_always() {  # PORT
  redis-server --port "$1" --bind 127.0.0.1 --dir "$WORK" --save '' \
    --appendonly yes --appendfsync always --logfile "$WORK/redis.log" &
  wait_ping "$1"
}

# run PORT TEST PIPELINE SIZE -> "rps p50 p99"
run() {
  redis-benchmark -p "$1" -c "$CLIENTS" -n "$N" -r "$KEYSPACE" -t "$2" -P "$3" -d "$4" --csv 2>/dev/null |
    awk -F'"' 'NR==2 {print $4, $10, $14}'
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# row LABEL... : reads $WORK/a.txt (keepkv) and $WORK/b.txt (redis), prints a table row
row() {
  local kk rs kkl rsl ratio
  kk=$(cut -d' ' -f1 "$WORK/a.txt" | median); rs=$(cut -d' ' -f1 "$WORK/b.txt" | median)
  kkl=$(awk -v m="$kk" '$1==m {print $2"/"$3; exit}' "$WORK/a.txt")
  rsl=$(awk -v m="$rs" '$1==m {print $2"/"$3; exit}' "$WORK/b.txt")
  ratio=$(awk -v a="$kk" -v b="$rs" 'BEGIN {printf "%.2f", a/b}')
  echo "| $* | $kk | $rs | $ratio | $kkl | $rsl |"
}

# compare KKPORT RSPORT TEST P D LABEL...: interleaved repetitions, one row
compare() {
  local kkp=$1 rsp=$2 test=$3 p=$4 d=$5; shift 5
  : >"$WORK/a.txt"; : >"$WORK/b.txt"
  for _ in $(seq "$REPS"); do
    run "$kkp" "$test" "$p" "$d" >>"$WORK/a.txt"
    run "$rsp" "$test" "$p" "$d" >>"$WORK/b.txt"
  done
  row "$@"
}
