package main

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/keepkv/keepkv/replication"
	"github.com/keepkv/keepkv/server"
)

// Config is everything keepkv reads from flags and the environment.
type Config struct {
	Addr              string
	Dir               string
	NodeID            string
	RaftAddr          string
	RaftAdvertise     string
	Password          string
	LogLevel          string
	MaxValueSize      int64
	MaxBulkLen        int64
	MaxMultibulk      int64
	MaxInline         int
	MaxClients        int
	IdleTimeout       time.Duration
	WriteTimeout      time.Duration
	MaxDiskBytes      int64
	TLSAddr           string
	TLSCert           string
	TLSKey            string
	TLSCA             string
	TLSAuthClients    bool
	TLSCluster        bool
	ClusterSecret     string
	ClusterSecretFile string
	ClusterSecretOld  string
	InsecurePeers     bool
	clientTLS         *tls.Config
	peerTLS           *tls.Config
	DisableCommands   string
	LeaderWait        time.Duration
	HeartbeatTimeout  time.Duration
	ElectionTimeout   time.Duration
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	TrailingLogBytes  uint64
	MaxAppendEntries  int
	RaftLog           string
	CheckpointEvery   time.Duration
	CheckpointBytes   int64
	CheckpointMax     time.Duration
	ReadCache         int64
	GroupCommit       bool
	PprofAddr         string
	Join              string
	Peers             string
	StaleReads        bool
	ScriptBudget      int64
	ProtectedMode     bool
	UsersFile         string
	HTTPAddr          string
	HTTPToken         string
	HTTPTokenFile     string
	httpTokens        []server.HTTPToken
	httpTLS           *tls.Config
	users             []server.User
	peers             []replication.Member
	ExpiryHorizon     time.Duration
	ExpiryBatch       int
	GCHeapFloor       int // MiB
	ShutdownTimeout   time.Duration
}

const usageHeader = `Usage: keepkv [flags]

keepkv is a durable, replicated, Redis-compatible key-value store for web
sessions. With no flags it serves RESP on 127.0.0.1:6379, keeps its data in
./keepkv-data and bootstraps itself as a one-node cluster.

Every flag can also be set with an environment variable: --max-clients is
KEEPKV_MAX_CLIENTS. A flag on the command line wins over the environment.

Flags:
`

