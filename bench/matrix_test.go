package main

import (
	"testing"

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
