package storage

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Options configures a DB. A zero field means "use the default".
type Options struct {
	// InitialMmapSize is the initial mmap size of the bbolt file: address
	// space, not memory or disk (on Linux the file does not grow with it).
	// Until the file outgrows it, bbolt never remaps the file: a remap
	// waits for every read transaction (a snapshot being streamed) and
	// unmaps every page, which the next reads fault in again, one minor
	// fault each (see mapResident). Default 64 GiB on Linux (see
	// mmapSizeFor), 1 GiB elsewhere.
	InitialMmapSize int
	// Timeout bounds the wait for the file lock held by another process.
	// Default 5s.
	Timeout time.Duration
	// MaxPending bounds the bytes of applied changes waiting for a
	// checkpoint; past it, ApplyBatch waits for the background checkpoint
	// before returning. Default 256 MiB.
	MaxPending int64
	// CheckpointInterval is the least time between two background
	// checkpoints: longer means fewer, larger bbolt commits and more Raft
	// log to replay after a crash. Default 100ms.
	CheckpointInterval time.Duration
	// CheckpointBytes and CheckpointMaxInterval: after CheckpointInterval,
	// a background checkpoint waits until this many bytes of applied
	// changes are pending (or maxTombstones element deletions), or
	// CheckpointMaxInterval has passed since the last one. Defaults 32 MiB
	// and 2s. A MaxInterval not above
	// CheckpointInterval turns the wait off.
	CheckpointBytes       int64
	CheckpointMaxInterval time.Duration
	// OnCheckpointError is told when a background checkpoint fails; the
	// next ApplyBatch then fails too. Default: ignore.
	OnCheckpointError func(error)
	// OnApplyPanic is told when a command panicked in apply and was rolled
	// back (it yields ErrInternal). Default: ignore.
	OnApplyPanic func(ApplyPanic)
	// OnCheckpoint, when set, is told how long each successful checkpoint
	// took (its bbolt commit and fsync) and how many bytes of applied
	// changes it wrote (for metrics; it must be quick).
	OnCheckpoint func(d time.Duration, bytes int64)
	// ReadCacheBytes bounds the records of checkpointed keys kept in
	// memory for reads and writes (recCache). Default 64 MiB; the Go heap
	// holds up to about three times the figure (map overhead and the
	// garbage collector's headroom). Negative turns the cache off.
	ReadCacheBytes int64
	// OnRestore is told after Restore replaced the state (replicated sys
	// entries, such as ACL users, may have changed). Default: ignore.
	OnRestore func()
	// FileDeletionsAt: a checkpoint that deletes at least this many keys
	// files the deletions for a later sweep instead of deleting the
	// records in place (dead.go). Default DefaultFileDeletionsAt;
	// negative: never.
	FileDeletionsAt int

	fillHook func() // tests only: called between two chunks of the fill
}

func (o Options) withDefaults() Options {
	if o.InitialMmapSize == 0 {
		o.InitialMmapSize = defaultMmapSize()
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = 100 * time.Millisecond
	}
	if o.CheckpointBytes == 0 {
		o.CheckpointBytes = 32 << 20
	}
	if o.CheckpointMaxInterval == 0 {
		o.CheckpointMaxInterval = 2 * time.Second
	}
	if o.ReadCacheBytes == 0 {
		o.ReadCacheBytes = 64 << 20
	}
	if o.FileDeletionsAt == 0 {
		o.FileDeletionsAt = DefaultFileDeletionsAt
	}
	if o.MaxPending == 0 {
		o.MaxPending = 256 << 20
	}
	if o.OnCheckpointError == nil {
		o.OnCheckpointError = func(error) {}
	}
	if o.OnApplyPanic == nil {
		o.OnApplyPanic = func(ApplyPanic) {}
	}
	return o
}