// parseFlags reads args, falling back to KEEPKV_* variables from getenv.
func parseFlags(args []string, getenv func(string) string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("keepkv", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:6379", "RESP listen address (host:port)")
	fs.StringVar(&c.Dir, "dir", "keepkv-data", "data directory (state.db, raft log, snapshots)")
	fs.StringVar(&c.NodeID, "node-id", "", "Raft server ID; default: the one stored in the data dir, or a new random one")
	fs.StringVar(&c.RaftAddr, "raft-addr", "", "Raft listen address; default: the RESP host with port+10000")
	fs.StringVar(&c.RaftAdvertise, "raft-advertise", "", "Raft address other nodes use to reach this one; default: --raft-addr")
	fs.StringVar(&c.Password, "requirepass", "", "password clients must send with AUTH (env KEEPKV_PASSWORD also works)")
	fs.BoolVar(&c.ProtectedMode, "protected-mode", true, "with no --requirepass, refuse clients that are not on the loopback interface (as Redis)")
	fs.StringVar(&c.UsersFile, "users-file", "", `file of ACL users: Redis ACL file lines "user NAME RULES..." or "NAME ro|rw|admin PASSWORD"; seeds the replicated users once, read again by ACL LOAD, written by ACL SAVE`)
	fs.StringVar(&c.HTTPAddr, "http-addr", "", "serve the Upstash-compatible REST API (and /metrics, /healthz, /readyz) on this address, e.g. 127.0.0.1:8079 (off when empty); HTTPS when --tls-cert and --tls-key are given")
	fs.StringVar(&c.HTTPToken, "http-token", "", "token HTTP requests present (Authorization: Bearer <token> or ?_token=) to run as the default user; prefer env KEEPKV_HTTP_TOKEN or --http-token-file, which keep it out of ps. Other users' tokens: \"token <user> <token>\" lines in --users-file")
	fs.StringVar(&c.HTTPTokenFile, "http-token-file", "", "file holding the default user's HTTP token on its first line")
	fs.StringVar(&c.TLSAddr, "tls-addr", "", "also serve RESP over TLS on this address (needs --tls-cert and --tls-key)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate for TLS (clients, and peers with --tls-cluster)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key for --tls-cert")
	fs.StringVar(&c.TLSCA, "tls-ca", "", "PEM CA certificates: client certificates are checked against it, and with --tls-cluster every peer's")
	fs.BoolVar(&c.TLSAuthClients, "tls-auth-clients", false, "require TLS clients to present a certificate signed by --tls-ca")
	fs.BoolVar(&c.TLSCluster, "tls-cluster", false, "mutual TLS between nodes (Raft, joins, forwarding) with --tls-cert/--tls-key, trusting only --tls-ca")
	fs.StringVar(&c.ClusterSecret, "cluster-secret", "", "shared secret (16+ characters, the same on every node) that each node proves to its peers before any Raft, join or forwarded traffic is read; prefer env KEEPKV_CLUSTER_SECRET or --cluster-secret-file, which keep it out of ps")
	fs.StringVar(&c.ClusterSecretFile, "cluster-secret-file", "", "file holding the cluster secret on its first line and, optionally, a previous secret on its second that is still accepted from peers but never sent (rotation)")
	fs.StringVar(&c.ClusterSecretOld, "cluster-secret-old", "", "previous cluster secret: accepted from peers but never sent, for a rolling rotation (see README)")
	fs.BoolVar(&c.InsecurePeers, "insecure-peers", false, "start even though the Raft address is not loopback and neither --cluster-secret nor --tls-cluster authenticates peers (anyone reaching the Raft port can then rewrite the data)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	fs.Int64Var(&c.MaxValueSize, "max-value-size", 16<<20, "largest value a key may hold, in bytes")
	fs.Int64Var(&c.MaxBulkLen, "max-bulk-len", 512<<20, "largest bulk string a client may send, in bytes (proto-max-bulk-len)")
	fs.Int64Var(&c.MaxMultibulk, "max-multibulk", 1<<20, "most arguments in one command")
	fs.IntVar(&c.MaxInline, "max-inline", 64<<10, "longest inline command, in bytes")
	fs.IntVar(&c.MaxClients, "max-clients", 10000, "most concurrent client connections")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 0, "close client connections idle this long (0: never)")
	fs.DurationVar(&c.WriteTimeout, "client-write-timeout", time.Minute, "disconnect a client that does not read its replies for this long")
	fs.Int64Var(&c.MaxDiskBytes, "max-disk-bytes", 0, "refuse commands that add data once the state uses this many bytes (0: no limit); reads and deletes keep working")
	fs.StringVar(&c.DisableCommands, "disable-commands", "", "comma-separated commands to remove, e.g. FLUSHALL,FLUSHDB,RENAME")
	fs.DurationVar(&c.LeaderWait, "leader-wait", 5*time.Second, "how long a command waits for a leader before failing with CLUSTERDOWN")
	fs.DurationVar(&c.HeartbeatTimeout, "heartbeat-timeout", 500*time.Millisecond, "Raft heartbeat timeout")
	fs.DurationVar(&c.ElectionTimeout, "election-timeout", 500*time.Millisecond, "Raft election timeout")
	// A snapshot is a checkpoint plus a 16-byte marker, so it is cheap to
	// take often, and a node reads every log entry after the last one when
	// it starts: frequent snapshots keep restarts fast.
	fs.Uint64Var(&c.SnapshotThreshold, "snapshot-threshold", 256, "log entries between snapshots")
	fs.DurationVar(&c.SnapshotInterval, "snapshot-interval", 5*time.Second, "how often to check whether to snapshot")
	fs.Uint64Var(&c.TrailingLogs, "trailing-logs", 10240, "most log entries kept after a snapshot, for followers that fall behind to catch up from")
	fs.Uint64Var(&c.TrailingLogBytes, "trailing-log-bytes", 128<<20, "most bytes of log entries kept after a snapshot (at least 64 entries; 0: --trailing-logs alone): bounds the Raft log's size on disk")
	fs.IntVar(&c.MaxAppendEntries, "max-append-entries", 64, "most log entries Raft sends, stores and applies as one batch")
	fs.DurationVar(&c.CheckpointEvery, "checkpoint-interval", 100*time.Millisecond, "least time between two checkpoints of applied writes to state.db: longer means fewer, larger bbolt commits (a key written many times in one window is written once) and more Raft log to replay after a crash")
	fs.Int64Var(&c.CheckpointBytes, "checkpoint-bytes", 32<<20, "after --checkpoint-interval, a checkpoint waits until this many bytes of applied writes (or 1024 element deletions) are pending or --checkpoint-max-interval has passed: a small hot keyspace is rewritten less often")
	fs.DurationVar(&c.CheckpointMax, "checkpoint-max-interval", 2*time.Second, "longest a checkpoint waits for --checkpoint-bytes of writes (not above --checkpoint-interval: no wait)")
	fs.Int64Var(&c.ReadCache, "read-cache-bytes", 64<<20, "memory for the records of recently written keys, read without a B+tree descent (negative: off)")
	fs.BoolVar(&c.GroupCommit, "group-commit", true, "while one round of writes is in Raft, queue new ones and send them as the next round (one log append per round)")
	fs.StringVar(&c.RaftLog, "raft-log", "bolt", "Raft log store: bolt (hashicorp/raft-boltdb, the default) or wal (hashicorp/raft-wal, experimental, for benchmarks); a data dir keeps the kind it was created with")
	fs.StringVar(&c.Join, "join", "", "join the cluster through this member's Raft address (or, without --cluster-secret and --tls-cluster, its client address) instead of bootstrapping")
	fs.StringVar(&c.Peers, "peers", "", "static cluster: id=raft-host:port,... (every node gets the same list, including itself)")
	fs.BoolVar(&c.StaleReads, "stale-reads", false, "serve reads from this node's local state even on followers (as READONLY does per connection)")
	fs.Int64Var(&c.ScriptBudget, "script-budget", server.DefaultScriptBudget, "instructions a Lua script may run (allocations count too) before it is aborted with its writes rolled back, the same on every node")
	fs.StringVar(&c.PprofAddr, "pprof-addr", "", "serve Go's pprof profiles on this address (off when empty)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGTERM or SHUTDOWN, exit after this long even if the orderly shutdown has not finished (as safe as SIGKILL: the Raft log is fsynced)")
	fs.DurationVar(&c.ExpiryHorizon, "expiry-horizon", time.Minute, "how far ahead the expiry wheel holds deadlines in memory")
	fs.IntVar(&c.GCHeapFloor, "gc-heap-floor", defaultGCHeapFloor, "MiB the Go garbage collector counts as live heap without scanning it or holding it in memory (0 to 65536): it collects when the heap reaches about twice what is live, so a small heap under load is collected far less often. Costs up to about as much RSS under load; 0: Go's default")
	fs.IntVar(&c.ExpiryBatch, "expiry-batch", 1000, "most keys one expire log entry deletes (1 to 100000); a mass expiry has four such entries in flight and a client write waits behind those ahead of it: smaller entries make the drain longer for a little less write latency during it")
	fs.Usage = func() {
		fmt.Fprint(os.Stdout, usageHeader)
		fs.SetOutput(os.Stdout)
		fs.PrintDefaults()
	}
	if err := applyEnv(fs, getenv); err != nil {
		return c, err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0) // Parse has printed the usage
		}
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, c.fill()
}

