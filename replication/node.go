package replication

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/keepkv/keepkv/storage"
	"go.etcd.io/bbolt"
)

// Config configures a Node. A zero field means "use the default".
type Config struct {
	// NodeID is this node's stable Raft server ID. Required.
	NodeID string
	// Dir holds the Raft log (raft.db) and snapshots. Required unless
	// LogStore, StableStore and SnapshotStore are all given.
	Dir string
	// RaftBind is the TCP address the Raft transport listens on.
	RaftBind string
	// RaftAdvertise is the address other nodes reach this one at.
	// Default: RaftBind.
	RaftAdvertise string
	// Bootstrap makes a node with no Raft state bootstrap a one-node cluster.
	Bootstrap bool
	// Peers, when set, is a static configuration every node bootstraps
	// identically (it overrides Bootstrap).
	Peers []Member
	// PeerTLS, when set, secures every connection between nodes (Raft,
	// joins, forwarded commands) with mutual TLS; see LoadPeerTLS.
	PeerTLS *tls.Config
	// ClusterSecret, when set, authenticates every connection between nodes
	// (Raft, snapshots, joins, forwarded commands) with a mutual
	// challenge–response before anything else is read (peerauth.go). Every
	// node needs the same one. It may be combined with PeerTLS.
	ClusterSecret string
	// ClusterSecretOld is accepted from peers but never sent: set it to the
	// previous secret during a rolling rotation.
	ClusterSecretOld string
	// InsecurePeers lets a node whose Raft address other hosts can reach
	// start with neither ClusterSecret nor PeerTLS.
	InsecurePeers bool
	// Logger receives Raft's and the FSM's logs. Default: discard.
	Logger hclog.Logger

	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	MaxAppendEntries   int
	// LogStoreKind picks the on-disk Raft log: "bolt" (the default,
	// hashicorp/raft-boltdb/v2 in raft.db) or "wal" (hashicorp/raft-wal
	// in raft-wal/, one fsync per append instead of two; experimental, for
	// measurement only). A data dir keeps the kind it was created with.
	LogStoreKind string
	// GroupCommit queues proposals while a round of them is in Raft and
	// hands the queue over as the next round when that one has applied
	// (see rounds).
	GroupCommit       bool
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// TrailingLogBytes, when not 0, also bounds the entries kept after a
	// snapshot by their total size (logtail.go): TrailingLogs is then
	// the most that are kept.
	TrailingLogBytes uint64
	// LeaderWait bounds how long a write or read waits for a leader to
	// emerge before failing with ErrNoLeader. Default 5s.
	LeaderWait time.Duration

	// OnApplied is called on the FSM goroutine after every applied batch.
	OnApplied func(storage.Applied)
	// OnLeadership is called with true once this node is leader and has
	// applied everything committed before its term, and with false as soon
	// as it stops being leader. Calls are sequential.
	OnLeadership func(leader bool)
	// OnStoreLogs, when set, is told how long each write of n entries to
	// the on-disk log store took: the fsync every acknowledgement waits
	// for (for metrics; it must be quick).
	OnStoreLogs func(n int, d time.Duration)
	// OnApplyBatch, when set, is told on the FSM goroutine how long each
	// batch of n committed entries took to apply (for metrics).
	OnApplyBatch func(n int, d time.Duration)

	// Test overrides: when set, used instead of the on-disk stores and the
	// TCP transport.
	Transport     raft.Transport
	LogStore      raft.LogStore
	StableStore   raft.StableStore
	SnapshotStore raft.SnapshotStore
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.NodeID == "" {
		return errors.New("replication: NodeID cannot be empty")
	}
	if c.Dir == "" && (c.LogStore == nil || c.StableStore == nil || c.SnapshotStore == nil) {
		return errors.New("replication: Dir cannot be empty without store overrides")
	}
	if c.Transport == nil && c.RaftBind == "" {
		return errors.New("replication: RaftBind cannot be empty without a Transport")
	}
	if c.ClusterSecret != "" {
		if err := CheckClusterSecret(c.ClusterSecret); err != nil {
			return fmt.Errorf("replication: %w", err)
		}
	}
	if c.ClusterSecretOld != "" && c.ClusterSecret == "" {
		return errors.New("replication: an old cluster secret needs a current one")
	}
	if c.Transport == nil && c.ClusterSecret == "" && c.PeerTLS == nil && !c.InsecurePeers &&
		PeersExposed(c.RaftBind, c.RaftAdvertise) {
		return fmt.Errorf("replication: the Raft address %s (advertised %q) is reachable from other hosts, but %w", c.RaftBind, c.RaftAdvertise, ErrUnauthenticatedPeers)
	}
	return nil
}