// DB is keepkv's state: a bbolt file, the applied changes not yet
// checkpointed to it (see memLayer), and counters. It is safe for
// concurrent use: any number of View calls run alongside one ApplyBatch or
// Restore at a time (the Raft FSM goroutine is the only writer) and the
// background checkpointer.
type DB struct {
	path string
	opts Options

	mu      sync.RWMutex // write-held only while Restore swaps the file or Close closes it
	bolt    *bolt.DB
	closed  bool
	applied atomic.Uint64 // last entry applied (in memory or on disk)
	keys    [NumDBs]atomic.Int64
	expires [NumDBs]atomic.Int64
	types   [NumDBs][NumKeyTypes]atomic.Int64
	nextOID atomic.Uint64 // the last oid given to a collection
	garbage atomic.Int64  // released collections with elements left

	flushMu sync.Mutex   // one checkpoint at a time; taken before mu
	mem     sync.RWMutex // guards active, sealed, durable, ckptErr
	active  *memLayer
	sealed  []*memLayer // oldest first
	cache   *recCache   // checkpointed records (cache.go)
	hints   elemHints   // where collections' live elements begin and end (hints.go); apply only
	// tombstones counts element deletions written to the active layer
	// (rolled-back ones too: it only times checkpoints): ordered seeks
	// (SPOP's pick, ranges) step past each one until a checkpoint removes
	// them from disk, so enough of them end a checkpoint's wait.
	tombstones atomic.Int64
	durable    uint64 // applied index checkpointed to bbolt
	ckptErr    error
	pending    atomic.Int64
	ckptEnd    chan struct{} // closed when the running or next checkpoint ends
	waits      atomic.Int64  // ApplyBatch calls that waited for a checkpoint
	prefetched atomic.Int64  // keys Prefetch read (prefetch.go)

	used atomic.Int64 // bytes of the bbolt file in use, as of the last checkpoint

	panics   atomic.Int64             // commands whose apply panicked and was rolled back
	exec     atomic.Pointer[ExecFunc] // runs OpExec and OpScript (SetExec)
	testHook func(Op)                 // tests only: called before each record write

	fillDone chan struct{} // closed when the last fill started ends (fill.go), its mapResident too; under mem
	deadLeft atomic.Bool   // dead buckets may hold filed deletions to sweep (dead.go)
	noSweep  atomic.Bool   // tests only: the checkpointer does not sweep

	ckptKick chan struct{}
	ckptNow  chan struct{} // somebody waits for the next checkpoint: skip the pacing
	ckptStop chan struct{}
	ckptDone chan struct{}
}

// Open opens (creating if needed) the bbolt file at path.
func Open(path string, opts Options) (*DB, error) {
	opts = opts.withDefaults()
	db := &DB{path: path, opts: opts, active: newLayer(), cache: newRecCache(opts.ReadCacheBytes), ckptEnd: make(chan struct{}),
		ckptKick: make(chan struct{}, 1), ckptNow: make(chan struct{}, 1), ckptStop: make(chan struct{}), ckptDone: make(chan struct{})}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("storage: create dir: %w", err)
	}
	if err := db.open(); err != nil {
		return nil, err
	}
	go db.checkpointer()
	return db, nil
}

func (db *DB) open() error {
	b, err := bolt.Open(db.path, 0o600, &bolt.Options{
		Timeout:         db.opts.Timeout,
		InitialMmapSize: db.opts.InitialMmapSize,
		// The array freelist, not the map: bbolt writes the whole freelist
		// at every commit, and the map sorts its runs to do so. On a
		// 10M-session file after a mass expiry (468,221 free pages, in
		// scattered runs) a one-key commit took 63 ms of CPU with the map
		// and 2.6 ms with the array, and loading the freelist at open
		// 200-395 ms against 33 ms. The array's cost is in allocating runs
		// of several pages (a scan of the list); keepkv's nodes mostly fit
		// one page. BenchmarkCommitAfterMassDelete compares the two.
		FreelistType: bolt.FreelistArrayType,
	})
	if err != nil {
		return fmt.Errorf("storage: open %s: %w", db.path, err)
	}
	if err := initFile(b); err != nil {
		b.Close()
		return fmt.Errorf("storage: init buckets: %w", err)
	}
	db.bolt = b
	db.measure()
	return b.View(func(tx *bolt.Tx) error {
		db.deadLeft.Store(anyFiled(tx))
		if err := db.loadCounters(tx); err != nil {
			return err
		}
		db.cache.wholeIfEmpty(&boltView{tx: tx})
		return nil
	})
}

// initFile creates the buckets a new file lacks and the type counts an
// older one lacks, in a write transaction only if one is needed: every
// commit writes bbolt's freelist, 60-100 ms when it lists the ~450,000
// free pages of a file that held 10M sessions and expired a million.
func initFile(b *bolt.DB) error {
	var ready bool
	if err := b.View(func(tx *bolt.Tx) error {
		ready = hasBuckets(tx) && typeCountsCurrent(tx)
		return nil
	}); err != nil {
		return err
	}
	if ready {
		return nil
	}
	return b.Update(func(tx *bolt.Tx) error {
		if err := createBuckets(tx); err != nil {
			return err
		}
		return ensureTypeCounts(tx)
	})
}

