package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cell is one redis-benchmark configuration.
type cell struct {
	test          string // a redis-benchmark -t test ("set", "get", "hset", ...)
	pipe, size, c int
	n, keyspace   int // requests per run, redis-benchmark -r

	// The data types section: redis-benchmark's tests of the other types,
	// and custom commands (cmd, with the label shown for it).
	types bool
	cmd   []string
	label string
	// scanLoop runs one more client looping SCAN 0 (COUNT 10) beside the
	// benchmark: session stores list sessions with SCAN while serving.
	scanLoop bool
}

// smallSetScript is what the EVALSHA row runs: a plain SET through Lua,
// to price scripting against the SET rows.
const smallSetScript = "return redis.call('SET', KEYS[1], ARGV[1])"

// typeWrites are redis-benchmark's tests of the data types that write
// (compared with Redis appendfsync always); lrange_100 reads (compared
// with Redis without persistence).
var typeWrites = []string{"hset", "sadd", "spop", "zadd", "zpopmin", "lpush", "rpush", "lpop", "rpop", "mset"}

// sample is one redis-benchmark result: the cell's test's throughput and
// latencies, and how many tests the run held (a test that reads first
// runs one that fills its keys).
type sample struct {
	rps, p50, p99 float64
	tests         int
}

// system is one store under test; nodes[0] is the one benchmarked.
type system struct {
	name  string
	nodes []*server
}

// The matrix, in order: each SET fills the keyspace the GETs after it read.
func matrixCells() []cell {
	c, n, r := *flagClients, *flagN, *flagKeyspace
	cells := []cell{
		{test: "set", pipe: 1, size: 3, c: c, n: n},
		{test: "set", pipe: 16, size: 3, c: c, n: n},
		{test: "get", pipe: 1, size: 3, c: c, n: n},
		{test: "get", pipe: 16, size: 3, c: c, n: n},
		{test: "set", pipe: 1, size: 512, c: c, n: n},
		{test: "set", pipe: 16, size: 512, c: c, n: n},
		{test: "get", pipe: 16, size: 512, c: c, n: n},
		// One client measures latency, and a durable store serves it only
		// a few thousand requests a second: fewer requests suffice.
		{test: "set", pipe: 1, size: 3, c: 1, n: max(n/20, 1000)},
		{test: "set", pipe: 16, size: 3, c: c, n: n, scanLoop: true, label: "SET -d 3 beside a SCAN loop"},
	}
	if *flagTypes {
		tn := max(n/4, 1000)
		for _, t := range append(slices.Clone(typeWrites), "lrange_100") {
			cells = append(cells, cell{test: t, pipe: 1, size: 3, c: c, n: tn, types: true})
		}
		cells = append(cells, cell{test: "evalsha", pipe: 1, size: 3, c: c, n: tn, types: true,
			cmd: []string{"EVALSHA", sha1hex(smallSetScript), "1", "key:__rand_int__", "xxx"}, label: "EVALSHA (a SET in Lua)"})
	}
	for i := range cells {
		cells[i].keyspace = r
	}
	return cells
}

func (c cell) String() string {
	if c.label != "" {
		return fmt.Sprintf("%s -P %d -c %d", c.label, c.pipe, c.c)
	}
	return fmt.Sprintf("%s -P %d -d %d -c %d", strings.ToUpper(c.test), c.pipe, c.size, c.c)
}