func (c Config) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	rc.Logger = c.Logger.Named("raft")
	rc.NoSnapshotRestoreOnStart = true
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 64
	setDur(&rc.HeartbeatTimeout, c.HeartbeatTimeout)
	setDur(&rc.ElectionTimeout, c.ElectionTimeout)
	setDur(&rc.LeaderLeaseTimeout, c.LeaderLeaseTimeout)
	setDur(&rc.CommitTimeout, c.CommitTimeout)
	setDur(&rc.SnapshotInterval, c.SnapshotInterval)
	if c.MaxAppendEntries > 0 {
		rc.MaxAppendEntries = c.MaxAppendEntries
	}
	if c.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = c.SnapshotThreshold
	}
	if c.TrailingLogs > 0 {
		rc.TrailingLogs = c.TrailingLogs
	}
	return rc
}

func setDur(dst *time.Duration, v time.Duration) {
	if v > 0 {
		*dst = v
	}
}

// Node is one member of a keepkv Raft cluster.
type Node struct {
	cfg    Config
	db     *storage.DB
	raft   *raft.Raft
	logger hclog.Logger

	logStore  raft.LogStore
	recent    recentResults // settle.go
	bolt      closer        // the on-disk log store; nil when LogStore is overridden
	rounds    rounds
	transport raft.Transport
	ownsTrans bool
	mux       *muxLayer
	caughtUp  atomic.Bool
	began     time.Time   // when New was called: the first ready is logged with the time since
	wasReady  atomic.Bool // ready at least once

	leaderChanges atomic.Uint64                 // metrics.go
	leaderObs     atomic.Pointer[raft.Observer] // metrics.go

	notifyCh chan bool
	kickRead chan struct{}
	stopCh   chan struct{}
	wg       sync.WaitGroup

	mu             sync.Mutex
	ready          bool
	readyC         chan struct{} // closed while ready
	leaderC        chan struct{} // closed and replaced on every leadership change
	pending        *readRound
	appliedWaiters []appliedWaiter
	closed         bool
	closeErr       error
	closeOnce      sync.Once
}

// New opens the Raft stores, restores a snapshot if bbolt is behind it,
// starts Raft and, if configured and there is no state, bootstraps a
// one-node cluster.
func New(cfg Config, db *storage.DB) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.LeaderWait == 0 {
		cfg.LeaderWait = 5 * time.Second
	}
	n := &Node{
		cfg: cfg, db: db, logger: cfg.Logger, began: time.Now(),
		notifyCh: make(chan bool, 16),
		kickRead: make(chan struct{}, 1),
		stopCh:   make(chan struct{}),
		readyC:   make(chan struct{}),
		leaderC:  make(chan struct{}),
	}
	if err := n.start(); err != nil {
		close(n.stopCh) // stops a read-ahead start began (the node is not returned)
		n.wg.Wait()
		n.closeStores()
		return nil, err
	}
	n.logger.Info("raft started", "took", time.Since(n.began).Round(time.Millisecond), "applied-index", db.AppliedIndex())
	n.wg.Add(3)
	go n.watchLeadership()
	go n.readLoop()
	go n.watchLeaderChanges()
	return n, nil
}