func bucketNames() [][]byte {
	names := append([][]byte{bucketExpiry, bucketMeta, bucketElems, bucketGarbage, bucketSys}, dbBuckets[:]...)
	return append(names, deadBuckets[:]...)
}

func hasBuckets(tx *bolt.Tx) bool {
	for _, name := range bucketNames() {
		if tx.Bucket(name) == nil {
			return false
		}
	}
	return true
}

func createBuckets(tx *bolt.Tx) error {
	for _, name := range bucketNames() {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) loadCounters(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	db.applied.Store(getU64(meta, keyApplied))
	db.durable = db.applied.Load()
	db.nextOID.Store(getU64(meta, keyNextOID))
	db.garbage.Store(int64(getU64(meta, keyGarbage)))
	for i := range NumDBs {
		db.keys[i].Store(int64(getU64(meta, countKeys[i])))
		db.expires[i].Store(int64(getU64(meta, expireCountKey(uint8(i)))))
	}
	db.loadTypeCounts(tx)
	return nil
}

func expireCountKey(db uint8) []byte { return append([]byte("exp"), countKeys[db][4:]...) }

func getU64(b *bolt.Bucket, key []byte) uint64 {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// Close checkpoints what is still in memory and closes the bbolt file. It
// is safe to call more than once.
func (db *DB) Close() error {
	db.flushMu.Lock()
	select {
	case <-db.ckptStop:
	default:
		close(db.ckptStop)
	}
	db.flushMu.Unlock()
	<-db.ckptDone
	flushErr := db.Flush()
	if flushErr == ErrClosed {
		return nil
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	db.closed = true
	if err := db.bolt.Close(); err != nil {
		return err
	}
	return flushErr
}

// Path returns the bbolt file's path.
func (db *DB) Path() string { return db.path }

// AppliedIndex returns the index of the last Raft entry applied.
func (db *DB) AppliedIndex() uint64 { return db.applied.Load() }

// KeyCount returns the number of keys stored in database n, including keys
// whose deadline has passed but which are not yet deleted (as Redis's DBSIZE).
func (db *DB) KeyCount(n uint8) int64 { return db.keys[n].Load() }

// ExpiresCount returns the number of keys in database n that have a deadline.
func (db *DB) ExpiresCount(n uint8) int64 { return db.expires[n].Load() }

// measure records how much of the bbolt file holds data: the pages up to
// its high-water mark less the free pages bbolt will reuse. (The file itself
// is preallocated up to the mmap size, so its length says little.)
func (db *DB) measure() {
	var size int64
	if err := db.bolt.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil }); err != nil {
		return
	}
	free := int64(db.bolt.Stats().FreeAlloc)
	db.used.Store(max(size-free, 0))
}

// PendingBytes returns the approximate bytes of applied changes waiting
// for a checkpoint.
func (db *DB) PendingBytes() int64 { return db.pending.Load() }

// BacklogWaits returns how many times an apply waited for a checkpoint
// because more than MaxPending bytes were waiting for one.
func (db *DB) BacklogWaits() int64 { return db.waits.Load() }

// UsedBytes returns the bytes the state occupies: the in-use part of the
// bbolt file at the last checkpoint plus what waits for the next one.
func (db *DB) UsedBytes() int64 { return db.used.Load() + db.pending.Load() }

// Size returns the size of the bbolt file in bytes.
func (db *DB) Size() int64 {
	fi, err := os.Stat(db.path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// View runs fn on a consistent view of everything applied. Applies wait
// while fn runs, so keep it short.
func (db *DB) View(fn func(r *Reader) error) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	db.mem.RLock()
	defer db.mem.RUnlock()
	layers := db.layersLocked()
	applied := db.applied.Load()
	return db.bolt.View(func(tx *bolt.Tx) error {
		return fn(&Reader{bv: boltView{tx: tx}, layers: layers, cache: db.cache, applied: applied})
	})
}

// DurableIndex returns the applied index checkpointed to bbolt.
func (db *DB) DurableIndex() uint64 {
	db.mem.RLock()
	defer db.mem.RUnlock()
	return db.durable
}
