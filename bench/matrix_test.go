package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// redis-benchmark 7.0's --csv output of `-t lrange_100`: the fill runs first.
const lrangeCSV = `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"LPUSH (needed to benchmark LRANGE)","52631.58","0.526","0.160","0.455","0.687","3.087","3.463"
"LRANGE_100 (first 100 elements)","47619.05","0.546","0.256","0.511","0.703","1.615","2.135"
`

func TestParseCSVReportsTheTestNotItsFill(t *testing.T) {
	s, err := parseCSV([]byte(lrangeCSV), "lrange_100")
	if err != nil {
		t.Fatal(err)
	}
	if s.rps != 47619.05 || s.p50 != 0.511 || s.p99 != 1.615 || s.tests != 2 {
		t.Fatalf("lrange_100 parsed as %+v, want LRANGE_100's row of 2", s)
	}
	one := `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"EVALSHA 4b1b9d7f 1 key:__rand_int__ xxx","23408.00","1.9","0.2","1.74","3.1","5.61","9.0"
`
	if s, err = parseCSV([]byte(one), "evalsha"); err != nil || s.rps != 23408 || s.tests != 1 {
		t.Fatalf("evalsha parsed as %+v, %v", s, err)
	}
}

func TestProfileSplitByComponent(t *testing.T) {
	fn := func(names ...string) []*profile.Location {
		var locs []*profile.Location
		for _, n := range names {
			locs = append(locs, &profile.Location{Line: []profile.Line{{Function: &profile.Function{Name: n}}}})
		}
		return locs
	}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			// fdatasync under raft-boltdb under Raft's leader loop: the log store
			{Location: fn("syscall.Syscall", "go.etcd.io/bbolt.fdatasync", "github.com/hashicorp/raft-boltdb/v2.(*BoltStore).StoreLogs", "github.com/hashicorp/raft.(*Raft).runLeader"), Value: []int64{3, 30}},
			// a socket read in a client's goroutine
			{Location: fn("syscall.read", "internal/poll.(*FD).Read", "github.com/tidwall/redcon.(*Reader).readCommands", "github.com/keepkv/keepkv/server.(*Server).handle"), Value: []int64{2, 20}},
			// a GC assist inside a command counts as GC
			{Location: fn("runtime.gcAssistAlloc", "runtime.mallocgc", "github.com/keepkv/keepkv/server.(*pipeline).run"), Value: []int64{1, 10}},
			{Location: fn("runtime.findRunnable", "runtime.schedule"), Value: []int64{4, 40}},
		},
	}
	shares, samples := splitProfile(p)
	names := componentNames()
	want := map[string]float64{"Raft log store": 0.3, "socket I/O": 0.2, "GC": 0.1, "runtime": 0.4}
	for i, n := range names {
		if d := shares[i] - want[n]; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s: share %.2f, want %.2f", n, shares[i], want[n])
		}
	}
	if samples != 10 {
		t.Errorf("samples %d, want 10", samples)
	}
}

// The targets table puts each target's own cell's and system's evidence
// beside it.
func TestTargetsCarryTheirEvidence(t *testing.T) {
	sys := func(names ...string) []system {
		var s []system
		for _, n := range names {
			s = append(s, system{name: n})
		}
		return s
	}
	r := report{
		systems: sys("keepkv 1 node", "keepkv 1 node raft-wal", "keepkv 3 nodes", "redis off", "redis always"),
		cells:   []cell{{test: "set", pipe: 1, size: 3, c: 50}, {test: "get", pipe: 1, size: 3, c: 50}},
		medians: [][]sample{
			{{rps: 100}, {rps: 150}, {rps: 40}, {rps: 400}, {rps: 200}},
			{{rps: 300}, {rps: 280}, {rps: 200}, {rps: 500}, {rps: 450}},
		},
	}
	ev := func(cpuTicks, requests int64, split ...float64) *writeCounters {
		return &writeCounters{cpuTicks: cpuTicks, requests: requests, appliedCommands: 24, appliedEntries: 1, logEntries: 1, logAppends: 1, logFsyncs: 2,
			profiled: len(split) > 0, split: split}
	}
	names := componentNames()
	split := make([]float64, len(names))
	split[1], split[4], split[6] = 0.5, 0.3, 0.2 // log store, socket I/O, commands
	r.evidence = [][]*writeCounters{
		{ev(100, 1000, split...), ev(1, 1), ev(400, 1000, split...), nil, nil},
		{ev(30, 10000, split...), ev(1, 1), ev(1, 1), nil, nil},
	}
	md := r.targetsMarkdown()
	for _, want := range []string{
		"| 1 node SET -P 1 -d 3 -c 50 ÷ redis always | 0.50 | ≥ 0.6 | no | 0.75 | 1000.0 | 24.0 | 1.00 | 0.083 | Raft log store 50 %, socket I/O 30 %, commands 20 % |",
		"| 3 nodes SET -P 1 -d 3 -c 50 ÷ redis always | 0.20 | ≥ 0.35 | no | – | 4000.0 |",
		"| 1 node GET -P 1 -d 3 -c 50 ÷ redis off | 0.60 | ≥ 0.8 | no | 0.56 | 30.0 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("targets table lacks\n%s\n in\n%s", want, md)
		}
	}
}

// cpuTicks reads this process's CPU time from /proc: it grows while the
// process computes.
func TestCPUTicksGrowWithWork(t *testing.T) {
	p, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: &exec.Cmd{Process: p}}
	start := s.cpuTicks()
	x, deadline := 0, time.Now().Add(5*time.Second)
	for i := 0; s.cpuTicks() <= start; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("cpuTicks stayed at %d through 5 s of work", start)
		}
		x += i * i
	}
	_ = x
}