func (n *Node) start() error {
	stable, snaps, err := n.openStores()
	if err != nil {
		return err
	}
	if err := n.restoreIfBehind(snaps); err != nil {
		return err
	}
	if err := n.openTransport(); err != nil {
		return err
	}
	rc := n.cfg.raftConfig()
	rc.NotifyCh = n.notifyCh
	f := &fsm{db: n.db, logger: n.logger.Named("fsm"), onApplied: n.onApplied, onApplyTime: n.cfg.OnApplyBatch, recent: &n.recent}
	if n.cfg.TrailingLogBytes > 0 {
		f.tail = newLogTail(n.cfg.TrailingLogBytes, rc.TrailingLogs)
	}
	hasState, err := raft.HasExistingState(n.logStore, stable, snaps)
	if err != nil {
		return fmt.Errorf("replication: inspect state: %w", err)
	}
	last, err := n.logStore.LastIndex()
	if err != nil {
		return fmt.Errorf("replication: read the log's last index: %w", err)
	}
	// Entries after the applied index are replayed once Raft knows they
	// are committed (for a sole voter: once it has elected itself); read
	// their records meanwhile (in n.wg: stopped and waited for before the
	// log store closes).
	f.ahead = startReadAhead(n.db, n.logStore, n.db.AppliedIndex()+1, last, n.stopCh, &n.wg)
	r, err := raft.NewRaft(rc, f, n.logStore, stable, snaps, n.transport)
	if err != nil {
		return fmt.Errorf("replication: start raft: %w", err)
	}
	n.raft = r
	f.raft.Store(r)
	n.wg.Go(func() { n.fillAfterReplay(last) })
	switch {
	case hasState:
		n.electNowIfSoleVoter()
		return nil
	case len(n.cfg.Peers) > 0:
		return n.bootstrapPeers()
	case n.cfg.Bootstrap:
		return n.bootstrapSelf()
	}
	return nil
}

// fillAfterReplay starts storage's read cache fill (storage/fill.go) once
// Raft has applied the log as it was when the node started: the fill's
// reads from disk would slow the replay's. Raft tells the FSM nothing of
// the entries it applies without it (no-ops), so this polls.
func (n *Node) fillAfterReplay(last uint64) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for n.raft.AppliedIndex() < last {
		select {
		case <-n.stopCh:
			return
		case <-tick.C:
		}
	}
	n.db.Fill()
}

// electNowIfSoleVoter starts this node's election at once, instead of after
// a heartbeat timeout, when it is the only voter of its configuration (a
// one-node deployment restarting): no other node can lead it, so waiting
// would only delay serving by up to twice the heartbeat timeout. Raft's
// follower loop re-arms its heartbeat timer to fire at once when the
// timeout is lowered, and, having never heard from a leader, it then
// stands for election; the timeout is put back right after.
func (n *Node) electNowIfSoleVoter() {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	var voters []raft.ServerID
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters = append(voters, s.ID)
		}
	}
	if len(voters) != 1 || voters[0] != raft.ServerID(n.cfg.NodeID) {
		return
	}
	rc := n.raft.ReloadableConfig()
	orig := rc.HeartbeatTimeout
	rc.HeartbeatTimeout -= time.Millisecond
	if err := n.raft.ReloadConfig(rc); err != nil {
		return // e.g. the lease timeout equals the heartbeat timeout: wait as usual
	}
	rc = n.raft.ReloadableConfig() // the FSM may have set TrailingLogs meanwhile (logtail.go)
	rc.HeartbeatTimeout = orig
	if err := n.raft.ReloadConfig(rc); err != nil {
		n.logger.Warn("could not restore the heartbeat timeout", "error", err)
	}
}

