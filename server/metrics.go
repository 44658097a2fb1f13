package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gometrics "github.com/hashicorp/go-metrics/compat"
	gmprom "github.com/hashicorp/go-metrics/compat/prometheus"
	"github.com/keepkv/keepkv/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The operational endpoints, served on the HTTP front end's listener:
//
//   - /metrics: Prometheus exposition of this node's registry (a registry
//     per node, so several nodes in one process keep apart), plus
//     hashicorp/raft's own go-metrics through the go-metrics Prometheus
//     sink (see raftSink);
//   - /healthz: 200 while the process serves;
//   - /readyz: 200 once the node may serve reads: it knows a leader, and
//     has applied what was committed when it first heard from one (what a
//     stale read waits for, replication.Node.CatchUp); a leader must also
//     have applied everything committed before its term. Otherwise 503
//     with the reason.
//
// Most figures are read when Prometheus scrapes, from the counters INFO
// already shows (server stats, storage and Raft state): only the
// per-command metrics (metrics_cmd.go) and the timings below are recorded
// as things happen.

// nodeMetrics is a node's registry and the metrics recorded as things
// happen.
type nodeMetrics struct {
	reg     *prometheus.Registry
	unknown *cmdMetrics // commands not in the table

	// httpClients is the HTTP front end's open connections: it adds 1 on
	// accept and -1 on close (keepkv_connected_clients{frontend="http"}).
	httpClients atomic.Int64
	// forwarded counts commands this follower sent to the leader.
	forwarded atomic.Uint64
	// settled counts local entries whose leadership ended under them, by
	// what settle found: applied, resent, unknown (settle.go).
	settledApplied, settledResent, settledUnknown atomic.Uint64
	// applyErrors counts applied commands whose result was an error.
	applyErrors atomic.Uint64

	// The write path's batching, for INFO persistence and the
	// keepkv_write_path_* counters: appends to the Raft log store (each
	// fsyncs; logSyncs per append), the entries they wrote, the entries
	// and commands applied, and the checkpoints (two fdatasyncs each: a
	// bbolt commit syncs its pages, then its meta page).
	logSyncs        uint64
	logAppends      atomic.Uint64
	logEntries      atomic.Uint64
	appliedEntries  atomic.Uint64
	appliedCommands atomic.Uint64
	checkpoints     atomic.Uint64

	propose        prometheus.Histogram
	applyBatch     prometheus.Histogram
	batchEntries   prometheus.Histogram
	batchCommands  prometheus.Histogram
	storeLogs      prometheus.Histogram
	checkpoint     prometheus.Histogram
	checkpointSize prometheus.Counter
}

