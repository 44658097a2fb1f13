package server

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/keepkv/keepkv/replication"
	"github.com/keepkv/keepkv/storage"
	"github.com/tidwall/redcon"
)

// Version is the Redis version keepkv reports to clients (HELLO, INFO);
// clients use it to pick features. KeepkvVersion is keepkv's own.
const (
	Version       = "7.2.0"
	KeepkvVersion = "0.1.0"
)

// Config configures a node: the RESP server, its storage and its Raft
// membership. A zero field means "use the default".
type Config struct {
	// Addr is the RESP listen address. Default 127.0.0.1:6379.
	Addr string
	// Dir holds the node's data: state.db (bbolt) and raft/. Required.
	Dir string
	// Raft configures replication. NodeID, Dir, OnApplied and OnLeadership
	// are filled in by Start.
	Raft replication.Config
	// Storage configures the bbolt file.
	Storage storage.Options
	// Logger receives every component's logs. Default: discard.
	Logger hclog.Logger

	// TLSAddr, when set, serves RESP over TLS there too (Addr stays
	// plaintext), with TLS as its configuration; see LoadClientTLS.
	TLSAddr string
	TLS     *tls.Config
	// Password, when set, is the default user's: AUTH is required before
	// other commands. The default user may run everything.
	Password string
	// Users are further named users with their own passwords and
	// permissions (AUTH user password): the bootstrap ACL users, written
	// to the log once (acl.go).
	Users []User
	// UsersFile is the file ACL LOAD reads users from and ACL SAVE writes
	// them to (the --users-file the Users came from).
	UsersFile string
	// ProtectedMode refuses non-loopback clients while the default user
	// has no password, as Redis does.
	ProtectedMode bool
	// MaxValueSize bounds a stored value. Default 16 MiB.
	MaxValueSize int64
	// Limits bound what a client may send. Defaults as Redis: 512 MiB
	// bulk, 1,048,576 arguments, 64 KiB inline.
	Limits Limits
	// MaxDiskBytes, when set, refuses commands that add data once the state
	// uses more than this many bytes (Redis's maxmemory, for disk); reads,
	// deletes and expiry keep working.
	MaxDiskBytes int64
	// DisabledCommands are removed from the command table (as Redis's
	// rename-command NAME ""), e.g. FLUSHALL, RENAME.
	DisabledCommands []string
	// MaxClients bounds concurrent connections. Default 10000.
	MaxClients int
	// IdleTimeout closes connections idle this long; 0 never does.
	IdleTimeout time.Duration
	// ClientWriteTimeout closes a connection whose client does not read
	// its replies for this long. Default 60s.
	ClientWriteTimeout time.Duration
	// ExpiryTick is the timing wheel's resolution. Default 10ms.
	ExpiryTick time.Duration
	// ExpiryHorizon is how far ahead the wheel holds deadlines; the rest
	// stay on disk until they come near. Default 1m.
	ExpiryHorizon time.Duration
	// StaleReads serves reads from local state on followers for every
	// connection, as READONLY does for one.
	StaleReads bool
	// Join is a member's client or Raft address to ask for membership.
	Join string
	// ExpiryBatch caps the keys deleted by one expire log entry. Default 1000.
	ExpiryBatch int
	// HeapFloor is how many bytes of the Go heap are the process's garbage
	// collector floor (cmd/keepkv's --gc-heap-floor), which INFO's
	// used_memory leaves out.
	HeapFloor uint64
	// ScriptBudget is the deterministic budget of one Lua script, in VM
	// instructions (allocations count too; script_budget.go). A script over
	// it is aborted with an error and its writes rolled back, on every
	// node alike. Default DefaultScriptBudget.
	ScriptBudget int64
	// HTTPAddr, when set, serves the Upstash-compatible REST API there
	// (http.go), with /metrics, /healthz and /readyz; over TLS with
	// HTTPTLS when that is set.
	HTTPAddr string
	HTTPTLS  *tls.Config
	// HTTPTokens authenticate HTTP requests, each as its user. With none,
	// HTTP is open like RESP without a password (protected mode applies).
	HTTPTokens []HTTPToken
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:6379"
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.MaxValueSize == 0 {
		c.MaxValueSize = 16 << 20
	}
	if c.Limits.MaxBulkLen == 0 {
		c.Limits.MaxBulkLen = 512 << 20
	}
	if c.Limits.MaxMultibulk == 0 {
		c.Limits.MaxMultibulk = 1 << 20
	}
	if c.Limits.MaxInline == 0 {
		c.Limits.MaxInline = 64 << 10
	}
	if c.Raft.LeaderWait == 0 {
		c.Raft.LeaderWait = 5 * time.Second
	}
	if c.ClientWriteTimeout == 0 {
		c.ClientWriteTimeout = time.Minute
	}
	if c.MaxClients == 0 {
		c.MaxClients = 10000
	}
	if c.ExpiryTick == 0 {
		c.ExpiryTick = 10 * time.Millisecond
	}
	if c.ExpiryHorizon == 0 {
		c.ExpiryHorizon = time.Minute
	}
	if c.ExpiryBatch == 0 {
		c.ExpiryBatch = 1000
	}
	if c.ScriptBudget == 0 {
		c.ScriptBudget = DefaultScriptBudget
	}
	return c
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("server: Dir cannot be empty")
	case c.MaxValueSize < 0 || c.MaxValueSize > c.Limits.MaxBulkLen:
		return fmt.Errorf("server: MaxValueSize must be between 0 and the max bulk length (%d)", c.Limits.MaxBulkLen)
	case c.Limits.MaxMultibulk < 1 || c.Limits.MaxInline < 1:
		return errors.New("server: limits must be positive")
	case (c.TLSAddr == "") != (c.TLS == nil):
		return errors.New("server: TLSAddr and TLS must be set together")
	}
	return nil
}