func (n *Node) openStores() (raft.StableStore, raft.SnapshotStore, error) {
	stable, snaps := n.cfg.StableStore, n.cfg.SnapshotStore
	n.logStore = n.cfg.LogStore
	if n.logStore == nil || stable == nil {
		if err := os.MkdirAll(n.cfg.Dir, 0o755); err != nil {
			return nil, nil, fmt.Errorf("replication: create dir: %w", err)
		}
		b, err := n.openLogStore()
		if err != nil {
			return nil, nil, err
		}
		n.bolt = b
		if n.logStore == nil {
			var store raft.LogStore = b
			if n.cfg.OnStoreLogs != nil {
				store = timedLogStore{LogStore: b, observe: n.cfg.OnStoreLogs}
			}
			cache, err := raft.NewLogCache(1024, store)
			if err != nil {
				return nil, nil, err
			}
			n.logStore = cache
		}
		if stable == nil {
			stable = b
		}
	}
	if snaps == nil {
		if err := removePartialSnapshots(filepath.Join(n.cfg.Dir, "snapshots")); err != nil {
			return nil, nil, err
		}
		// One retained: local snapshots are markers, and a received full
		// snapshot is needed only until the next marker follows it.
		s, err := raft.NewFileSnapshotStoreWithLogger(n.cfg.Dir, 1, n.logger.Named("snapshot"))
		if err != nil {
			return nil, nil, fmt.Errorf("replication: open snapshot store: %w", err)
		}
		snaps = s
	}
	return stable, &markerStore{SnapshotStore: snaps, db: n.db}, nil
}

// diskLogStore is what an on-disk Raft log store provides.
type diskLogStore interface {
	raft.LogStore
	raft.StableStore
	closer
}

// openLogStore opens the on-disk log store of cfg.LogStoreKind, refusing a
// data dir that holds the other kind's log (starting on an empty log
// beside a full one would lose the node's entries and vote).
func (n *Node) openLogStore() (diskLogStore, error) {
	boltPath, walDir := filepath.Join(n.cfg.Dir, "raft.db"), filepath.Join(n.cfg.Dir, "raft-wal")
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	switch n.cfg.LogStoreKind {
	case "", "bolt":
		if exists(walDir) {
			return nil, fmt.Errorf("replication: %s holds a raft-wal log (started with --raft-log wal); start it with the same kind", n.cfg.Dir)
		}
		// The log file stays small (compacted after snapshots), so its
		// freelist is cheap to rebuild on open: skip syncing it on every
		// commit. Commits still fsync; durability is unchanged. The
		// rebuild reads every page, so read the file ahead first.
		readAheadFile(boltPath)
		b, err := raftboltdb.New(raftboltdb.Options{
			Path:        boltPath,
			BoltOptions: &bbolt.Options{Timeout: 5 * time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType},
		})
		if err != nil {
			return nil, fmt.Errorf("replication: open log store: %w", err)
		}
		return b, nil
	case "wal":
		if exists(boltPath) {
			return nil, fmt.Errorf("replication: %s holds a raft-boltdb log (raft.db); start it with --raft-log bolt", n.cfg.Dir)
		}
		if err := os.MkdirAll(walDir, 0o755); err != nil {
			return nil, fmt.Errorf("replication: create dir: %w", err)
		}
		// raft-wal v0.4's Close leaves its meta database open (and
		// locked): keep it, to close it too.
		meta := &metadb.BoltMetaDB{}
		w, err := wal.Open(walDir, wal.WithLogger(n.logger.Named("raft-wal")), wal.WithMetaStore(meta))
		if err != nil {
			meta.Close()
			return nil, fmt.Errorf("replication: open raft-wal log: %w", err)
		}
		return walStore{w, meta}, nil
	}
	return nil, fmt.Errorf("replication: unknown log store kind %q (want bolt or wal)", n.cfg.LogStoreKind)
}

type walStore struct {
	*wal.WAL
	meta *metadb.BoltMetaDB
}

func (w walStore) Close() error { return errors.Join(w.WAL.Close(), w.meta.Close()) }

