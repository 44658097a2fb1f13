package server

import (
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Per-command metrics: calls, errors and latency by command name, for the
// commands clients send (to any front end that runs them through
// pipeline.intercept). A command's latency runs from its dispatch to the
// moment its reply is written, so a write's includes its Raft commit and
// apply, a forwarded command's the round trip to the leader, and a
// blocking command's the time it blocked. A command counts as failed when
// its reply is, or contains, an error. Commands that peers forward to this
// node are counted on the node the client is connected to, not here; the
// commands queued in MULTI count as EXEC.
//
// The hot path costs one clock reading (a command starts when the one
// before it in the pipeline ended; commands answered together share the
// reading taken when their replies are written), two atomic adds and a
// histogram observation: every command's counters are made when the
// server is built (command.met), so a call looks nothing up and allocates
// nothing.

// cmdLatencyBuckets span a read served from memory (tens of µs) to a
// write that waited out an election (seconds).
var cmdLatencyBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

type cmdMetrics struct {
	name  string
	calls atomic.Uint64
	errs  atomic.Uint64
	dur   prometheus.Histogram
}

func newCmdMetrics(name string) *cmdMetrics {
	return &cmdMetrics{name: name, dur: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "keepkv_command_duration_seconds",
		Help:        "Time from a command's dispatch to its reply, by command (writes include the Raft commit and apply).",
		ConstLabels: prometheus.Labels{"cmd": name},
		Buckets:     cmdLatencyBuckets,
	})}
}

// cmdTiming is a command in flight: it ends when its reply is written.
type cmdTiming struct {
	m      *cmdMetrics
	start  time.Time
	failed bool // set by a flush that records it after a batch
}

// done records the command, ended at now; a zero timing (a command that
// did not pass through intercept) records nothing.
func (t cmdTiming) done(now time.Time, failed bool) {
	if t.m == nil {
		return
	}
	t.m.calls.Add(1)
	if failed {
		t.m.errs.Add(1)
	}
	t.m.dur.Observe(now.Sub(t.start).Seconds())
}

// now reads the clock for the metrics; the next command starts then.
func (p *pipeline) now() time.Time {
	p.clock = time.Now()
	return p.clock
}

// cmdMark is what startCmd saw of the pipeline before a command ran.
type cmdMark struct {
	t          cmdTiming
	nw, nr, nf int
	errs       uint32
}

// startCmd starts timing a command (nil: an unknown one).
func (p *pipeline) startCmd(cmd *command) cmdMark {
	var m *cmdMetrics
	switch {
	case cmd != nil && cmd.met != nil && (cmd.flags&flagInternal == 0 || p.st.internal):
		m = cmd.met // an internal command sent by a client is unknown to it
	case p.s.metrics != nil:
		m = p.s.metrics.unknown
	}
	start := p.clock
	if start.IsZero() {
		start = p.now()
	}
	return cmdMark{t: cmdTiming{m: m, start: start}, nw: len(p.writes), nr: len(p.reads), nf: len(p.fwd), errs: p.st.w.errs}
}

// endCmd records a command that ran, or hands its timing to the pending
// write, read or forward it became: one run appends at most one, after
// any flush it causes, so a queue that grew ends with it. The flushes
// record it once its reply is written.
func (p *pipeline) endCmd(k cmdMark) {
	switch {
	case len(p.writes) > k.nw:
		p.writes[len(p.writes)-1].t = k.t
	case len(p.reads) > k.nr:
		p.reads[len(p.reads)-1].t = k.t
	case len(p.fwd) > k.nf:
		if len(p.fwdT) == len(p.fwd)-1 {
			p.fwdT = append(p.fwdT, k.t)
		}
	default:
		k.t.done(p.now(), p.st.w.errs != k.errs)
	}
}

// cmdCollector exports the per-command metrics of the commands that have
// been called at least once, so an idle command adds no series.
type cmdCollector struct {
	cmds          []*cmdMetrics // sorted by name; unknown last
	calls, errors *prometheus.Desc
}

func newCmdCollector(table commandTable, unknown *cmdMetrics) *cmdCollector {
	c := &cmdCollector{
		calls:  prometheus.NewDesc("keepkv_commands_total", "Commands run, by command (\"unknown\": no such command).", []string{"cmd"}, nil),
		errors: prometheus.NewDesc("keepkv_command_errors_total", "Commands whose reply is or contains an error, by command.", []string{"cmd"}, nil),
	}
	for name, cmd := range table {
		cmd.met = newCmdMetrics(name)
		c.cmds = append(c.cmds, cmd.met)
	}
	sort.Slice(c.cmds, func(i, j int) bool { return c.cmds[i].name < c.cmds[j].name })
	c.cmds = append(c.cmds, unknown)
	return c
}

func (c *cmdCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.calls
	ch <- c.errors
	for _, m := range c.cmds {
		ch <- m.dur.Desc()
	}
}

func (c *cmdCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.cmds {
		calls := m.calls.Load()
		if calls == 0 {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(calls), m.name)
		ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(m.errs.Load()), m.name)
		ch <- m.dur
	}
}