// Server is a running keepkv node.
type Server struct {
	cfg    Config
	logger hclog.Logger
	db     *storage.DB
	node   *replication.Node
	exp    *expirer
	ln     net.Listener
	rs     *redcon.Server
	trs    *redcon.Server // TLS clients
	tln    net.Listener
	irs    *redcon.Server // peers' RESP traffic on the Raft port
	served chan error
	fwd    *forwarder
	stop   chan struct{}
	// ctx is cancelled first thing at shutdown: long commands end with it.
	ctx    context.Context
	cancel context.CancelFunc
	blk    *blockers // clients blocked in BLPOP & co.
	// shutdownReq is closed when an admin sends SHUTDOWN.
	shutdownReq  chan struct{}
	shutdownOnce sync.Once
	bg           sync.WaitGroup
	joinSince    uint64     // joinLoop's: a committed index at which the leader reported this node a member
	bgMu         sync.Mutex // orders goBackground's bg.Add before shutdown's bg.Wait
	stopping     bool       // under bgMu: shutdown has begun; no new background work
	start        time.Time
	table        commandTable

	clientsMu sync.Mutex
	clients   map[uint64]*connState
	pubsub    *pubsub
	track     *tracker
	nextID    atomic.Uint64
	stats     stats
	admin     adminState    // MONITOR, CLIENT PAUSE, CONFIG SET values, commandstats (client_hook.go)
	scripts   *scriptEngine // Lua scripting (script.go)
	acl       *aclRegistry  // users and their ACLs (acl.go)
	metrics   *nodeMetrics  // Prometheus registry and timings (metrics.go)
	http      *httpFront    // the HTTP front end (http.go), if HTTPAddr is set

	closeOnce sync.Once
	closeErr  error

	// Request ids of forwarded commands (route.go, newRequestID).
	reqNonce [8]byte
	reqSeq   atomic.Uint64
}

type stats struct {
	connections atomic.Int64
	commands    atomic.Int64
	rejected    atomic.Int64
	expired     atomic.Int64
	expirePaced atomic.Int64 // expiry waves that waited for a checkpoint
	hits        atomic.Int64
	// KEYS/SCAN/RANDOMKEY runs that ended because their client went away
	// or the server shut down.
	iterationsCancelled atomic.Int64
	misses              atomic.Int64
	// Forwarded pipelines sent again after the leader failed under them.
	forwardRetries atomic.Int64
}

