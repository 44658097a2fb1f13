package replication

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/keepkv/keepkv/storage"
)

func testLogger(t testing.TB, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Output: testWriter{t}, Level: hclog.Warn})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

type diskNode struct {
	dir  string
	db   *storage.DB
	node *Node
}

// startDiskNode starts a single node with real on-disk stores in dir.
func startDiskNode(t *testing.T, dir string, tweak func(*Config)) *diskNode {
	t.Helper()
	return startDiskNodeWith(t, dir, storage.Options{InitialMmapSize: 1 << 24}, tweak)
}

func startDiskNodeWith(t *testing.T, dir string, opts storage.Options, tweak func(*Config)) *diskNode {
	t.Helper()
	db, err := storage.Open(filepath.Join(dir, "state.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		NodeID: "n1", Dir: filepath.Join(dir, "raft"), RaftBind: "127.0.0.1:0", Bootstrap: true,
		Logger:           testLogger(t, "n1"),
		HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	n, err := New(cfg, db)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return &diskNode{dir: dir, db: db, node: n}
}

func (d *diskNode) stop(t *testing.T) {
	t.Helper()
	if err := d.node.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.db.Close(); err != nil {
		t.Fatal(err)
	}
}

func incrEntry(key string) []byte {
	e := storage.Entry{Now: 1, Cmds: []storage.Cmd{{Op: storage.OpIncrBy, Keys: [][]byte{[]byte(key)}, Int: 1}}}
	return e.Encode()
}

func readKey(t *testing.T, db *storage.DB, key string) string {
	t.Helper()
	var v string
	db.View(func(r *storage.Reader) error {
		val, _ := r.Get(0, []byte(key), 1)
		v = string(val.Data)
		return nil
	})
	return v
}

func TestSingleNodeWritesSurviveRestart(t *testing.T) {
	for _, kind := range []string{"bolt", "wal"} {
		for _, group := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/group-commit=%v", kind, group), func(t *testing.T) { testWritesSurviveRestart(t, kind, group) })
		}
	}
}

func testWritesSurviveRestart(t *testing.T, kind string, group bool) {
	dir := t.TempDir()
	withKind := func(c *Config) { c.LogStoreKind, c.GroupCommit = kind, group }
	d := startDiskNode(t, dir, withKind)
	ctx := context.Background()
	props := make([]*Proposal, 0, 200)
	for range 200 {
		props = append(props, d.node.Propose(ctx, incrEntry("n")))
	}
	// Waited for in reverse: a queued proposal's Wait blocks until its
	// round starts, and rounds start without anybody waiting.
	for i := len(props) - 1; i >= 0; i-- {
		res, err := props[i].Wait()
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Int != int64(i+1) {
			t.Fatalf("proposal %d: INCR = %d (proposals applied out of order)", i, res[0].Int)
		}
	}
	// With group commit the proposals queued behind the first round go to
	// Raft as a few log entries (storage/group.go), each proposal still
	// getting its own result (above).
	if last := d.node.raft.LastIndex(); group && last > 20 {
		t.Fatalf("200 proposals took %d log entries with group commit", last)
	}
	d.stop(t)

	// The other kind of log store is refused on this data dir: it would
	// start from an empty log beside the full one.
	other := map[string]string{"bolt": "wal", "wal": "bolt"}[kind]
	db, err := storage.Open(filepath.Join(dir, "state.db"), storage.Options{InitialMmapSize: 1 << 24})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{NodeID: "n1", Dir: filepath.Join(dir, "raft"), RaftBind: "127.0.0.1:0", Logger: testLogger(t, "n1"), LogStoreKind: other}
	if n, err := New(cfg, db); err == nil {
		n.Close()
		t.Fatalf("a %s data dir opened with LogStoreKind %q", kind, other)
	}
	db.Close()

	// Restart: the log is replayed, but every entry is at or below bbolt's
	// applied index, so INCR must not be applied twice.
	d = startDiskNode(t, dir, withKind)
	defer d.stop(t)
	if err := d.node.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	if v := readKey(t, d.db, "n"); v != "200" {
		t.Fatalf("after restart n = %q, want 200", v)
	}
	res, err := d.node.Apply(ctx, incrEntry("n"))
	if err != nil || res[0].Int != 201 {
		t.Fatalf("INCR after restart = %+v, %v", res, err)
	}
}

func TestRestoresSnapshotWhenStateIsBehindIt(t *testing.T) {
	dir := t.TempDir()
	d := startDiskNode(t, dir, func(c *Config) { c.TrailingLogs = 1 })
	ctx := context.Background()
	for range 10 {
		if _, err := d.node.Apply(ctx, incrEntry("n")); err != nil {
			t.Fatal(err)
		}
	}
	// Keep a copy of bbolt as it was at n=10, then advance and snapshot, so
	// the log before the snapshot is compacted away.
	d.db.Close()
	old, err := os.ReadFile(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	d.node.Close()
	d = startDiskNode(t, dir, func(c *Config) { c.TrailingLogs = 1 })
	for range 10 {
		if _, err := d.node.Apply(ctx, incrEntry("n")); err != nil {
			t.Fatal(err)
		}
	}
	// Receive the state as a follower does: the full stream, stored in
	// the file snapshot store (which replaces the local marker).
	f := d.node.Raft().Snapshot()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	receiveSnapshot(t, f, filepath.Join(dir, "raft"))
	d.stop(t)
	// Simulate a crash in the middle of the install: bbolt is older than
	// the newest snapshot, whose entries are gone from the log.
	if err := os.WriteFile(filepath.Join(dir, "state.db"), old, 0o600); err != nil {
		t.Fatal(err)
	}
	d = startDiskNode(t, dir, func(c *Config) { c.TrailingLogs = 1 })
	defer d.stop(t)
	if err := d.node.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	if v := readKey(t, d.db, "n"); v != "20" {
		t.Fatalf("n = %q after restart behind a snapshot, want 20", v)
	}
}

// receiveSnapshot copies the snapshot f into a file snapshot store in dir,
// as a follower's InstallSnapshot does.
func receiveSnapshot(t *testing.T, f raft.SnapshotFuture, dir string) {
	t.Helper()
	meta, rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	store, err := raft.NewFileSnapshotStore(dir, 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, trans := raft.NewInmemTransport("")
	sink, err := store.Create(meta.Version, meta.Index, meta.Term, meta.Configuration, meta.ConfigurationIndex, trans)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(sink, rc); err != nil || n != meta.Size {
		t.Fatalf("received %d of %d bytes: %v", n, meta.Size, err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
}

// A local snapshot is a 16-byte marker, whatever the size of the state;
// opening it streams the full state, which restores to the same data.
func TestLocalSnapshotIsAMarkerAndOpensAsTheFullState(t *testing.T) {
	dir := t.TempDir()
	d := startDiskNode(t, dir, nil)
	defer d.stop(t)
	ctx := context.Background()
	for i := range 50 {
		e := storage.Entry{Now: 1, Cmds: []storage.Cmd{{Op: storage.OpSet, Keys: [][]byte{[]byte(fmt.Sprintf("k%d", i))}, Vals: [][]byte{bytes.Repeat([]byte("v"), 10000)}}}}
		if _, err := d.node.Apply(ctx, e.Encode()); err != nil {
			t.Fatal(err)
		}
	}
	f := d.node.Raft().Snapshot()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "raft", "snapshots", "*", "state.bin"))
	if len(files) != 1 {
		t.Fatalf("snapshot files %v, want one", files)
	}
	if st, err := os.Stat(files[0]); err != nil || st.Size() != markerSize {
		t.Fatalf("local snapshot on disk: %v, %v; want a %d-byte marker", st, err, markerSize)
	}
	meta, rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if meta.Size < 500000 {
		t.Fatalf("opened snapshot announces %d bytes; the state holds 500 kB of values", meta.Size)
	}
	fresh, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	counted := &countingReader{r: rc}
	if err := fresh.Restore(counted); err != nil {
		t.Fatal(err)
	}
	if counted.n != meta.Size {
		t.Fatalf("stream had %d bytes, metadata said %d", counted.n, meta.Size)
	}
	want, _ := d.db.Digest()
	if got, _ := fresh.Digest(); got != want || fresh.AppliedIndex() != d.db.AppliedIndex() {
		t.Fatalf("restored digest %s at %d, want %s at %d", got, fresh.AppliedIndex(), want, d.db.AppliedIndex())
	}
}

// A snapshot a crash left half received is deleted on the next start;
// finished snapshots are kept.
func TestStartRemovesUnfinishedSnapshots(t *testing.T) {
	dir := t.TempDir()
	d := startDiskNode(t, dir, nil)
	if _, err := d.node.Apply(context.Background(), incrEntry("n")); err != nil {
		t.Fatal(err)
	}
	if err := d.node.Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	d.stop(t)
	snapDir := filepath.Join(dir, "raft", "snapshots")
	finished, _ := filepath.Glob(filepath.Join(snapDir, "*", "meta.json"))
	partial := filepath.Join(snapDir, "2-7-1795407569061.tmp")
	if err := os.MkdirAll(partial, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(partial, "state.bin"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}

	d = startDiskNode(t, dir, nil)
	defer d.stop(t)
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Fatalf("unfinished snapshot still there after restart: %v", err)
	}
	for _, f := range finished {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("finished snapshot removed: %v", err)
		}
	}
	if len(finished) == 0 {
		t.Fatal("the setup took no snapshot")
	}
	if got := readKey(t, d.db, "n"); got != "1" {
		t.Fatalf("after restart n = %q, want 1", got)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestSnapshotHeaderIndexIsWhatBboltHeld(t *testing.T) {
	d := startDiskNode(t, t.TempDir(), nil)
	defer d.stop(t)
	ctx := context.Background()
	if _, err := d.node.Apply(ctx, incrEntry("n")); err != nil {
		t.Fatal(err)
	}
	// A barrier adds an entry that never reaches the FSM.
	if err := d.node.Raft().Barrier(0).Error(); err != nil {
		t.Fatal(err)
	}
	f := d.node.Raft().Snapshot()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	meta, rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	idx, err := storage.ReadSnapshotHeader(rc)
	if err != nil {
		t.Fatal(err)
	}
	if idx != d.db.AppliedIndex() || meta.Index <= idx {
		t.Fatalf("snapshot raft index %d, contains %d, bbolt %d", meta.Index, idx, d.db.AppliedIndex())
	}
	io.Copy(io.Discard, rc)
}

// memCluster is an in-memory Raft cluster over raft's in-memory transport,
// each node with its own on-disk bbolt state.
type memCluster struct {
	nodes []*Node
	dbs   []*storage.DB
	trans []*raft.InmemTransport
}

func newMemCluster(t *testing.T, n int) *memCluster {
	t.Helper()
	c := &memCluster{}
	var servers []raft.Server
	for i := range n {
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("node%d", i)))
		c.trans = append(c.trans, tr)
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprintf("node%d", i)), Address: addr, Suffrage: raft.Voter})
	}
	for i := range c.trans {
		for j := range c.trans {
			if i != j {
				c.trans[i].Connect(c.trans[j].LocalAddr(), c.trans[j])
			}
		}
	}
	for i := range n {
		db, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{InitialMmapSize: 1 << 24})
		if err != nil {
			t.Fatal(err)
		}
		store := raft.NewInmemStore()
		cfg := Config{
			NodeID: string(servers[i].ID), Logger: testLogger(t, string(servers[i].ID)),
			Transport: c.trans[i], LogStore: store, StableStore: store, SnapshotStore: raft.NewInmemSnapshotStore(),
			HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
			LeaderLeaseTimeout: 50 * time.Millisecond, CommitTimeout: 5 * time.Millisecond,
		}
		node, err := New(cfg, db)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := node.Raft().BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
				t.Fatal(err)
			}
		}
		c.nodes = append(c.nodes, node)
		c.dbs = append(c.dbs, db)
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.nodes[i].Close()
			c.dbs[i].Close()
		}
	})
	return c
}

