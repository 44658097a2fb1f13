package server

import (
	"bytes"
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keepkv/keepkv/replication"
	"github.com/keepkv/keepkv/storage"
	"github.com/keepkv/keepkv/ttl"
)

// expirer is the leader-only expiry driver. The timing wheel finds due
// keys; the driver proposes batched conditional deletes (OpExpireIf), which
// storage applies only if the key still has that deadline, so a session
// refreshed in the meantime survives and a duplicate or stale proposal is
// harmless. The wheel holds only deadlines before loadTarget; the rest stay
// in the on-disk index and are loaded page by page as time moves on.
type expirer struct {
	s      *Server
	tick   time.Duration
	window int64 // horizon, ms
	batch  int

	mu         sync.Mutex
	wheel      *ttl.Wheel
	cursor     []byte // next index position to load
	loadTarget int64  // deadlines before this are in the wheel or being loaded
	loadedTo   int64  // deadlines before this are all in the wheel
	retry      []ttl.Item
	stop       chan struct{}
	done       chan struct{}
	// backlog is the due keys of the pass in progress not yet deleted,
	// plus those left to retry (keepkv_expiry_backlog_keys).
	backlog atomic.Int64
}

// gauges returns the expiry backlog and the deadlines in the wheel, for
// metrics; both are 0 on a node that is not leader.
func (e *expirer) gauges() (backlog, scheduled int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.wheel == nil {
		return 0, 0
	}
	return e.backlog.Load(), int64(e.wheel.Len())
}

const refillPage = 10000

func newExpirer(s *Server) *expirer {
	return &expirer{s: s, tick: s.cfg.ExpiryTick, window: s.cfg.ExpiryHorizon.Milliseconds(), batch: s.cfg.ExpiryBatch}
}

// onApplied runs on the FSM goroutine: schedule new near deadlines.
func (e *expirer) onApplied(a storage.Applied) {
	if len(a.Deadlines) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.wheel == nil {
		return
	}
	for _, d := range a.Deadlines {
		if d.At < e.loadTarget {
			e.wheel.Schedule(d.DB, string(d.Key), d.At)
		}
	}
}

// onLeadership starts the driver when this node becomes a ready leader and
// stops it as soon as it is not.
func (e *expirer) onLeadership(leader bool) {
	e.mu.Lock()
	stop, done := e.stop, e.done
	e.stop, e.done, e.wheel, e.retry = nil, nil, nil, nil
	e.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	e.backlog.Store(0)
	if !leader {
		return
	}
	now := time.Now().UnixMilli()
	e.mu.Lock()
	e.wheel = ttl.New(e.tick.Milliseconds(), now)
	e.cursor, e.loadTarget, e.loadedTo = nil, 0, 0
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	go e.run(e.stop, e.done)
	e.mu.Unlock()
}

