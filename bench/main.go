// Command bench is keepkv's benchmark harness. From the repository root:
//
//	go run ./bench                        # the comparison matrix
//	go run ./bench -reps 5 -n 400000      # longer, steadier
//	go run ./bench -scale -sessions 10000000
//	go run ./bench -http                  # HTTP (Upstash REST) beside RESP
//
// The matrix builds keepkv and starts, on loopback with fresh data dirs,
// a keepkv node, a 3-node keepkv cluster (all local) and redis-server with
// persistence off, appendfsync everysec and appendfsync always. It runs
// redis-benchmark against each, interleaved (every repetition visits every
// system before the next starts), takes medians, and writes a markdown
// table of req/s, p50/p99 latency, ratios to each Redis configuration and
// the performance targets, plus a PNG chart of the same figures.
//
// The scale mode loads N 512-byte sessions into one node and reports disk
// use, RSS, GET throughput against a 100k-key store, restart time (clean
// and after SIGKILL) and how fast a million keys with one deadline drain.
//
// It needs Debian's redis-server and redis-tools; it is not run by go test.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

var (
	flagReps        = flag.Int("reps", 3, "interleaved repetitions per cell (the median is reported)")
	flagN           = flag.Int("n", 200000, "requests per redis-benchmark run")
	flagClients     = flag.Int("c", 50, "redis-benchmark connections")
	flagKeyspace    = flag.Int("r", 100000, "redis-benchmark random keyspace")
	flagOut         = flag.String("out", "bench/results", "directory for results.md and chart.png")
	flagWork        = flag.String("work", "", "directory for binaries and data dirs (default: a fresh temporary one, removed afterwards)")
	flagPort        = flag.Int("port", 7600, "first loopback port to use")
	flagKeepkv      = flag.String("keepkv-flags", "", "extra flags for every keepkv process, e.g. \"--pprof-addr 127.0.0.1:7701\" (with -skip-cluster or -scale: one process) to profile a run")
	flagSkipCluster = flag.Bool("skip-cluster", false, "leave out the 3-node cluster")
	flagRaftWAL     = flag.Bool("raft-wal", false, "add a node on the experimental hashicorp/raft-wal log store (--raft-log wal) beside the default raft-boltdb one")
	flagProfile     = flag.Bool("profile", true, "matrix: profile the one-node keepkv (and the 3-node leader in its target cells) in one extra, uncounted run per cell, and report the CPU split by component beside the write path's counters (sets --pprof-addr at the node's port + 1000)")
	flagTypes       = flag.Bool("types", true, "add redis-benchmark's data type tests (hset, sadd, spop, zadd, zpopmin, lpush, rpush, lpop, rpop, mset, lrange_100) and an EVALSHA of a small script, -P 1, -n/4 requests each")

	flagScale     = flag.Bool("scale", false, "run the scale mode instead of the matrix")
	flagSessions  = flag.Int("sessions", 10_000_000, "scale mode: sessions to load")
	flagExpiring  = flag.Int("expiring", 1_000_000, "scale mode: keys sharing one deadline")
	flagDrains    = flag.Int("drains", 1, "scale mode: how many times to load the expiring keys and time their drain (each a new deadline)")
	flagDrainOnly = flag.Bool("drain-only", false, "scale mode: load the sessions, then only time the drains (no GET comparison, no restarts); for comparing expiry settings")

	flagHTTP = flag.Bool("http", false, "measure the HTTP (Upstash REST) front end beside RESP on one node instead of the matrix (-n/4 requests per run)")
)

func main() {
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// pprofPortOffset places a profiled node's --pprof-addr above its RESP port.
const pprofPortOffset = 1000

func run(ctx context.Context) error {
	if err := requireTools(); err != nil {
		return err
	}
	if *flagProfile && !*flagScale && !*flagHTTP && strings.Contains(*flagKeepkv, "pprof-addr") {
		return fmt.Errorf("-profile sets each node's --pprof-addr itself: pass -profile=false to set it in -keepkv-flags")
	}
	work := *flagWork
	if work == "" {
		dir, err := os.MkdirTemp("", "keepkv-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	bin, err := buildKeepkv(work)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*flagOut, 0o755); err != nil {
		return err
	}
	if *flagScale {
		return runScale(ctx, bin, filepath.Join(work, "scale"))
	}
	if *flagHTTP {
		return runHTTP(ctx, bin, work)
	}
	return runMatrix(ctx, bin, work)
}