func runMatrix(ctx context.Context, bin, work string) error {
	port := *flagPort
	var systems []system
	defer func() {
		for _, s := range systems {
			for _, n := range s.nodes {
				n.stop(syscall.SIGTERM)
			}
		}
	}()
	one := keepkvNode(bin, filepath.Join(work, "keepkv1"), port)
	one.name = "keepkv 1 node"
	if err := one.start(ctx); err != nil {
		return err
	}
	systems = append(systems, system{"keepkv 1 node", []*server{one}})
	if *flagRaftWAL {
		wal := keepkvNode(bin, filepath.Join(work, "keepkv-wal"), port+30, "--raft-log", "wal")
		wal.name = "keepkv 1 node raft-wal"
		if err := wal.start(ctx); err != nil {
			return err
		}
		systems = append(systems, system{wal.name, []*server{wal}})
	}
	if !*flagSkipCluster {
		nodes, err := startCluster(ctx, bin, filepath.Join(work, "keepkv3"), port+10)
		systems = append(systems, system{"keepkv 3 nodes", nodes})
		if err != nil {
			return err
		}
	}
	for i, rc := range redisConfigs {
		s := redisServer(rc.name, rc.flags, filepath.Join(work, fmt.Sprintf("redis%d", i)), port+20+i)
		if err := s.start(ctx); err != nil {
			return err
		}
		systems = append(systems, system{rc.name, []*server{s}})
	}

	cells := matrixCells()
	results := make([][][]sample, len(cells))        // cell → system → repetitions
	evidence := make([][]*writeCounters, len(cells)) // cell → system (keepkv's only)
	for ci, c := range cells {
		results[ci] = make([][]sample, len(systems))
		evidence[ci] = make([]*writeCounters, len(systems))
		for si, s := range systems {
			if strings.HasPrefix(s.name, "keepkv") {
				evidence[ci][si] = &writeCounters{}
			}
		}
		for rep := range *flagReps {
			for si, s := range systems {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if c.cmd != nil && rep == 0 {
					if err := redisCLI(ctx, s.nodes[0].port, "SCRIPT", "LOAD", smallSetScript); err != nil {
						return fmt.Errorf("%s: %w", s.name, err)
					}
				}
				var before writeCounters
				if evidence[ci][si] != nil {
					var err error
					if before, err = readCounters(ctx, s); err != nil {
						return err
					}
				}
				r, err := runCell(ctx, s.nodes[0].port, c)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", s.name, c, err)
				}
				if evidence[ci][si] != nil {
					after, err := readCounters(ctx, s)
					if err != nil {
						return err
					}
					evidence[ci][si].add(before, after, c.n*r.tests)
				}
				results[ci][si] = append(results[ci][si], r)
				fmt.Fprintf(os.Stderr, "%-28s rep %d %-16s %10.0f req/s p50 %.3f p99 %.3f ms\n", c, rep+1, s.name, r.rps, r.p50, r.p99)
			}
		}
		for si, s := range systems {
			if !*flagProfile || !profiled(s, c) {
				continue
			}
			expect := time.Duration(float64(c.n) / median(results[ci][si]).rps * float64(time.Second))
			r, split, samples, err := profileRun(ctx, s.nodes[0], c, expect)
			if err != nil {
				return fmt.Errorf("%s, %s, profiled: %w", s.name, c, err)
			}
			e := evidence[ci][si]
			e.profiled, e.split, e.profileRPS = true, split, r.rps
			fmt.Fprintf(os.Stderr, "%-28s profile %-16s %10.0f req/s, %d samples\n", c, s.name, r.rps, samples)
		}
	}
	rep := report{systems: systems, cells: cells, evidence: evidence}
	for ci := range cells {
		row := make([]sample, len(systems))
		for si := range systems {
			row[si] = median(results[ci][si])
		}
		rep.medians = append(rep.medians, row)
	}
	md := rep.markdown()
	fmt.Print(md)
	if err := os.WriteFile(filepath.Join(*flagOut, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	chart := filepath.Join(*flagOut, "chart.png")
	if err := rep.chart(chart); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s\n", filepath.Join(*flagOut, "results.md"), chart)
	return nil
}

// runCell runs one redis-benchmark of cell c against the server on port,
// with the cell's SCAN loop beside it if it has one.
func runCell(ctx context.Context, port int, c cell) (sample, error) {
	stopScan := func() {}
	if c.scanLoop {
		var err error
		if stopScan, err = scanLoop(ctx, port); err != nil {
			return sample{}, err
		}
	}
	defer stopScan()
	return redisBenchmark(ctx, port, c, c.cmd...)
}

// profiled says whether the matrix profiles system s in cell c: the
// one-node system in every cell, the 3-node leader in the cells with a
// 3-node target.
func profiled(s system, c cell) bool {
	switch s.name {
	case "keepkv 1 node":
		return true
	case "keepkv 3 nodes":
		return c.test == "set" && c.c > 1 && !c.types && !c.scanLoop
	}
	return false
}

// redisBenchmark runs one redis-benchmark invocation and parses its CSV.
func redisBenchmark(ctx context.Context, port int, c cell, extra ...string) (sample, error) {
	args := []string{"-p", strconv.Itoa(port), "-c", strconv.Itoa(c.c), "-n", strconv.Itoa(c.n),
		"-r", strconv.Itoa(c.keyspace), "-P", strconv.Itoa(c.pipe), "-d", strconv.Itoa(c.size), "--csv"}
	if len(extra) > 0 {
		args = append(args, extra...)
	} else {
		args = append(args, "-t", c.test)
	}
	cmd := exec.CommandContext(ctx, "redis-benchmark", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return sample{}, fmt.Errorf("redis-benchmark %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return parseCSV(out.Bytes(), c.test)
}

// scanLoop starts a redis-benchmark client that sends SCAN 0 over and
// over, and returns what stops it.
func scanLoop(ctx context.Context, port int) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, "redis-benchmark", "-p", strconv.Itoa(port), "-c", "1", "-n", "1000000000", "-q", "SCAN", "0")
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("SCAN loop: %w", err)
	}
	return func() {
		cancel()
		_ = cmd.Wait()
	}, nil
}