func (e *expirer) run(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(e.tick)
	defer t.Stop()
	for {
		now := time.Now().UnixMilli()
		e.refill(now)
		if due := e.due(now); len(due) > 0 {
			e.expire(now, due, stop)
		}
		e.collect(now, stop)
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// refill loads one page of the on-disk index into the wheel when the
// loaded window runs short of the horizon.
func (e *expirer) refill(now int64) {
	e.mu.Lock()
	if e.loadedTo >= e.loadTarget && e.loadedTo > now+e.window/2 {
		e.mu.Unlock()
		return
	}
	if e.loadedTo >= e.loadTarget {
		e.loadTarget = now + e.window
	}
	from, target := e.cursor, e.loadTarget
	e.mu.Unlock()
	// Deadlines applied before loadTarget was raised are not in the wheel;
	// the index scan sees every one applied so far.
	page, next, err := e.s.db.DueBetween(from, target, refillPage)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.wheel == nil {
		return
	}
	for _, d := range page {
		e.wheel.Schedule(d.DB, string(d.Key), d.At)
	}
	e.cursor = next
	if len(page) < refillPage {
		e.loadedTo = target
		e.cursor = maxPos(next, storage.IndexPosition(target))
	}
}

func maxPos(a, b []byte) []byte {
	if bytes.Compare(a, b) > 0 {
		return a
	}
	return b
}

func (e *expirer) due(now int64) []ttl.Item {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.wheel == nil {
		return nil
	}
	due := e.wheel.Advance(now)
	if len(e.retry) > 0 {
		due = append(due, e.retry...)
		e.retry = nil
	}
	return due
}

// expire proposes conditional deletes for due items in sorted order, a
// wave of batches at a time. Items whose proposal failed are retried on a
// later tick. A mass expiry can outpace the checkpoints that write its
// deletes to bbolt (each delete rewrites a random page of a large store):
// before each wave it waits while the checkpoint backlog is over half its
// bound, so that client writes never wait on it. It returns early, leaving
// the rest to the next leader, when stop is closed.
func (e *expirer) expire(now int64, due []ttl.Item, stop <-chan struct{}) {
	sort.Slice(due, func(i, j int) bool {
		if due[i].DB != due[j].DB {
			return due[i].DB < due[j].DB
		}
		return due[i].Key < due[j].Key
	})
	e.backlog.Store(int64(len(due)))
	defer func() {
		e.mu.Lock()
		e.backlog.Store(int64(len(e.retry)))
		e.mu.Unlock()
	}()
	for i := 0; i < len(due); i += e.batch * expireWave {
		waits, err := e.s.db.AwaitBacklog(stop)
		e.s.stats.expirePaced.Add(int64(waits))
		select {
		case <-stop:
			return
		default:
		}
		if err != nil {
			return // the store failed; the items stay in its index
		}
		wave := due[i:min(i+e.batch*expireWave, len(due))]
		e.expireWave(now, wave)
		e.backlog.Add(-int64(len(wave)))
	}
}

// expireWave caps the expire entries in flight at once, so that client
// writes interleave with a mass expiry instead of queueing behind it.
const expireWave = 4

func (e *expirer) expireWave(now int64, due []ttl.Item) {
	type inflight struct {
		p     *replication.Proposal
		items []ttl.Item
	}
	var all []inflight
	for i := 0; i < len(due); i += e.batch {
		items := due[i:min(i+e.batch, len(due))]
		ent := storage.Entry{Now: now, Cmds: make([]storage.Cmd, len(items))}
		for j, it := range items {
			ent.Cmds[j] = storage.Cmd{Op: storage.OpExpireIf, DB: it.DB, Keys: [][]byte{[]byte(it.Key)}, Deadline: it.At}
		}
		all = append(all, inflight{p: e.s.node.Propose(context.Background(), ent.Encode()), items: items})
	}
	for _, f := range all {
		res, err := f.p.Wait()
		if err != nil {
			e.mu.Lock()
			if e.wheel != nil {
				e.retry = append(e.retry, f.items...)
			}
			e.mu.Unlock()
			continue
		}
		for _, r := range res {
			if r.Kind == storage.ResultInt && r.Int == 1 {
				e.s.stats.expired.Add(1)
			}
		}
	}
}

// Garbage collection: the element records of big collections that were
// deleted or overwritten wait in a queue (storage.DB.GarbageCount). The
// leader drains it with OpGC entries of gcBatch records, gcPerTick entries
// per tick at most, so that a deleted million-member set costs client
// writes nothing noticeable.
const (
	gcBatch   = 2000
	gcPerTick = 4
)

func (e *expirer) collect(now int64, stop <-chan struct{}) {
	for range gcPerTick {
		if e.s.db.GarbageCount() == 0 {
			return
		}
		if _, err := e.s.db.AwaitBacklog(stop); err != nil {
			return
		}
		select {
		case <-stop:
			return
		default:
		}
		ent := storage.Entry{Now: now, Cmds: []storage.Cmd{{Op: storage.OpGC, Int: gcBatch}}}
		res, err := e.s.node.Propose(context.Background(), ent.Encode()).Wait()
		if err != nil || len(res) != 1 || res[0].Int < gcBatch {
			return // failed, or that collection is done: go on next tick
		}
	}
}