// applyEnv sets each flag from KEEPKV_<NAME> when present.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "KEEPKV_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if f.Name == "requirepass" {
			name = "KEEPKV_PASSWORD"
		}
		if v := getenv(name); v != "" && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %v", name, e)
			}
		}
	})
	return err
}

// defaultGCHeapFloor and maxGCHeapFloor are --gc-heap-floor's default and
// bound, in MiB (see run.go, gcFloor).
const (
	defaultGCHeapFloor = 128
	maxGCHeapFloor     = 65536
)

// maxExpiryBatch bounds --expiry-batch: one expire entry is applied in one
// go, and a million-key entry would hold up every write behind it.
const maxExpiryBatch = 100_000

// fill derives defaults that depend on other settings.
func (c *Config) fill() error {
	if c.Join != "" && c.Peers != "" {
		return errors.New("either --join or --peers, not both")
	}
	if c.ScriptBudget < 1 {
		return errors.New("--script-budget must be at least 1")
	}
	if c.GCHeapFloor < 0 || c.GCHeapFloor > maxGCHeapFloor {
		return fmt.Errorf("--gc-heap-floor must be between 0 and %d (MiB)", maxGCHeapFloor)
	}
	if c.ExpiryBatch < 1 || c.ExpiryBatch > maxExpiryBatch {
		return fmt.Errorf("--expiry-batch must be between 1 and %d", maxExpiryBatch)
	}
	peers, err := replication.ParsePeers(c.Peers)
	if err != nil {
		return err
	}
	c.peers = peers
	if err := c.loadTLS(); err != nil {
		return err
	}
	if err := c.loadClusterSecret(); err != nil {
		return err
	}
	if c.UsersFile != "" {
		text, err := os.ReadFile(c.UsersFile)
		if err != nil {
			return fmt.Errorf("--users-file: %v", err)
		}
		if c.users, err = server.ParseUsersFile(string(text)); err != nil {
			return fmt.Errorf("--users-file %s: %v", c.UsersFile, err)
		}
		if c.httpTokens, err = server.ParseUserTokens(string(text)); err != nil {
			return fmt.Errorf("--users-file %s: %v", c.UsersFile, err)
		}
	}
	if err := c.loadHTTP(); err != nil {
		return err
	}
	if c.RaftAddr == "" {
		host, port, err := net.SplitHostPort(c.Addr)
		if err != nil {
			return fmt.Errorf("--addr %q: %v", c.Addr, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p+10000 > 65535 {
			return fmt.Errorf("--addr %q: cannot derive a Raft port; set --raft-addr", c.Addr)
		}
		raftPort := 0
		if p != 0 {
			raftPort = p + 10000
		}
		c.RaftAddr = net.JoinHostPort(host, strconv.Itoa(raftPort))
	}
	if c.ClusterSecret == "" && !c.TLSCluster && !c.InsecurePeers && replication.PeersExposed(c.RaftAddr, c.RaftAdvertise) {
		return fmt.Errorf("refusing to start: the Raft address %s is reachable from other hosts, but %w", c.RaftAddr, replication.ErrUnauthenticatedPeers)
	}
	return nil
}

// loadClusterSecret reads --cluster-secret-file and checks the secrets,
// never quoting them.
func (c *Config) loadClusterSecret() error {
	if c.ClusterSecretFile != "" {
		if c.ClusterSecret != "" {
			return errors.New("either --cluster-secret or --cluster-secret-file, not both")
		}
		b, err := os.ReadFile(c.ClusterSecretFile)
		if err != nil {
			return fmt.Errorf("--cluster-secret-file: %v", err)
		}
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
		if len(lines) == 0 || len(lines) > 2 {
			return fmt.Errorf("--cluster-secret-file %s: want the secret on the first line and at most one previous secret on the second, found %d non-empty lines", c.ClusterSecretFile, len(lines))
		}
		c.ClusterSecret = lines[0]
		if len(lines) == 2 {
			if c.ClusterSecretOld != "" {
				return errors.New("a previous secret both in --cluster-secret-file and --cluster-secret-old")
			}
			c.ClusterSecretOld = lines[1]
		}
	}
	if c.ClusterSecretOld != "" && c.ClusterSecret == "" {
		return errors.New("--cluster-secret-old needs --cluster-secret (the one to send)")
	}
	for _, s := range []struct{ name, v string }{{"--cluster-secret", c.ClusterSecret}, {"--cluster-secret-old", c.ClusterSecretOld}} {
		if s.v == "" {
			continue
		}
		if err := replication.CheckClusterSecret(s.v); err != nil {
			return fmt.Errorf("%s: %v", s.name, err)
		}
	}
	return nil
}

// nodeID returns the ID stored in dir, or stores and returns a new one.
func nodeID(dir, want string) (string, error) {
	path := filepath.Join(dir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		stored := strings.TrimSpace(string(b))
		if want != "" && want != stored {
			return "", fmt.Errorf("--node-id %q, but %s holds %q", want, path, stored)
		}
		return stored, nil
	}
	id := want
	if id == "" {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		id = "node-" + hex.EncodeToString(b[:])
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return id, os.WriteFile(path, []byte(id+"\n"), 0o644)
}

func (c Config) server(id string) server.Config {
	sc := server.Config{
		Addr: c.Addr, Dir: c.Dir, Password: c.Password, Users: c.users, UsersFile: c.UsersFile, ProtectedMode: c.ProtectedMode,
		MaxValueSize: c.MaxValueSize, MaxClients: c.MaxClients, IdleTimeout: c.IdleTimeout, ClientWriteTimeout: c.WriteTimeout,
		MaxDiskBytes: c.MaxDiskBytes, DisabledCommands: strings.FieldsFunc(c.DisableCommands, func(r rune) bool { return r == ',' || r == ' ' }),
		Limits:        server.Limits{MaxBulkLen: c.MaxBulkLen, MaxMultibulk: c.MaxMultibulk, MaxInline: c.MaxInline},
		ExpiryHorizon: c.ExpiryHorizon, ExpiryBatch: c.ExpiryBatch,
		HeapFloor: uint64(c.GCHeapFloor) << 20,
	}
	sc.TLSAddr, sc.TLS = c.TLSAddr, c.clientTLS
	sc.HTTPAddr, sc.HTTPTLS, sc.HTTPTokens = c.HTTPAddr, c.httpTLS, c.httpTokens
	sc.Raft.PeerTLS = c.peerTLS
	sc.Raft.ClusterSecret, sc.Raft.ClusterSecretOld = c.ClusterSecret, c.ClusterSecretOld
	sc.Raft.InsecurePeers = c.InsecurePeers
	sc.Raft.NodeID = id
	sc.Raft.RaftBind = c.RaftAddr
	sc.Raft.RaftAdvertise = c.RaftAdvertise
	sc.Raft.Bootstrap = c.Join == "" && c.Peers == ""
	sc.Raft.Peers = c.peers
	sc.Join = c.Join
	sc.StaleReads = c.StaleReads
	sc.ScriptBudget = c.ScriptBudget
	sc.Raft.LeaderWait = c.LeaderWait
	sc.Raft.HeartbeatTimeout = c.HeartbeatTimeout
	sc.Raft.ElectionTimeout = c.ElectionTimeout
	sc.Raft.LeaderLeaseTimeout = c.HeartbeatTimeout / 2
	sc.Raft.SnapshotThreshold = c.SnapshotThreshold
	sc.Raft.SnapshotInterval = c.SnapshotInterval
	sc.Raft.TrailingLogs = c.TrailingLogs
	sc.Raft.TrailingLogBytes = c.TrailingLogBytes
	sc.Raft.MaxAppendEntries = c.MaxAppendEntries
	sc.Raft.LogStoreKind = c.RaftLog
	sc.Storage.CheckpointInterval = c.CheckpointEvery
	sc.Storage.CheckpointBytes = c.CheckpointBytes
	sc.Storage.CheckpointMaxInterval = c.CheckpointMax
	sc.Storage.ReadCacheBytes = c.ReadCache
	sc.Raft.GroupCommit = c.GroupCommit
	return sc
}

// loadHTTP reads the default user's HTTP token and, for an HTTP listener,
// the TLS certificate: HTTPS whenever --tls-cert and --tls-key are given.
func (c *Config) loadHTTP() error {
	if c.HTTPTokenFile != "" {
		if c.HTTPToken != "" {
			return errors.New("either --http-token (KEEPKV_HTTP_TOKEN) or --http-token-file, not both")
		}
		b, err := os.ReadFile(c.HTTPTokenFile)
		if err != nil {
			return fmt.Errorf("--http-token-file: %v", err)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		if c.HTTPToken = strings.TrimSpace(first); c.HTTPToken == "" {
			return fmt.Errorf("--http-token-file %s: the first line is empty", c.HTTPTokenFile)
		}
	}
	if c.HTTPToken != "" {
		t, err := server.NewHTTPToken("default", c.HTTPToken)
		if err != nil {
			return fmt.Errorf("--http-token: %v", err)
		}
		c.httpTokens = append(c.httpTokens, t)
	}
	if c.HTTPAddr == "" || c.TLSCert == "" || c.TLSKey == "" {
		return nil
	}
	var err error
	c.httpTLS, err = server.LoadClientTLS(c.TLSCert, c.TLSKey, c.TLSCA, c.TLSAuthClients)
	return err
}

func (c *Config) loadTLS() error {
	var err error
	if c.TLSAddr != "" {
		if c.TLSCert == "" || c.TLSKey == "" {
			return errors.New("--tls-addr needs --tls-cert and --tls-key")
		}
		if c.clientTLS, err = server.LoadClientTLS(c.TLSCert, c.TLSKey, c.TLSCA, c.TLSAuthClients); err != nil {
			return err
		}
	}
	if c.TLSCluster {
		if c.TLSCert == "" || c.TLSKey == "" || c.TLSCA == "" {
			return errors.New("--tls-cluster needs --tls-cert, --tls-key and --tls-ca")
		}
		if c.peerTLS, err = replication.LoadPeerTLS(c.TLSCert, c.TLSKey, c.TLSCA); err != nil {
			return err
		}
	}
	return nil
}