// redisCLI runs one command with redis-cli and fails on an error reply.
func redisCLI(ctx context.Context, port int, args ...string) error {
	out, err := exec.CommandContext(ctx, "redis-cli", append([]string{"-p", strconv.Itoa(port)}, args...)...).CombinedOutput()
	if err != nil || bytes.HasPrefix(out, []byte("ERR")) || bytes.HasPrefix(out, []byte("(error)")) {
		return fmt.Errorf("redis-cli %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func sha1hex(s string) string { return fmt.Sprintf("%x", sha1.Sum([]byte(s))) }

// parseCSV reads redis-benchmark's --csv output (a header row, then one
// row per test it ran) by column name. Some tests run another first to
// fill the keys they read (lrange_100 runs "LPUSH (needed to benchmark
// LRANGE)" before "LRANGE_100 (first 100 elements)"): the row reported is
// the one named for test, else the last.
func parseCSV(b []byte, test string) (sample, error) {
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) < 2 {
		return sample{}, fmt.Errorf("unexpected redis-benchmark output %q", b)
	}
	row := rows[len(rows)-1]
	for _, r := range rows[1:] {
		if len(r) > 0 && strings.HasPrefix(r[0], strings.ToUpper(test)) {
			row = r
			break
		}
	}
	col := func(name string) (float64, error) {
		i := slices.Index(rows[0], name)
		if i < 0 || i >= len(row) {
			return 0, fmt.Errorf("redis-benchmark output has no %s column: %q", name, b)
		}
		return strconv.ParseFloat(row[i], 64)
	}
	s := sample{tests: len(rows) - 1}
	for _, f := range []struct {
		name string
		dst  *float64
	}{{"rps", &s.rps}, {"p50_latency_ms", &s.p50}, {"p99_latency_ms", &s.p99}} {
		if *f.dst, err = col(f.name); err != nil {
			return sample{}, err
		}
	}
	return s, nil
}

// median picks the repetition with the median throughput, keeping its
// latencies with it.
func median(xs []sample) sample {
	s := slices.Clone(xs)
	slices.SortFunc(s, func(a, b sample) int {
		switch {
		case a.rps < b.rps:
			return -1
		case a.rps > b.rps:
			return 1
		}
		return 0
	})
	return s[(len(s)-1)/2]
}

type report struct {
	systems  []system
	cells    []cell
	medians  [][]sample         // cell → system
	evidence [][]*writeCounters // cell → system: keepkv's counters and profiles
}

// oneClient is the one-client SET cell.
func (r report) oneClient() cell {
	i := slices.IndexFunc(r.cells, func(c cell) bool { return c.c == 1 })
	return r.cells[i]
}

func (r report) index(name string) int {
	return slices.IndexFunc(r.systems, func(s system) bool { return s.name == name })
}

func (r report) markdown() string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "Measured %s on %s (%d CPUs), loopback, `go run ./bench -reps %d -n %d` (medians of %d interleaved repetitions, `-r %d`; the one-client row runs %d requests).\n\n",
		time.Now().UTC().Format("2006-01-02"), host, runtime.NumCPU(), *flagReps, *flagN, *flagReps, *flagKeyspace, r.oneClient().n)
	b.WriteString("Requests per second (p50 / p99 latency in ms):\n\n| benchmark |")
	for _, s := range r.systems {
		fmt.Fprintf(&b, " %s |", s.name)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(r.systems)) + "\n")
	for ci, c := range r.cells {
		fmt.Fprintf(&b, "| %s |", c)
		for _, m := range r.medians[ci] {
			fmt.Fprintf(&b, " %.0f (%.2f / %.2f) |", m.rps, m.p50, m.p99)
		}
		b.WriteString("\n")
	}

	var keepkvs, redises []int
	for i, s := range r.systems {
		if strings.HasPrefix(s.name, "keepkv") {
			keepkvs = append(keepkvs, i)
		} else {
			redises = append(redises, i)
		}
	}
	b.WriteString("\nThroughput ratio keepkv / Redis:\n\n| benchmark |")
	for _, k := range keepkvs {
		for _, rd := range redises {
			fmt.Fprintf(&b, " %s ÷ %s |", strings.TrimPrefix(r.systems[k].name, "keepkv "), strings.TrimPrefix(r.systems[rd].name, "redis "))
		}
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(keepkvs)*len(redises)) + "\n")
	for ci, c := range r.cells {
		fmt.Fprintf(&b, "| %s |", c)
		for _, k := range keepkvs {
			for _, rd := range redises {
				fmt.Fprintf(&b, " %.2f |", r.medians[ci][k].rps/r.medians[ci][rd].rps)
			}
		}
		b.WriteString("\n")
	}

	b.WriteString(r.targetsMarkdown())
	b.WriteString(r.evidenceMarkdown())
	return b.String()
}