// newServer builds a Server's in-memory parts from a Config with its
// defaults: everything but storage, Raft and the listeners.
func newServer(cfg Config) *Server {
	s := &Server{cfg: cfg, logger: cfg.Logger, clients: map[uint64]*connState{}, start: time.Now(), served: make(chan error, 3), table: newCommandTable(), stop: make(chan struct{}), pubsub: newPubsub(), track: newTracker()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.shutdownReq = make(chan struct{})
	s.blk = newBlockers()
	s.acl = newACLRegistry(cfg)
	s.scripts = newScriptEngine(cfg.Logger, s.table, cfg.ScriptBudget, runtime.GOMAXPROCS(0))
	s.metrics = newNodeMetrics(s)
	return s
}

// Start opens the node's storage, starts Raft and serves RESP on Addr.
func Start(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := newServer(cfg)
	if err := s.checkHTTPTokens(); err != nil {
		return nil, err
	}
	for _, name := range cfg.DisabledCommands {
		if s.table.lookup([]byte(name)) == nil {
			return nil, fmt.Errorf("server: cannot disable unknown command %q", name)
		}
		delete(s.table, strings.ToLower(name))
	}
	if err := s.open(); err != nil {
		s.shutdown()
		return nil, err
	}
	return s, nil
}

// slowCheckpoint: a checkpoint taking longer is logged (at info): the Raft
// log a crash would replay grows meanwhile.
const slowCheckpoint = 500 * time.Millisecond

func (s *Server) open() error {
	opts := s.cfg.Storage
	if opts.OnCheckpoint == nil {
		opts.OnCheckpoint = func(d time.Duration, bytes int64) {
			s.metrics.onCheckpoint(d, bytes)
			if d >= slowCheckpoint {
				s.logger.Info("slow checkpoint", "took", d, "bytes", bytes)
			}
		}
	}
	if opts.OnRestore == nil {
		opts.OnRestore = s.reloadACL
	}
	if opts.OnApplyPanic == nil {
		opts.OnApplyPanic = func(p storage.ApplyPanic) {
			s.logger.Error("command panicked in apply; rolled back, answered with an error",
				"command", p.Op.String(), "log-index", p.Index, "panic", fmt.Sprint(p.Value), "stack", string(p.Stack))
		}
	}
	began := time.Now()
	db, err := storage.Open(filepath.Join(s.cfg.Dir, "state.db"), opts)
	if err != nil {
		return err
	}
	s.logger.Info("opened state.db", "took", time.Since(began).Round(time.Millisecond), "applied-index", db.AppliedIndex())
	s.db = db
	db.SetExec(s.applyExec)
	if _, err := crand.Read(s.reqNonce[:]); err != nil {
		return err
	}
	s.exp = newExpirer(s)
	if err := s.rememberJoin(); err != nil {
		return err
	}
	rc := s.cfg.Raft
	rc.Dir = filepath.Join(s.cfg.Dir, "raft")
	rc.Logger = s.logger
	rc.OnStoreLogs = s.metrics.onStoreLogs
	rc.OnApplyBatch = s.metrics.onApplyBatch
	// Raft may report leadership as soon as it starts, before
	// replication.New has returned (a restarted sole voter elects itself at
	// once): OnLeadership, whose work proposes through s.node, waits until
	// s.node is set. (It runs on the node's own goroutine, so waiting holds
	// up no Raft loop. OnApplied, on the FSM's, must not wait: it uses
	// nothing New sets, and the ACL users are loaded before New.)
	started := make(chan struct{})
	rc.OnApplied = func(a storage.Applied) {
		s.metrics.onApplied(a)
		s.exp.onApplied(a)
		s.wakeBlocked(a.Ready)
		s.deliver(a.Events)
		s.invalidate(a.Touched)
		if a.Users {
			s.reloadACL()
		}
	}
	rc.OnLeadership = func(leader bool) {
		<-started
		s.exp.onLeadership(leader)
		if leader {
			s.goBackground(s.seedACL)
		}
	}
	if rc.NodeID == "" {
		rc.NodeID = "node1"
	}
	s.reloadACL() // the users as of the state on disk
	s.node, err = replication.New(rc, db)
	close(started)
	if err != nil {
		return err
	}
	// Before any listener serves: a command that forwards (or a RAFT JOIN)
	// may arrive on the first connection.
	s.fwd = newForwarder(s.cfg.Raft.LeaderWait+10*time.Second, s.dialPeer)
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: listen %s: %w", s.cfg.Addr, err)
	}
	s.ln = limitListener{Listener: ln, lim: s.cfg.Limits}
	s.rs = redcon.NewServerNetwork("tcp", s.cfg.Addr, s.handle, s.accept, s.closed)
	if s.cfg.IdleTimeout > 0 {
		s.rs.SetIdleClose(s.cfg.IdleTimeout)
	}
	go func() { s.served <- s.rs.Serve(s.ln) }()
	if err := s.serveTLS(); err != nil {
		return err
	}
	if il := s.node.RESPListener(); il != nil {
		s.irs = redcon.NewServerNetwork("tcp", il.Addr().String(), s.handle, s.acceptInternal, s.closed)
		go func() { s.served <- s.irs.Serve(il) }()
	}
	if err := s.serveHTTP(); err != nil {
		return err
	}
	if s.cfg.Join != "" {
		s.bg.Add(1)
		go s.joinLoop()
	}
	s.logger.Info("serving RESP", "addr", ln.Addr().String(), "pid", os.Getpid())
	return nil
}

