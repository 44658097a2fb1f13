package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"
)

// opsServer serves a node's /metrics, /healthz and /readyz.
func opsServer(t *testing.T, s *Server) string {
	t.Helper()
	mux := http.NewServeMux()
	s.opsRoutes(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return hs.URL
}

type scrape map[string]*dto.MetricFamily

func scrapeMetrics(t *testing.T, base string) scrape {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// find returns the sample of family name whose labels include want
// ("k=v" pairs), or nil.
func (sc scrape) find(name string, want ...string) *dto.Metric {
	f := sc[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		for _, kv := range want {
			k, v, _ := strings.Cut(kv, "=")
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is a counter's or gauge's value, a histogram's or summary's count;
// 0 when absent.
func (sc scrape) value(name string, labels ...string) float64 {
	m := sc.find(name, labels...)
	switch {
	case m == nil:
		return 0
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Summary != nil:
		return float64(m.Summary.GetSampleCount())
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

func TestMetricsMoveWithAWorkload(t *testing.T) {
	s := startServer(t, nil)
	base := opsServer(t, s)
	c := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	waitReady(t, base, 200)
	// A first write makes sure the leader's term entry is applied before
	// the baseline, so apply counters move only with the workload.
	if err := c.Set(ctx, "warmup", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	before := scrapeMetrics(t, base)

	for _, k := range []string{"a", "b", "c", "d"} {
		if err := c.Set(ctx, k, "v-"+k, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// A pipeline: its writes travel in one log entry.
	pipe := c.Pipeline()
	pipe.Set(ctx, "p1", "x", 0)
	pipe.Set(ctx, "p2", "x", 0)
	pipe.Get(ctx, "a")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "nosuch"} {
		c.Get(ctx, k)
	}
	// A transaction counts as MULTI and EXEC, not as the commands queued.
	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "t1", "x", 0)
		p.Set(ctx, "t2", "x", 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Errors: one found in apply, one at validation, one unknown command.
	if err := c.Incr(ctx, "a").Err(); err == nil || !strings.Contains(err.Error(), "not an integer") {
		t.Fatalf("INCR on a string: %v", err)
	}
	if err := c.Do(ctx, "GET").Err(); err == nil {
		t.Fatal("GET without a key succeeded")
	}
	if err := c.Do(ctx, "NOSUCHCMD").Err(); err == nil {
		t.Fatal("unknown command succeeded")
	}
	// An expiry, and a deadline that stays in the expiry wheel.
	if err := c.Set(ctx, "later", "x", 30*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "short", "x", 50*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var after scrape
	for {
		after = scrapeMetrics(t, base)
		if after.value("keepkv_expired_keys_total")-before.value("keepkv_expired_keys_total") >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("keepkv_expired_keys_total did not move after a key expired")
		}
		time.Sleep(20 * time.Millisecond) // the expiry driver runs on its own tick
	}

	delta := func(name string, labels ...string) float64 {
		return after.value(name, labels...) - before.value(name, labels...)
	}
	exact := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"keepkv_commands_total", []string{"cmd=set"}, 8},
		{"keepkv_commands_total", []string{"cmd=get"}, 5}, // the pipeline's, 3 plain, the arity error
		{"keepkv_commands_total", []string{"cmd=incr"}, 1},
		{"keepkv_commands_total", []string{"cmd=multi"}, 1},
		{"keepkv_commands_total", []string{"cmd=exec"}, 1},
		{"keepkv_command_errors_total", []string{"cmd=exec"}, 0},
		{"keepkv_commands_total", []string{"cmd=unknown"}, 1},
		{"keepkv_command_errors_total", []string{"cmd=set"}, 0},
		{"keepkv_command_errors_total", []string{"cmd=get"}, 1},
		{"keepkv_command_errors_total", []string{"cmd=incr"}, 1},
		{"keepkv_command_errors_total", []string{"cmd=unknown"}, 1},
		{"keepkv_command_duration_seconds", []string{"cmd=set"}, 8},
		{"keepkv_command_duration_seconds", []string{"cmd=get"}, 5},
		{"keepkv_apply_errors_total", nil, 1},
		{"keepkv_keyspace_hits_total", nil, 3},
		{"keepkv_keyspace_misses_total", nil, 1},
		{"keepkv_expired_keys_total", nil, 1},
		{"keepkv_keys", []string{"db=0"}, 9}, // a b c d p1 p2 t1 t2 later; short expired
		{"keepkv_keys_with_expiry", []string{"db=0"}, 1},
		{"keepkv_keys_by_type", []string{"db=0", "type=string"}, 9},
		{"keepkv_keys_by_type", []string{"db=0", "type=hash"}, 0},
		{"keepkv_expiry_scheduled_keys", nil, 1},
		{"keepkv_expiry_backlog_keys", nil, 0},
		{"keepkv_forwarded_commands_total", nil, 0},
	}
	for _, e := range exact {
		if got := delta(e.name, e.labels...); got != e.want {
			t.Errorf("%s%v moved by %v, want %v", e.name, e.labels, got, e.want)
		}
	}
	// The writes: 4 SETs, the pipeline's entry, EXEC, INCR, the SETs with
	// a TTL, and at least one expire entry; each one proposal, one apply.
	atLeast := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"keepkv_raft_applied_index", nil, 10},
		{"keepkv_raft_commit_index", nil, 10},
		{"keepkv_raft_propose_duration_seconds", nil, 9}, // client entries; expiry's are not timed
		{"keepkv_raft_apply_batch_entries", nil, 1},
		{"keepkv_raft_apply_batch_commands", nil, 1},
		{"keepkv_raft_apply_duration_seconds", nil, 1},
		{"keepkv_raft_log_store_duration_seconds", nil, 1},
		{"keepkv_raft_log_appends_total", nil, 1},
		{"keepkv_raft_log_entries_total", nil, 10},
		{"keepkv_applied_entries_total", nil, 10},
		// 4 SETs, the pipeline's 2, EXEC (one command), INCR, the 2 with a TTL, a delete
		{"keepkv_applied_commands_total", nil, 11},
		{"keepkv_fsyncs_total", []string{"file=raft-log"}, 2},
		// go-metrics from hashicorp/raft, through the sink (a process-wide
		// count: other nodes of the test binary add to it).
		{"keepkv_raft_apply", nil, 10},
	}
	for _, e := range atLeast {
		if got := delta(e.name, e.labels...); got < e.want {
			t.Errorf("%s%v moved by %v, want at least %v", e.name, e.labels, got, e.want)
		}
	}
	if sum := after.find("keepkv_command_duration_seconds", "cmd=set").GetHistogram().GetSampleSum(); sum <= 0 {
		t.Errorf("SET latency sum %v, want > 0", sum)
	}
	for _, g := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"keepkv_raft_leader", nil, 1},
		{"keepkv_raft_has_leader", nil, 1},
		{"keepkv_raft_members", []string{"suffrage=voter"}, 1},
		{"keepkv_connected_clients", []string{"frontend=http"}, 0},
		{"keepkv_raft_first_index", nil, 1}, // nothing compacted yet
	} {
		if got := after.value(g.name, g.labels...); got != g.want {
			t.Errorf("%s%v = %v, want %v", g.name, g.labels, got, g.want)
		}
	}
	if after.value("keepkv_connected_clients", "frontend=resp") < 1 {
		t.Error("keepkv_connected_clients{frontend=resp} does not count the test's client")
	}
	repl := infoFields(t, c, "replication")
	if trailing := after.value("keepkv_raft_trailing_logs"); trailing < 64 || repl["raft_trailing_logs"] != strconv.FormatFloat(trailing, 'f', -1, 64) || repl["raft_first_index"] != "1" {
		t.Errorf("keepkv_raft_trailing_logs = %v; INFO replication: raft_trailing_logs %q, raft_first_index %q", trailing, repl["raft_trailing_logs"], repl["raft_first_index"])
	}
	if after.value("keepkv_raft_leader_changes_total") < 1 {
		t.Error("keepkv_raft_leader_changes_total did not count this node's election")
	}
	// A command never called adds no series.
	if after.find("keepkv_commands_total", "cmd=zunionstore") != nil {
		t.Error("an idle command is exported")
	}
	// Checkpoints run in the background: force one and see it counted.
	if err := s.DB().Flush(); err != nil {
		t.Fatal(err)
	}
	final := scrapeMetrics(t, base)
	if got := final.value("keepkv_checkpoint_duration_seconds") - before.value("keepkv_checkpoint_duration_seconds"); got < 1 {
		t.Errorf("keepkv_checkpoint_duration_seconds moved by %v, want at least 1", got)
	}
	if got := final.value("keepkv_fsyncs_total", "file=state") - before.value("keepkv_fsyncs_total", "file=state"); got < 2 {
		t.Errorf("keepkv_fsyncs_total{file=state} moved by %v after a checkpoint, want at least 2", got)
	}
	// INFO persistence prints the same figures, and their ratios.
	info := infoFields(t, c, "persistence")
	appends, _ := strconv.ParseUint(info["keepkv_log_appends"], 10, 64)
	logFsyncs, _ := strconv.ParseUint(info["keepkv_log_fsyncs"], 10, 64)
	cmds, _ := strconv.ParseUint(info["keepkv_applied_commands"], 10, 64)
	entries, _ := strconv.ParseUint(info["keepkv_applied_entries"], 10, 64)
	if appends == 0 || logFsyncs != 2*appends || cmds < entries || entries == 0 {
		t.Errorf("INFO persistence: log appends %d, log fsyncs %d (raft-boltdb syncs twice per append), applied commands %d, entries %d", appends, logFsyncs, cmds, entries)
	}
	if per, err := strconv.ParseFloat(info["keepkv_commands_per_entry"], 64); err != nil || per < 1 {
		t.Errorf("INFO keepkv_commands_per_entry = %q", info["keepkv_commands_per_entry"])
	}
	if per, err := strconv.ParseFloat(info["keepkv_fsyncs_per_command"], 64); err != nil || per <= 0 {
		t.Errorf("INFO keepkv_fsyncs_per_command = %q", info["keepkv_fsyncs_per_command"])
	}
}

// infoFields reads one INFO section into a map.
func infoFields(t *testing.T, c *redis.Client, section string) map[string]string {
	t.Helper()
	text, err := c.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(text, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = v
		}
	}
	return fields
}

// keepkv_keys_by_type follows creates, overwrites by another type,
// RENAME, MOVE and COPY across databases, expiry and FLUSHDB, agrees with
// DBSIZE, and survives a restart; every database and type is exported.
func TestMetricsKeysByType(t *testing.T) {
	dir := t.TempDir()
	s := startServerIn(t, dir, nil)
	base := opsServer(t, s)
	c := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	waitReady(t, base, 200)
	do := func(args ...any) {
		t.Helper()
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	// want: db → type → count; every other series must be 0.
	check := func(step string, want map[string]map[string]float64) {
		t.Helper()
		sc := scrapeMetrics(t, base)
		if n := len(sc["keepkv_keys_by_type"].GetMetric()); n != 16*5 {
			t.Fatalf("%s: %d keepkv_keys_by_type series, want 80", step, n)
		}
		for db := range 16 {
			d := strconv.Itoa(db)
			var sum float64
			for _, typ := range []string{"string", "list", "hash", "set", "zset"} {
				got := sc.value("keepkv_keys_by_type", "db="+d, "type="+typ)
				if got != want[d][typ] {
					t.Errorf("%s: keepkv_keys_by_type{db=%s,type=%s} = %v, want %v", step, d, typ, got, want[d][typ])
				}
				sum += got
			}
			if keys := sc.value("keepkv_keys", "db="+d); keys != sum {
				t.Errorf("%s: db %s: %v keys by type, keepkv_keys %v", step, d, sum, keys)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	do("SET", "s1", "v")
	do("SET", "s2", "v")
	do("HSET", "h", "f", "v")
	do("SADD", "st", "a", "b")
	do("ZADD", "z", 1, "a")
	do("RPUSH", "l", "a", "b")
	check("one of each", map[string]map[string]float64{"0": {"string": 2, "hash": 1, "set": 1, "zset": 1, "list": 1}})
	do("SET", "h", "now a string")      // hash → string
	do("MOVE", "z", 2)                  // zset to db 2
	do("COPY", "st", "st", "DB", 3)     // set copied to db 3
	do("RENAME", "l", "s1")             // the list replaces a string
	do("SINTERSTORE", "s2", "st", "st") // a set replaces a string
	do("SET", "short", "x", "PX", 50)
	check("moved around", map[string]map[string]float64{
		"0": {"string": 2, "list": 1, "set": 2},
		"2": {"zset": 1},
		"3": {"set": 1},
	})
	// The short key expires: the expiry driver's delete applies.
	deadline := time.Now().Add(10 * time.Second)
	for scrapeMetrics(t, base).value("keepkv_keys_by_type", "db=0", "type=string") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("keepkv_keys_by_type{db=0,type=string} did not drop when a key expired")
		}
		time.Sleep(20 * time.Millisecond) // the expiry driver runs on its own tick
	}
	do("LPOP", "s1", 5) // empties the list: deleted
	do("FLUSHDB")
	do("HSET", "after", "f", "v")
	want := map[string]map[string]float64{"0": {"hash": 1}, "2": {"zset": 1}, "3": {"set": 1}}
	check("flushed", want)
	for db, n := range map[int]int64{0: 1, 2: 1, 3: 1, 5: 0} {
		if got := s.DB().KeyCount(uint8(db)); got != n {
			t.Fatalf("db %d: DBSIZE %d, want %d", db, got, n)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = startServerIn(t, dir, nil)
	base = opsServer(t, s)
	waitReady(t, base, 200)
	check("restarted", want)
}

// waitReady polls /readyz until it answers want, with a body that
// contains each of says.
func waitReady(t *testing.T, base string, want int, says ...string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ok := resp.StatusCode == want
		for _, w := range says {
			ok = ok && strings.Contains(string(b), w)
		}
		if ok {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %q, want %d", resp.StatusCode, b, want)
		}
		time.Sleep(20 * time.Millisecond) // Raft elects and replicates on its own schedule
	}
}

func TestHealthAndReadiness(t *testing.T) {
	// Slower Raft timing than startServer's keeps leadership from flapping
	// when the machine is busy.
	calm := func(c *Config) {
		c.Raft.HeartbeatTimeout = 400 * time.Millisecond
		c.Raft.ElectionTimeout = 400 * time.Millisecond
		c.Raft.LeaderLeaseTimeout = 200 * time.Millisecond
	}
	n1 := startServer(t, func(c *Config) { calm(c); c.Raft.NodeID = "n1" })
	b1 := opsServer(t, n1)
	waitReady(t, b1, 200)
	resp, err := http.Get(b1 + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	n2 := startServer(t, func(c *Config) {
		calm(c)
		c.Raft.NodeID = "n2"
		c.Raft.Bootstrap = false
		c.Raft.LeaderWait = 2 * time.Second
		c.Join = n1.Node().RaftAddr()
	})
	b2 := opsServer(t, n2)
	// The follower is ready once it has joined, knows the leader and has
	// caught up.
	waitReady(t, b2, 200)
	f := client(t, n2.Addr().String(), 2)
	before := scrapeMetrics(t, b2)
	// A write through the follower is forwarded to the leader (tried again
	// if a busy machine made leadership change meanwhile).
	tries, failed := 0, 0
	for deadline := time.Now().Add(10 * time.Second); ; {
		tries++
		err := f.Set(context.Background(), "via-follower", "1", 0).Err()
		if err == nil {
			break
		}
		failed++
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	after := scrapeMetrics(t, b2)
	if d := after.value("keepkv_forwarded_commands_total") - before.value("keepkv_forwarded_commands_total"); d < 1 || d > float64(tries) {
		t.Errorf("follower's keepkv_forwarded_commands_total moved by %v, want 1 to %d", d, tries)
	}
	if d := after.value("keepkv_commands_total", "cmd=set") - before.value("keepkv_commands_total", "cmd=set"); d != float64(tries) {
		t.Errorf("follower's keepkv_commands_total{cmd=set} moved by %v, want %d", d, tries)
	}
	if d := after.value("keepkv_command_errors_total", "cmd=set") - before.value("keepkv_command_errors_total", "cmd=set"); d != float64(failed) {
		t.Errorf("follower's keepkv_command_errors_total{cmd=set} moved by %v, want %d", d, failed)
	}
	if after.value("keepkv_raft_leader") != 0 || after.value("keepkv_raft_has_leader") != 1 {
		t.Error("follower's leader gauges are wrong")
	}
	changes := after.value("keepkv_raft_leader_changes_total")
	// The leader stops: it hands leadership to n2 on its way out, but a
	// two-node cluster without n1 has no quorum, so n2 cannot commit as
	// leader (not ready), steps down and is left without a leader.
	n1.Close()
	waitReady(t, b2, 503, "no leader")
	// n2 may still pass through a moment of leadership of its own (the
	// hand-off) before it steps down: the gauge follows Raft, so poll it.
	var last scrape
	for deadline := time.Now().Add(10 * time.Second); ; {
		last = scrapeMetrics(t, b2)
		if last.value("keepkv_raft_has_leader") == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("keepkv_raft_has_leader still 1 without a leader")
		}
		time.Sleep(20 * time.Millisecond) // Raft's state: poll it
	}
	if last.value("keepkv_raft_leader_changes_total") <= changes {
		t.Error("keepkv_raft_leader_changes_total did not count the loss of the leader")
	}
	// Liveness does not depend on the cluster.
	resp, err = http.Get(b2 + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz without a leader: %v %v", resp, err)
	}
	resp.Body.Close()
}

// BenchmarkCommandMetrics is what the per-command metrics add to every
// command: the timing taken around it and its recording.
func BenchmarkCommandMetrics(b *testing.B) {
	s := newServer(Config{Dir: b.TempDir()}.withDefaults())
	p := pipeline{s: s, st: &connState{}}
	cmd := s.table.lookup([]byte("get"))
	b.ReportAllocs()
	for b.Loop() {
		p.endCmd(p.startCmd(cmd))
	}
	if cmd.met.calls.Load() == 0 {
		b.Fatal("nothing recorded")
	}
}