func newNodeMetrics(s *Server) *nodeMetrics {
	m := &nodeMetrics{reg: prometheus.NewRegistry(), unknown: newCmdMetrics("unknown"), logSyncs: 2}
	if s.cfg.Raft.LogStoreKind == "wal" {
		m.logSyncs = 1 // raft-wal fsyncs a segment once per append
	}
	lat := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: cmdLatencyBuckets})
	}
	sizes := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: prometheus.ExponentialBuckets(1, 4, 9)})
	}
	m.propose = lat("keepkv_raft_propose_duration_seconds", "Time from proposing a client log entry (a pipeline's writes, an EXEC) to its result on this leader: Raft commit plus apply.")
	m.applyBatch = lat("keepkv_raft_apply_duration_seconds", "Time to apply one batch of committed entries to the state.")
	m.batchEntries = sizes("keepkv_raft_apply_batch_entries", "Log entries per applied batch.")
	m.batchCommands = sizes("keepkv_raft_apply_batch_commands", "Commands per applied batch.")
	m.storeLogs = lat("keepkv_raft_log_store_duration_seconds", "Time to write (and fsync) entries to the Raft log store.")
	m.checkpoint = lat("keepkv_checkpoint_duration_seconds", "Time of one checkpoint of applied changes to the state file (bbolt commit and fsync).")
	m.checkpointSize = prometheus.NewCounter(prometheus.CounterOpts{Name: "keepkv_checkpoint_bytes_total", Help: "Bytes of applied changes written by checkpoints."})
	m.reg.MustRegister(m.propose, m.applyBatch, m.batchEntries, m.batchCommands, m.storeLogs, m.checkpoint, m.checkpointSize,
		newCmdCollector(s.table, m.unknown), &nodeCollector{s: s},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// onApplied records an applied batch (on the FSM goroutine).
func (m *nodeMetrics) onApplied(a storage.Applied) {
	cmds, errs := 0, 0
	count := func(res []storage.Result) {
		cmds += len(res)
		for i := range res {
			if res[i].Kind == storage.ResultErr {
				errs++
			}
		}
	}
	for _, res := range a.Results {
		count(res)
	}
	for _, parts := range a.Parts {
		for _, res := range parts {
			count(res)
		}
	}
	m.batchEntries.Observe(float64(len(a.Results)))
	m.batchCommands.Observe(float64(cmds))
	m.appliedEntries.Add(uint64(len(a.Results)))
	m.appliedCommands.Add(uint64(cmds))
	if errs > 0 {
		m.applyErrors.Add(uint64(errs))
	}
}

// proposed records a client entry's time from proposal to result.
func (m *nodeMetrics) proposed(d time.Duration) {
	if m != nil {
		m.propose.Observe(d.Seconds())
	}
}

// settledN counts an entry settle settled (or could not).
func (m *nodeMetrics) settledN(outcome string) {
	if m == nil {
		return
	}
	switch outcome {
	case "applied":
		m.settledApplied.Add(1)
	case "resent":
		m.settledResent.Add(1)
	default:
		m.settledUnknown.Add(1)
	}
}

// settled returns settleN's counts.
func (m *nodeMetrics) settled() (applied, resent, unknown uint64) {
	if m == nil {
		return 0, 0, 0
	}
	return m.settledApplied.Load(), m.settledResent.Load(), m.settledUnknown.Load()
}

// forwardedN counts commands sent to the leader.
func (m *nodeMetrics) forwardedN(n int) {
	if m != nil {
		m.forwarded.Add(uint64(n))
	}
}

func (m *nodeMetrics) onStoreLogs(n int, d time.Duration) {
	m.storeLogs.Observe(d.Seconds())
	m.logAppends.Add(1)
	m.logEntries.Add(uint64(n))
}

func (m *nodeMetrics) onApplyBatch(_ int, d time.Duration) { m.applyBatch.Observe(d.Seconds()) }
func (m *nodeMetrics) onCheckpoint(d time.Duration, bytes int64) {
	m.checkpoints.Add(1)
	m.checkpoint.Observe(d.Seconds())
	m.checkpointSize.Add(float64(bytes))
}

// writePath is the write path's batching so far: what INFO persistence
// prints and /metrics exports.
type writePath struct {
	logAppends, logEntries, appliedEntries, appliedCommands uint64
	logFsyncs, checkpointFsyncs                             uint64
}

func (m *nodeMetrics) writePath() writePath {
	w := writePath{logAppends: m.logAppends.Load(), logEntries: m.logEntries.Load(),
		appliedEntries: m.appliedEntries.Load(), appliedCommands: m.appliedCommands.Load()}
	w.logFsyncs = w.logAppends * m.logSyncs
	w.checkpointFsyncs = 2 * m.checkpoints.Load()
	return w
}

// ratio formats a/b with three decimals, 0 when b is 0.
func ratio(a, b uint64) string {
	if b == 0 {
		return "0.000"
	}
	return strconv.FormatFloat(float64(a)/float64(b), 'f', 3, 64)
}

// info is INFO persistence's view of it: totals, and the averages since
// start (commands per entry, entries per log append, fdatasyncs per
// applied command).
func (w writePath) info() [][2]string {
	return [][2]string{
		{"keepkv_log_appends", u64s(w.logAppends)}, {"keepkv_log_entries", u64s(w.logEntries)},
		{"keepkv_applied_entries", u64s(w.appliedEntries)}, {"keepkv_applied_commands", u64s(w.appliedCommands)},
		{"keepkv_log_fsyncs", u64s(w.logFsyncs)}, {"keepkv_checkpoint_fsyncs", u64s(w.checkpointFsyncs)},
		{"keepkv_commands_per_entry", ratio(w.appliedCommands, w.appliedEntries)},
		{"keepkv_entries_per_log_append", ratio(w.logEntries, w.logAppends)},
		{"keepkv_fsyncs_per_command", ratio(w.logFsyncs+w.checkpointFsyncs, w.appliedCommands)},
	}
}

// raftSink routes hashicorp/raft's go-metrics (raft.commitTime,
// raft.fsm.applyBatch, raft.replication.*, raft.boltdb.* …) into
// Prometheus, as keepkv_raft_* summaries and gauges (timers in
// milliseconds). go-metrics has one global sink per process, so it is set
// up once, and every node's registry exports the same sink: nodes that
// share a process (tests) share these figures. It is set up when a node
// first serves /metrics: until then Raft's metrics go to go-metrics'
// default no-op sink and cost nothing.
var raftSink = sync.OnceValue(func() prometheus.Collector {
	sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{
		Name:       "keepkv_go_metrics_sink",
		Expiration: 5 * time.Minute,
		Registerer: prometheus.NewRegistry(), // not the global default
	})
	if err != nil {
		return nil
	}
	conf := gometrics.DefaultConfig("keepkv")
	conf.EnableHostname = false
	conf.EnableHostnameLabel = false
	conf.EnableRuntimeMetrics = false // the Go collector has them
	if _, err := gometrics.NewGlobal(conf, sink); err != nil {
		return nil
	}
	return sink
})