func (s *Server) serveTLS() error {
	if s.cfg.TLSAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.TLSAddr)
	if err != nil {
		return fmt.Errorf("server: listen %s: %w", s.cfg.TLSAddr, err)
	}
	// Framing limits apply to the decrypted stream.
	s.tln = limitListener{Listener: tls.NewListener(ln, s.cfg.TLS), lim: s.cfg.Limits}
	s.trs = redcon.NewServerNetwork("tcp", s.cfg.TLSAddr, s.handle, s.accept, s.closed)
	if s.cfg.IdleTimeout > 0 {
		s.trs.SetIdleClose(s.cfg.IdleTimeout)
	}
	go func() { s.served <- s.trs.Serve(s.tln) }()
	s.logger.Info("serving RESP over TLS", "addr", ln.Addr().String())
	return nil
}

// TLSAddr returns the TLS listener's address, or nil.
func (s *Server) TLSAddr() net.Addr {
	if s.tln == nil {
		return nil
	}
	return s.tln.Addr()
}

// Addr returns the RESP listener's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Node returns the replication node.
func (s *Server) Node() *replication.Node { return s.node }

// DB returns the storage.
func (s *Server) DB() *storage.DB { return s.db }

// Close shuts the node down in order: stop accepting and close client
// connections, so no new work arrives; stop the expiry driver; shut Raft
// down, which finishes in-flight applies; then close bbolt, which nothing
// writes to any more. Safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(s.shutdown)
	return s.closeErr
}

// goBackground runs fn on a goroutine shutdown waits for, unless shutdown
// has begun. Leadership can arrive at any moment, shutdown included, and a
// WaitGroup's Add from zero must not race with its Wait.
func (s *Server) goBackground(fn func()) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.stopping {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		fn()
	}()
}

func (s *Server) shutdown() {
	s.handOff()
	s.cancel()
	close(s.stop)
	s.closeHTTP()
	s.bgMu.Lock()
	s.stopping = true
	s.bgMu.Unlock()
	s.bg.Wait()
	if s.rs != nil {
		s.rs.Close()
		<-s.served
	}
	if s.irs != nil {
		s.irs.Close()
		<-s.served
	}
	if s.trs != nil {
		s.trs.Close()
		<-s.served
	}
	if s.fwd != nil {
		s.fwd.close()
	}
	if s.exp != nil {
		s.exp.onLeadership(false)
	}
	if s.node != nil {
		if err := s.node.Close(); err != nil {
			s.closeErr = err
		}
	}
	if s.db != nil {
		if err := s.db.Close(); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
	}
}