// leader waits for a ready leader and returns its position.
func (c *memCluster) leader(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		for i, n := range c.nodes {
			if n.ReadBarrier(ctx) == nil {
				return i
			}
			if ctx.Err() != nil {
				t.Fatal("no leader emerged")
			}
		}
	}
}

func (c *memCluster) digests() []string {
	var out []string
	for _, db := range c.dbs {
		d, _ := db.Digest()
		out = append(out, d)
	}
	return out
}

func TestClusterReplicatesIdentically(t *testing.T) {
	c := newMemCluster(t, 3)
	l := c.leader(t)
	ctx := context.Background()
	var last *Proposal
	for i := range 300 {
		last = c.nodes[l].Propose(ctx, incrEntry(fmt.Sprintf("k%d", i%7)))
	}
	if _, err := last.Wait(); err != nil {
		t.Fatal(err)
	}
	// Followers apply asynchronously: a barrier on the leader, then wait
	// for each follower to reach the leader's applied index.
	want := c.dbs[l].AppliedIndex()
	for i, n := range c.nodes {
		if err := n.WaitApplied(ctx, want); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	d := c.digests()
	for i := range d {
		if d[i] != d[0] {
			t.Fatalf("digests differ: %v", d)
		}
	}
	// A follower refuses writes and linearizable reads. Under load this
	// in-memory cluster can change leaders meanwhile (a leader steps down
	// after 50 ms without contact, and the "follower" may win), so a
	// try during which any node saw leadership change is tried again.
	changes := func() (n uint64) {
		for _, node := range c.nodes {
			n += node.LeaderChanges()
		}
		return n
	}
	for try := 0; ; try++ {
		before := changes()
		f := (c.leader(t) + 1) % 3
		_, werr := c.nodes[f].Apply(ctx, incrEntry("x"))
		rerr := c.nodes[f].ReadBarrier(ctx)
		if werr == ErrNotLeader && rerr == ErrNotLeader {
			break
		}
		if changes() != before && try < 10 {
			continue
		}
		t.Fatalf("follower write: %v, read barrier: %v", werr, rerr)
	}
}

// Raft takes the FSM's snapshot on the FSM goroutine, where a checkpoint
// would hold up every apply; the marker's Persist checkpoints instead, and
// the snapshot is not done before bbolt holds its index.
func TestSnapshotCheckpointsBeforeItCompletes(t *testing.T) {
	d := startDiskNodeWith(t, t.TempDir(), storage.Options{InitialMmapSize: 1 << 24, CheckpointInterval: time.Hour}, nil)
	defer d.stop(t)
	ctx := context.Background()
	// The first checkpoint is not paced; after it, only the snapshot's own
	// can make the next writes durable within the hour.
	if _, err := d.node.Apply(ctx, incrEntry("n")); err != nil {
		t.Fatal(err)
	}
	for d.db.DurableIndex() == 0 {
		<-d.db.CheckpointEnd()
	}
	for range 5 {
		if _, err := d.node.Apply(ctx, incrEntry("n")); err != nil {
			t.Fatal(err)
		}
	}
	if d.db.DurableIndex() >= d.db.AppliedIndex() {
		t.Fatalf("durable %d, applied %d: the setup left nothing to checkpoint", d.db.DurableIndex(), d.db.AppliedIndex())
	}
	f := d.node.Raft().Snapshot()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	durable := d.db.DurableIndex() // before Open, which checkpoints to stream
	meta, rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if durable < meta.Index {
		t.Fatalf("snapshot at %d completed with bbolt durable at %d", meta.Index, durable)
	}
}

// gatedLogStore blocks StoreLogs while gate is set, telling entered when
// a blocked call begins.
type gatedLogStore struct {
	raft.LogStore
	gate    atomic.Bool
	release chan struct{}
	entered chan struct{}
}

func (g *gatedLogStore) StoreLogs(logs []*raft.Log) error {
	if g.gate.Load() {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.LogStore.StoreLogs(logs)
}

// A single node's reads need no round through Raft's leader loop: while
// that loop is stuck storing a batch of writes, ReadBarrier still answers
// at once (with a 3-node configuration it would wait for the loop).
func TestSingleVoterReadsSkipTheLeaderLoop(t *testing.T) {
	store := &gatedLogStore{LogStore: raft.NewInmemStore(), release: make(chan struct{}), entered: make(chan struct{}, 1)}
	d := startDiskNode(t, t.TempDir(), func(c *Config) { c.LogStore = store })
	defer d.stop(t)
	ctx := context.Background()
	if _, err := d.node.Apply(ctx, incrEntry("n")); err != nil {
		t.Fatal(err)
	}
	store.gate.Store(true)
	p := d.node.Propose(ctx, incrEntry("n"))
	<-store.entered // the leader loop is inside StoreLogs now
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err := d.node.ReadBarrier(rctx)
	cancel()
	store.gate.Store(false)
	close(store.release)
	if err != nil {
		t.Fatalf("ReadBarrier while the leader loop stores a batch: %v", err)
	}
	if res, err := p.Wait(); err != nil || res[0].Int != 2 {
		t.Fatalf("the blocked write: %+v, %v", res, err)
	}
}

// A restarted node that is the only voter stands for election at once
// instead of waiting out a heartbeat timeout (here an hour), and its
// configured timeout is what it runs with afterwards.
func TestSoleVoterStandsForElectionAtOnceOnRestart(t *testing.T) {
	dir := t.TempDir()
	d := startDiskNode(t, dir, nil)
	ctx := context.Background()
	if _, err := d.node.Apply(ctx, incrEntry("n")); err != nil {
		t.Fatal(err)
	}
	d.stop(t)
	slow := func(c *Config) {
		c.Bootstrap = false
		c.HeartbeatTimeout, c.ElectionTimeout = time.Hour, time.Hour
		c.LeaderWait = 30 * time.Second // far below an hour, far above any election
	}
	d = startDiskNode(t, dir, slow)
	defer d.stop(t)
	if err := d.node.ReadBarrier(ctx); err != nil {
		t.Fatalf("not serving after a restart with an hour's heartbeat timeout: %v", err)
	}
	if v := readKey(t, d.db, "n"); v != "1" {
		t.Fatalf("after restart n = %q, want 1", v)
	}
	if hb := d.node.raft.ReloadableConfig().HeartbeatTimeout; hb != time.Hour {
		t.Fatalf("heartbeat timeout after the election = %v, want the configured hour", hb)
	}
}

// AddNonvoter adds a member that counts towards no quorum (so a one-node
// cluster still commits with an unreachable one), is idempotent, leaves a
// voter a voter, and refuses an address another member has; Promote does
// not add a node that is not a member.
func TestAddNonvoter(t *testing.T) {
	d := startDiskNode(t, t.TempDir(), nil)
	defer d.stop(t)
	ctx := context.Background()
	if _, err := d.node.Apply(ctx, incrEntry("n")); err != nil { // a ready leader
		t.Fatal(err)
	}
	suffrage := func(id string) string {
		for _, m := range d.node.Status().Members {
			if m.ID == id {
				return map[bool]string{true: "voter", false: "nonvoter"}[m.Voter]
			}
		}
		return "absent"
	}
	const ghost = "127.0.0.1:1" // nothing listens there
	for range 2 {
		if voter, err := d.node.AddNonvoter(ctx, "n2", ghost); voter || err != nil {
			t.Fatalf("AddNonvoter n2: voter=%v, %v", voter, err)
		}
		if s := suffrage("n2"); s != "nonvoter" {
			t.Fatalf("n2 is %s", s)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err := d.node.Apply(wctx, incrEntry("n"))
	cancel()
	if err != nil {
		t.Fatalf("a write with an unreachable non-voter: %v", err)
	}
	if voter, err := d.node.AddNonvoter(ctx, "n1", d.node.RaftAddr()); !voter || err != nil || suffrage("n1") != "voter" {
		t.Fatalf("AddNonvoter of the leader itself: voter=%v, %v; it is now %s", voter, err, suffrage("n1"))
	}
	if _, err := d.node.AddNonvoter(ctx, "n3", ghost); err == nil || !strings.Contains(err.Error(), "already belongs to member n2") {
		t.Fatalf("AddNonvoter at n2's address: %v", err)
	}
	if err := d.node.Promote(ctx, "n3", "127.0.0.1:2"); err == nil || !strings.Contains(err.Error(), "no longer a member") {
		t.Fatalf("Promote of a node that is not a member: %v", err)
	}
	if s := suffrage("n3"); s != "absent" {
		t.Fatalf("n3 is %s after refused adds", s)
	}
}

// A joining node must apply the leader's last entry that reaches a state
// machine: right after a restart, when Raft reports commit index 0, and
// after the new term's no-op, which no state machine ever applies.
func TestJoinTargetIsTheLastEntryTheStateApplies(t *testing.T) {
	dir := t.TempDir()
	d := startDiskNode(t, dir, nil)
	ctx := context.Background()
	for range 5 {
		if _, err := d.node.Apply(ctx, incrEntry("n")); err != nil {
			t.Fatal(err)
		}
	}
	lastCmd := d.db.AppliedIndex()
	d.stop(t)

	d = startDiskNode(t, dir, nil)
	defer d.stop(t)
	if got := d.node.JoinTarget(); got != lastCmd {
		t.Fatalf("right after a restart (commit index %d): target %d, want %d", d.node.raft.CommitIndex(), got, lastCmd)
	}
	if err := d.node.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	if last := d.node.raft.LastIndex(); last <= lastCmd {
		t.Fatalf("no entry of the new term after %d (last %d)", lastCmd, last)
	}
	if got := d.node.JoinTarget(); got != lastCmd {
		t.Fatalf("after the new term's no-op (last index %d): target %d, want %d", d.node.raft.LastIndex(), got, lastCmd)
	}
	if _, err := d.node.Apply(ctx, incrEntry("n")); err != nil {
		t.Fatal(err)
	}
	if got, want := d.node.JoinTarget(), d.db.AppliedIndex(); got != want {
		t.Fatalf("after a write: target %d, want %d", got, want)
	}
}