// removePartialSnapshots deletes the snapshot directories a crash left
// unfinished (the file store's ".tmp" ones). Raft never reads them and
// never removes them, and one left by a crash while receiving a snapshot
// holds a partial copy of the whole state. Before Raft starts, none can be
// in progress.
func removePartialSnapshots(dir string) error {
	partial, err := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if err != nil {
		return err
	}
	for _, p := range partial {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("replication: remove unfinished snapshot: %w", err)
		}
	}
	return nil
}

// restoreIfBehind handles the trap of a crash during a snapshot install:
// Raft will resume after its newest snapshot, so if bbolt holds less than
// that snapshot, the snapshot must be restored first.
func (n *Node) restoreIfBehind(snaps raft.SnapshotStore) error {
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		return err
	}
	newest := list[0]
	if newest.Index <= n.db.AppliedIndex() {
		return nil
	}
	_, rc, err := snaps.Open(newest.ID)
	if err != nil {
		return fmt.Errorf("replication: open snapshot %s: %w", newest.ID, err)
	}
	defer rc.Close()
	contains, err := storage.ReadSnapshotHeader(rc)
	if err != nil {
		return fmt.Errorf("replication: snapshot %s: %w", newest.ID, err)
	}
	if contains <= n.db.AppliedIndex() {
		return nil // the gap holds only entries that do not reach the FSM
	}
	n.logger.Warn("state is behind the newest snapshot, restoring it",
		"applied-index", n.db.AppliedIndex(), "snapshot-index", contains)
	_, rc2, err := snaps.Open(newest.ID)
	if err != nil {
		return err
	}
	defer rc2.Close()
	return n.db.Restore(rc2)
}

func (n *Node) openTransport() error {
	if n.cfg.Transport != nil {
		n.transport = n.cfg.Transport
		return nil
	}
	var adv net.Addr
	if n.cfg.RaftAdvertise != "" {
		addr, err := net.ResolveTCPAddr("tcp", n.cfg.RaftAdvertise)
		if err != nil {
			return fmt.Errorf("replication: advertise address %q: %w", n.cfg.RaftAdvertise, err)
		}
		adv = addr
	}
	mux, err := newMuxLayer(n.cfg.RaftBind, adv, n.cfg.PeerTLS, newPeerAuth(n.cfg.ClusterSecret, n.cfg.ClusterSecretOld), n.logger.Named("peers"))
	if err != nil {
		return fmt.Errorf("replication: listen %s: %w", n.cfg.RaftBind, err)
	}
	n.mux = mux
	n.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: mux, MaxPool: 3, Timeout: 10 * time.Second, Logger: n.logger.Named("transport"),
	})
	n.ownsTrans = true
	return nil
}

func (n *Node) bootstrapSelf() error {
	conf := raft.Configuration{Servers: []raft.Server{{
		ID: raft.ServerID(n.cfg.NodeID), Address: n.transport.LocalAddr(), Suffrage: raft.Voter,
	}}}
	if err := n.raft.BootstrapCluster(conf).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("replication: bootstrap: %w", err)
	}
	n.logger.Info("bootstrapped a one-node cluster", "id", n.cfg.NodeID)
	return nil
}

func (n *Node) onApplied(a storage.Applied) {
	if n.cfg.OnApplied != nil {
		n.cfg.OnApplied(a)
	}
	n.notifyApplied()
}

// Close shuts Raft down and closes the stores it opened. The storage.DB
// belongs to the caller and stays open. Safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		close(n.stopCh)
		if n.raft != nil {
			n.closeErr = n.raft.Shutdown().Error()
		}
		n.wg.Wait()
		n.closeStores()
	})
	return n.closeErr
}

func (n *Node) closeStores() {
	if c, ok := n.transport.(closer); ok && n.ownsTrans {
		c.Close()
	}
	if n.bolt != nil {
		n.bolt.Close()
	}
}

type closer interface{ Close() error }

// Raft exposes the underlying Raft instance for tests and admin commands.
func (n *Node) Raft() *raft.Raft { return n.raft }

// ID returns this node's Raft server ID.
func (n *Node) ID() string { return n.cfg.NodeID }