func (s *Server) accept(c redcon.Conn) bool {
	if s.protectedRefuses(c.RemoteAddr()) {
		s.stats.rejected.Add(1)
		c.WriteError(protectedDenied)
		BaseFlush(c)
		return false
	}
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	if len(s.clients) >= s.cfg.MaxClients {
		s.stats.rejected.Add(1)
		c.WriteError("ERR max number of clients reached")
		BaseFlush(c)
		return false
	}
	st := newConnState(s.nextID.Add(1), c)
	if s.startsAuthed() {
		s.setConnUser(st, s.acl.get("default"))
	}
	s.clients[st.id] = st
	c.SetContext(st)
	s.stats.connections.Add(1)
	return true
}

// dialPeer connects to another node's Raft port for RESP and, when the
// default user has a password, logs in with it (every node shares it).
func (s *Server) dialPeer(addr string, timeout time.Duration) (net.Conn, error) {
	c, err := s.node.DialPeer(addr, timeout)
	if err != nil || s.cfg.Password == "" {
		return c, err
	}
	c.SetDeadline(time.Now().Add(timeout))
	w := bufio.NewWriter(c)
	writeArray(w, nil, [][]byte{[]byte("AUTH"), []byte(s.cfg.Password)})
	if err := w.Flush(); err != nil {
		c.Close()
		return nil, err
	}
	// The reply is read byte by byte so nothing after it is consumed.
	reply, err := readReply(bufio.NewReaderSize(c, 16), nil)
	if err != nil || string(reply) != "+OK\r\n" {
		c.Close()
		return nil, fmt.Errorf("server: peer %s refused AUTH: %q %v", addr, reply, err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

func (s *Server) acceptInternal(c redcon.Conn) bool {
	st := newConnState(s.nextID.Add(1), c)
	// Peers authenticated by mutual TLS need no password; without it, a
	// peer logs in like any client (forwarders send AUTH first).
	st.internal = true
	st.authed = s.cfg.Raft.PeerTLS != nil || s.cfg.Password == ""
	c.SetContext(st)
	return true
}

func (s *Server) closed(c redcon.Conn, err error) {
	st, ok := c.Context().(*connState)
	if !ok || (err != nil && err.Error() == "detached") {
		return // a subscriber moved to serveSubscriber, which forgets it
	}
	s.unsubscribeAll(st)
	s.stopTracking(st)
	s.forget(st)
}

// forget removes a closed connection from the client list.
func (s *Server) forget(st *connState) {
	s.stopMonitor(st)
	s.clientsMu.Lock()
	delete(s.clients, st.id)
	s.clientsMu.Unlock()
}

// handOffWait bounds how long a stopping leader waits for another voter
// to take over.
const handOffWait = 5 * time.Second

// handOff, on a leader with other voters, hands leadership to the most
// up-to-date of them (Raft's leadership transfer) before the node stops,
// so the cluster does not wait out an election timeout: a rolling restart
// costs no leaderless gap. It waits at most handOffWait.
func (s *Server) handOff() {
	if s.node == nil || !s.node.IsLeader() {
		return
	}
	voters := 0
	for _, m := range s.node.Status().Members {
		if m.Voter {
			voters++
		}
	}
	if voters < 2 {
		return
	}
	done := make(chan error, 1)
	go func() { done <- s.node.TransferLeadership("") }()
	select {
	case err := <-done:
		if err != nil {
			s.logger.Warn("could not hand leadership over before stopping", "error", err)
			return
		}
		st := s.node.Status()
		s.logger.Info("handed leadership over before stopping", "to", st.LeaderID)
	case <-time.After(handOffWait):
		s.logger.Warn("leadership hand-off still running; stopping anyway", "waited", handOffWait)
	}
}

// ShutdownRequested is closed when an admin client sends SHUTDOWN: whoever
// runs the server (cmd/keepkv) should then Close it.
func (s *Server) ShutdownRequested() <-chan struct{} { return s.shutdownReq }

// BaseFlush flushes a connection's buffered replies before redcon would.
func BaseFlush(c redcon.Conn) {
	if w := redcon.BaseWriter(c); w != nil { // nil for a detached connection
		_ = w.Flush()
	}
}