// opsRoutes mounts /metrics, /healthz and /readyz on the HTTP front end's
// mux. They need no token: they show no keys or values.
func (s *Server) opsRoutes(mux *http.ServeMux) {
	if sink := raftSink(); sink != nil {
		_ = s.metrics.reg.Register(sink) // already registered if mounted twice
	}
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", s.serveReady)
}

// readyWait bounds how long /readyz waits for the node to catch up.
const readyWait = 100 * time.Millisecond

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if reason := s.notReady(r.Context()); reason != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, reason)
		return
	}
	fmt.Fprintln(w, "ready")
}

// notReady returns why the node may not serve reads now, or "".
func (s *Server) notReady(ctx context.Context) string {
	if s.node == nil {
		return "starting"
	}
	st := s.node.Status()
	switch {
	case st.Leader == "":
		return "no leader known (raft state " + st.State + ")"
	case s.node.IsLeader() && !st.Ready:
		return "leader still applying the entries committed before its term"
	}
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	if err := s.node.CatchUp(ctx); err != nil {
		return "catching up: applied index " + strconv.FormatUint(s.db.AppliedIndex(), 10) +
			", commit index " + strconv.FormatUint(st.CommitIndex, 10)
	}
	return ""
}

// nodeCollector reads, at scrape time, the figures the node already keeps
// for INFO: Raft state, storage counters, clients, expiry.
type nodeCollector struct{ s *Server }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dInfo           = desc("keepkv_build_info", "keepkv's version and the Redis version it reports.", "version", "redis_version")
	dCommitIndex    = desc("keepkv_raft_commit_index", "Raft commit index known to this node.")
	dAppliedIndex   = desc("keepkv_raft_applied_index", "Log index applied to this node's state.")
	dLastIndex      = desc("keepkv_raft_last_index", "Last index in this node's Raft log.")
	dFirstIndex     = desc("keepkv_raft_first_index", "Oldest index this node's Raft log keeps (0: empty).")
	dTrailingLogs   = desc("keepkv_raft_trailing_logs", "Log entries the next compaction keeps: --trailing-logs, or fewer under --trailing-log-bytes.")
	dDurableIndex   = desc("keepkv_checkpoint_index", "Applied index already checkpointed to the state file.")
	dTerm           = desc("keepkv_raft_term", "Current Raft term.")
	dLeader         = desc("keepkv_raft_leader", "1 while this node is the leader and ready to serve.")
	dHasLeader      = desc("keepkv_raft_has_leader", "1 while this node knows a leader.")
	dMembers        = desc("keepkv_raft_members", "Servers in the Raft configuration.", "suffrage")
	dLastContact    = desc("keepkv_raft_last_contact_seconds", "Time since this follower last heard from the leader.")
	dLeaderChanges  = desc("keepkv_raft_leader_changes_total", "Leader changes this node observed (to another node, or to none).")
	dForwarded      = desc("keepkv_forwarded_commands_total", "Commands this node forwarded to the leader.")
	dSettled        = desc("keepkv_settled_entries_total", "Entries of this node's clients whose leadership ended before they were answered, by what became of them: applied (found in the log), resent (never committed, proposed again), unknown (the client heard TRYAGAIN).", "outcome")
	dApplyErrors    = desc("keepkv_apply_errors_total", "Applied commands whose result was an error (WRONGTYPE, overflow, a script error…).")
	dApplyPanics    = desc("keepkv_apply_panics_total", "Commands that panicked in apply and were rolled back.")
	dPending        = desc("keepkv_checkpoint_backlog_bytes", "Bytes of applied changes waiting for a checkpoint.")
	dBacklogWaits   = desc("keepkv_checkpoint_backlog_waits_total", "Applies that waited for a checkpoint because the backlog was full.")
	dPrefetched     = desc("keepkv_replay_prefetched_keys_total", "Keys read ahead, in parallel, for log entries replayed after a restart.")
	dStateFile      = desc("keepkv_state_file_bytes", "Size of the state file.")
	dStateUsed      = desc("keepkv_state_used_bytes", "Bytes of the state in use (file in use plus the checkpoint backlog).")
	dGarbage        = desc("keepkv_gc_pending_collections", "Deleted collections whose elements wait for background cleanup.")
	dKeys           = desc("keepkv_keys", "Keys per database.", "db")
	dExpiring       = desc("keepkv_keys_with_expiry", "Keys with a deadline, per database.", "db")
	dKeysByType     = desc("keepkv_keys_by_type", "Keys per database and type (string, list, hash, set, zset); like keepkv_keys, it counts keys past their deadline whose delete has not applied yet.", "db", "type")
	dExpired        = desc("keepkv_expired_keys_total", "Keys deleted by expiry, proposed by this node while leader.")
	dExpiryBacklog  = desc("keepkv_expiry_backlog_keys", "Keys past their deadline that this leader has not deleted yet (they already read as absent).")
	dExpiryWheel    = desc("keepkv_expiry_scheduled_keys", "Deadlines within the expiry horizon held by this leader's timing wheel.")
	dExpiryPaced    = desc("keepkv_expiry_paced_waits_total", "Expiry waves that waited for a checkpoint.")
	dClients        = desc("keepkv_connected_clients", "Open client connections, by front end.", "frontend")
	dBlocked        = desc("keepkv_blocked_clients", "Clients blocked in BLPOP and the like, or held by CLIENT PAUSE.")
	dConnections    = desc("keepkv_connections_received_total", "Client connections accepted.")
	dRejected       = desc("keepkv_rejected_connections_total", "Client connections refused (max clients, protected mode).")
	dHits           = desc("keepkv_keyspace_hits_total", "Key lookups that found the key.")
	dMisses         = desc("keepkv_keyspace_misses_total", "Key lookups that did not.")
	dIterCancelled  = desc("keepkv_iterations_cancelled_total", "KEYS/SCAN runs that ended because their client went away.")
	dLogAppends     = desc("keepkv_raft_log_appends_total", "Writes to the Raft log store (each one fsyncs).")
	dLogEntries     = desc("keepkv_raft_log_entries_total", "Log entries written to the Raft log store.")
	dAppliedEntries = desc("keepkv_applied_entries_total", "Log entries applied to the state.")
	dAppliedCmds    = desc("keepkv_applied_commands_total", "Commands applied to the state (a pipeline's writes, an EXEC, a script's entry hold several).")
	dFsyncs         = desc("keepkv_fsyncs_total", "fdatasyncs by file, counted per commit: the Raft log (raft-boltdb: 2 per append, raft-wal: 1) and the state file (2 per checkpoint).", "file")
	nodeCollectorDs = []*prometheus.Desc{dInfo, dCommitIndex, dAppliedIndex, dLastIndex, dFirstIndex, dTrailingLogs, dDurableIndex, dTerm, dLeader, dHasLeader,
		dMembers, dLastContact, dLeaderChanges, dForwarded, dSettled, dApplyErrors, dApplyPanics, dPending, dBacklogWaits, dPrefetched, dStateFile,
		dStateUsed, dGarbage, dKeys, dExpiring, dKeysByType, dExpired, dExpiryBacklog, dExpiryWheel, dExpiryPaced, dClients, dBlocked,
		dConnections, dRejected, dHits, dMisses, dIterCancelled, dLogAppends, dLogEntries, dAppliedEntries, dAppliedCmds, dFsyncs}
)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range nodeCollectorDs {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	gauge(dInfo, 1, KeepkvVersion, Version)
	m := s.metrics
	counter(dForwarded, float64(m.forwarded.Load()))
	applied, resent, unknown := m.settled()
	counter(dSettled, float64(applied), "applied")
	counter(dSettled, float64(resent), "resent")
	counter(dSettled, float64(unknown), "unknown")
	counter(dApplyErrors, float64(m.applyErrors.Load()))
	wp := m.writePath()
	counter(dLogAppends, float64(wp.logAppends))
	counter(dLogEntries, float64(wp.logEntries))
	counter(dAppliedEntries, float64(wp.appliedEntries))
	counter(dAppliedCmds, float64(wp.appliedCommands))
	counter(dFsyncs, float64(wp.logFsyncs), "raft-log")
	counter(dFsyncs, float64(wp.checkpointFsyncs), "state")
	st := &s.stats
	counter(dExpired, float64(st.expired.Load()))
	counter(dExpiryPaced, float64(st.expirePaced.Load()))
	counter(dConnections, float64(st.connections.Load()))
	counter(dRejected, float64(st.rejected.Load()))
	counter(dHits, float64(st.hits.Load()))
	counter(dMisses, float64(st.misses.Load()))
	counter(dIterCancelled, float64(st.iterationsCancelled.Load()))
	s.clientsMu.Lock()
	resp := len(s.clients)
	s.clientsMu.Unlock()
	gauge(dClients, float64(resp), "resp")
	gauge(dClients, float64(m.httpClients.Load()), "http")
	gauge(dBlocked, float64(s.blockedClients()))
	if s.exp != nil {
		backlog, wheel := s.exp.gauges()
		gauge(dExpiryBacklog, float64(backlog))
		gauge(dExpiryWheel, float64(wheel))
	}
	if db := s.db; db != nil {
		gauge(dAppliedIndex, float64(db.AppliedIndex()))
		gauge(dDurableIndex, float64(db.DurableIndex()))
		counter(dApplyPanics, float64(db.ApplyPanics()))
		gauge(dPending, float64(db.PendingBytes()))
		counter(dBacklogWaits, float64(db.BacklogWaits()))
		counter(dPrefetched, float64(db.PrefetchedKeys()))
		gauge(dStateFile, float64(db.Size()))
		gauge(dStateUsed, float64(db.UsedBytes()))
		gauge(dGarbage, float64(db.GarbageCount()))
		types := storage.KeyTypes()
		for i := range storage.NumDBs {
			n := strconv.Itoa(i)
			gauge(dKeys, float64(db.KeyCount(uint8(i))), n)
			gauge(dExpiring, float64(db.ExpiresCount(uint8(i))), n)
			for t, count := range db.KeysByType(uint8(i)) {
				gauge(dKeysByType, float64(count), n, types[t].String())
			}
		}
	}
	if s.node == nil {
		return
	}
	ns := s.node.Status()
	gauge(dCommitIndex, float64(ns.CommitIndex))
	gauge(dLastIndex, float64(ns.LastIndex))
	gauge(dFirstIndex, float64(ns.FirstIndex))
	gauge(dTrailingLogs, float64(ns.TrailingLogs))
	gauge(dTerm, float64(ns.Term))
	gauge(dLeader, b2f(ns.Ready))
	gauge(dHasLeader, b2f(ns.Leader != ""))
	voters := 0
	for _, mb := range ns.Members {
		if mb.Voter {
			voters++
		}
	}
	gauge(dMembers, float64(voters), "voter")
	gauge(dMembers, float64(len(ns.Members)-voters), "nonvoter")
	if !ns.LastContact.IsZero() && !s.node.IsLeader() {
		gauge(dLastContact, time.Since(ns.LastContact).Seconds())
	}
	counter(dLeaderChanges, float64(s.node.LeaderChanges()))
}