type target struct {
	what      string
	got, goal float64
	cmp       string // "≥" or "≤"
	// cell and sys locate the figures the target is taken from (for the
	// evidence beside it); wal is the raft-wal node's same ratio, or -1.
	cell, sys int
	wal       float64
}

func (t target) ok() bool {
	if t.cmp == "≤" {
		return t.got <= t.goal
	}
	return t.got >= t.goal
}

// targets evaluates the performance issue's goals (issue 18) against the
// medians: SET ≥ 0.6× redis always at -P 1 and ≥ 0.8× at -P 16, through a
// 3-node leader ≥ 0.35×; GET ≥ 0.8× redis off at -P 1 and ≥ 0.9× at -P 16;
// one client's SET p50 ≤ 2× redis always; the data types' tests at the
// SET ratio (writes) or the GET ratio (LRANGE_100).
func (r report) targets() []target {
	one, three, wal := r.index("keepkv 1 node"), r.index("keepkv 3 nodes"), r.index("keepkv 1 node raft-wal")
	off, always := r.index("redis off"), r.index("redis always")
	var ts []target
	for ci, c := range r.cells {
		m := r.medians[ci]
		// add appends the target of system sys against Redis config rd:
		// throughput, or with latency set, p50 latency.
		add := func(sys, rd int, goal float64, latency bool) {
			ratio := func(k int) float64 {
				if latency {
					return m[k].p50 / m[rd].p50
				}
				return m[k].rps / m[rd].rps
			}
			t := target{what: fmt.Sprintf("%s %s ÷ %s", strings.TrimPrefix(r.systems[sys].name, "keepkv "), c, r.systems[rd].name),
				got: ratio(sys), goal: goal, cmp: "≥", cell: ci, sys: sys, wal: -1}
			if latency {
				t.what = fmt.Sprintf("%s %s p50 latency ÷ %s", strings.TrimPrefix(r.systems[sys].name, "keepkv "), c, r.systems[rd].name)
				t.cmp = "≤"
			}
			if sys == one && wal >= 0 {
				t.wal = ratio(wal)
			}
			ts = append(ts, t)
		}
		switch {
		case c.types && c.test == "lrange_100":
			add(one, off, 0.8, false)
		case c.types && slices.Contains(typeWrites, c.test):
			add(one, always, 0.6, false)
		case c.types, c.scanLoop: // no goal of the issue's
		case c.test == "set" && c.c > 1:
			goal := 0.6
			if c.pipe > 1 {
				goal = 0.8
			}
			add(one, always, goal, false)
			if three >= 0 {
				add(three, always, 0.35, false)
			}
		case c.test == "get":
			goal := 0.8
			if c.pipe > 1 {
				goal = 0.9
			}
			add(one, off, goal, false)
		case c.test == "set" && c.c == 1:
			add(one, always, 2.0, true)
		}
	}
	return ts
}
