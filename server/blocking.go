package server

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"math"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keepkv/keepkv/replication"
	"github.com/keepkv/keepkv/storage"
)

// Blocking commands: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN, BZPOPMAX.
//
// Design. A blocked client waits on the node it is connected to, leader
// or follower alike; only its pops travel to the leader:
//
//   - Every node applies every entry, so every node learns of every push:
//     after each applied batch the FSM goroutine calls wakeBlocked with the
//     keys that got elements, which only signals waiters and returns.
//   - Each try is one ordinary write, the pop of the command's
//     non-blocking form (storage.OpBLPop, OpBRPop, OpLMove, OpZPop),
//     proposed through Raft on the leader, so it is atomic and replicated.
//     A follower forwards the try: it sends the blocking command itself to
//     the leader, which, seeing it arrive from a peer, makes one try and
//     answers at once (a null array when there was nothing to pop). A
//     forwarded command is thus always short, and the forwarder's
//     LeaderWait+10s deadline never cuts a long block (forwarding the
//     whole blocking command would: a BLPOP with timeout 0 would fail
//     after 15 s).
//   - A waiter is registered on its keys before its first try, so a push
//     that commits after a try found nothing always wakes it. The leader
//     skips the first try when none of the keys exists in its state (every
//     acknowledged write is applied there), so an idle worker's BLPOP adds
//     nothing to the log; a follower always makes the first try, as its
//     state may lag.
//   - Order: the waiters on a key form a FIFO queue per node. A push wakes
//     only the queue's first waiter; a waiter that leaves the queue (it
//     was served, timed out or went away) after being woken passes the
//     wake on to the next one, which then tries in turn. If another client
//     (a plain LPOP, or a waiter on another node) took the element first,
//     the woken waiter finds nothing and keeps its place. Across nodes
//     there is no common order: waiters on different nodes race for an
//     element, each pop being atomic.
//   - A blocked connection holds only its own redcon goroutine. It ends
//     when the client disconnects (protoConn.watch), on its timeout, and
//     at shutdown (s.ctx).
//
// Differences from Redis 7.0, all in rare corners: Redis serves a woken
// client from the key that became ready, keepkv from the first of its keys
// that holds data; a WRONGTYPE met on a retry (a key turned into another
// type while the client waited) keeps the client waiting, as Redis 7.0
// does for a single key. RENAME, MOVE and COPY of a list or sorted set onto
// a key someone waits for wake the waiter, as in Redis.

// blockers is a node's registry of blocked clients.
type blockers struct {
	mu      sync.Mutex
	queues  map[blockKey]*list.List // of *waiter, in arrival order
	blocked atomic.Int64            // clients waiting now (INFO blocked_clients)
}

type blockKey struct {
	db  uint8
	key string
}

type waiter struct {
	keys  []blockKey
	elems []*list.Element // its place in each key's queue
	wake  chan struct{}   // capacity 1: a pending wake
	woken bool            // guarded by blockers.mu: it was ever woken
}

func newBlockers() *blockers { return &blockers{queues: map[blockKey]*list.List{}} }

// blockers returns the server's registry of blocked clients.
func (s *Server) blockers() *blockers { return s.blk }

// blockedClients is INFO's blocked_clients.
func (s *Server) blockedClients() int64 {
	return s.blk.blocked.Load()
}

// wakeBlocked is told, on the FSM goroutine, of the keys that applied
// commands gave new elements to. It wakes the first waiter of each and
// returns: the waiters retry on their own goroutines.
func (s *Server) wakeBlocked(ready []storage.KeyRef) {
	if len(ready) == 0 {
		return
	}
	b := s.blk
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range ready {
		if q := b.queues[blockKey{k.DB, string(k.Key)}]; q != nil {
			q.Front().Value.(*waiter).signal()
		}
	}
}

// signal wakes w; b.mu is held.
func (w *waiter) signal() {
	w.woken = true
	select {
	case w.wake <- struct{}{}:
	default: // already pending
	}
}

// register queues a waiter on keys (each once).
func (b *blockers) register(db uint8, keys [][]byte) *waiter {
	w := &waiter{wake: make(chan struct{}, 1)}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys {
		bk := blockKey{db, string(k)}
		q := b.queues[bk]
		if q == nil {
			q = list.New()
			b.queues[bk] = q
		}
		dup := false
		for _, have := range w.keys {
			dup = dup || have == bk
		}
		if !dup {
			w.keys = append(w.keys, bk)
			w.elems = append(w.elems, q.PushBack(w))
		}
	}
	return w
}

// remove takes w out of its queues. If it was ever woken, the wake it
// consumed may have been for an element still there: the new first waiter
// of each of its keys is woken to look.
func (b *blockers) remove(w *waiter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, bk := range w.keys {
		q := b.queues[bk]
		q.Remove(w.elems[i])
		if q.Len() == 0 {
			delete(b.queues, bk)
		} else if w.woken {
			q.Front().Value.(*waiter).signal()
		}
	}
}

// passOn wakes the next waiter after w on each of its keys, when w was
// woken but will not pop (a retry met WRONGTYPE).
func (b *blockers) passOn(w *waiter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range w.keys {
		if next := w.elems[i].Next(); next != nil {
			next.Value.(*waiter).signal()
		}
	}
}

func blockingCommands() []*command {
	w, f, oom := flagWrite|flagInMulti, flagFast, flagDenyOOM
	return []*command{
		{name: "blpop", arity: -3, flags: w, firstKey: 1, lastKey: -2, step: 1, group: "list", summary: "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", since: "2.0.0", local: cmdBPop(storage.OpBLPop)},
		{name: "brpop", arity: -3, flags: w, firstKey: 1, lastKey: -2, step: 1, group: "list", summary: "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", since: "2.0.0", local: cmdBPop(storage.OpBRPop)},
		{name: "blmove", arity: 6, flags: w | oom, firstKey: 1, lastKey: 2, step: 1, group: "list", summary: "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", since: "6.2.0", local: cmdBLMove},
		{name: "brpoplpush", arity: 4, flags: w | oom, firstKey: 1, lastKey: 2, step: 1, group: "list", summary: "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", since: "2.2.0", local: cmdBRPopLPush},
		{name: "bzpopmin", arity: -3, flags: w | f, firstKey: 1, lastKey: -2, step: 1, group: "sorted-set", summary: "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", since: "5.0.0", local: cmdBZPop(false)},
		{name: "bzpopmax", arity: -3, flags: w | f, firstKey: 1, lastKey: -2, step: 1, group: "sorted-set", summary: "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", since: "5.0.0", local: cmdBZPop(true)},
	}
}

const (
	errTimeoutNegative = "ERR timeout is negative"
	errTimeoutFloat    = "ERR timeout is not a float or out of range"
)

// parseTimeout reads a timeout in seconds as Redis 7.0 does: a long
// double, times 1000, truncated to whole milliseconds (so 0.0001 and
// -0.0001 mean "forever", like 0). A value past the range of a long long
// becomes negative there (x86 converts it to LLONG_MIN), so it is
// refused as negative here too. One difference: Redis's strtold also
// reads hexadecimal ("0x10"); storage.ParseFloat does not.
func parseTimeout(arg []byte) (time.Duration, string) {
	f, ok := storage.ParseFloat(arg)
	if !ok {
		return 0, errTimeoutFloat
	}
	if f.IsInf() {
		return 0, errTimeoutNegative
	}
	ms, acc := new(big.Float).Mul(f, big.NewFloat(1000)).Int64() // truncates towards zero
	if ms < 0 || (acc != big.Exact && (ms == math.MaxInt64 || ms == math.MinInt64)) {
		return 0, errTimeoutNegative
	}
	// A timeout beyond what a time.Duration holds (292 years) is forever.
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return 0, ""
	}
	return time.Duration(ms) * time.Millisecond, ""
}

// blockCall is one blocking command, ready to run.
type blockCall struct {
	keys    [][]byte      // the keys it waits for
	pop     storage.Cmd   // one try: the non-blocking pop
	timeout time.Duration // 0: forever
	// served reports whether a try's result carries data to reply with.
	served func(r storage.Result) bool
	// reply writes a served result.
	reply func(w *replyWriter, r storage.Result)
}

func cmdBPop(op storage.Op) localFunc {
	return func(x *execCtx, args [][]byte) {
		timeout, e := parseTimeout(args[len(args)-1])
		if e != "" {
			x.w.Error(e)
			return
		}
		keys := args[1 : len(args)-1]
		x.block(args, blockCall{
			keys: keys, pop: storage.Cmd{Op: op, Keys: keys}, timeout: timeout,
			served: func(r storage.Result) bool { return r.Kind == storage.ResultArray && !r.Null },
			reply:  func(w *replyWriter, r storage.Result) { w.Result(r) },
		})
	}
}

func lmoveCall(args [][]byte, dir int64, timeoutArg []byte, x *execCtx) {
	timeout, e := parseTimeout(timeoutArg)
	if e != "" {
		x.w.Error(e)
		return
	}
	x.block(args, blockCall{
		keys: args[1:2], pop: storage.Cmd{Op: storage.OpLMove, Keys: args[1:3], Int: dir}, timeout: timeout,
		served: func(r storage.Result) bool { return r.Kind == storage.ResultBulk },
		reply:  func(w *replyWriter, r storage.Result) { w.Bulk(r.Bytes) },
	})
}

// cmdBLMove: as Redis, the directions are checked before the timeout.
func cmdBLMove(x *execCtx, args [][]byte) {
	dir, ok := lmoveDirs(args[3], args[4])
	if !ok {
		x.w.Error(errSyntax)
		return
	}
	lmoveCall(args, dir, args[5], x)
}

func cmdBRPopLPush(x *execCtx, args [][]byte) {
	lmoveCall(args, storage.LMoveFromRight, args[3], x)
}

// cmdBZPop serves BZPOPMIN and BZPOPMAX with the sorted-set family's
// OpZPop (one member): the reply is key, member, score.
func cmdBZPop(highest bool) localFunc {
	return func(x *execCtx, args [][]byte) {
		timeout, e := parseTimeout(args[len(args)-1])
		if e != "" {
			x.w.Error(e)
			return
		}
		keys := args[1 : len(args)-1]
		pop := storage.Cmd{Op: storage.OpZPop, Keys: keys, Int: 1}
		if highest {
			pop.Flags = storage.FlagGT
		}
		x.block(args, blockCall{
			keys: keys, pop: pop, timeout: timeout,
			served: func(r storage.Result) bool { return r.Kind == storage.ResultArray && len(r.Elems) >= 2 },
			reply: func(w *replyWriter, r storage.Result) {
				w.Array(3)
				w.Bulk(r.Bytes)
				w.Result(r.Elems[0])
				w.Result(r.Elems[1])
			},
		})
	}
}

// tryResult is the outcome of one try.
type tryResult struct {
	served    bool
	wrongType bool
	write     func() // writes the reply (served, or an error that ends the command)
}

// block runs a blocking command on this connection's goroutine: it tries,
// waits for a push to one of its keys, and tries again, until it is served,
// times out, the client goes away or the server shuts down.
func (x *execCtx) block(args [][]byte, bc blockCall) {
	s := x.s
	if x.txn != nil {
		x.blockInTxn(bc)
		return
	}
	if x.st.internal {
		// A follower's forwarded try: one try, answered at once.
		r := x.tryHere(bc)
		if r.write == nil {
			x.w.NullArray()
			return
		}
		r.write()
		return
	}
	b := s.blockers()
	w := b.register(x.st.db, bc.keys)
	defer b.remove(w)

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	var timer <-chan time.Time
	if bc.timeout > 0 {
		t := time.NewTimer(bc.timeout)
		defer t.Stop()
		timer = t.C
	}
	first, waiting := true, false
	for {
		skip := first && s.node.IsLeader() && !x.anyKeyExists(bc.keys)
		if !skip {
			r := x.try(ctx, args, bc)
			switch {
			case r.served:
				r.write()
				return
			case r.wrongType && !first:
				// A key turned into another type while we waited: keep
				// waiting, and let the next waiter look at the keys.
				b.passOn(w)
			case r.write != nil:
				r.write()
				return
			}
		}
		first = false
		if !waiting {
			waiting = true
			b.blocked.Add(1)
			defer b.blocked.Add(-1)
			// Replies to the commands before this one go out now, not
			// when the wait ends.
			flushConn(x.st, s.cfg.ClientWriteTimeout) // a subscriber's detached connection too
			if pc, ok := x.st.conn.NetConn().(*protoConn); ok {
				defer pc.watch(cancel)()
			}
		}
		select {
		case <-w.wake:
		case <-timer:
			x.w.NullArray()
			return
		case <-ctx.Done():
			if s.ctx.Err() != nil {
				x.w.Error(clusterError(replication.ErrClosed))
			}
			return // else the client went away
		}
	}
}

// anyKeyExists reports whether any of keys exists in this node's state.
func (x *execCtx) anyKeyExists(keys [][]byte) bool {
	found := false
	now := time.Now().UnixMilli()
	err := x.s.db.View(func(r *storage.Reader) error {
		for _, k := range keys {
			if _, ok := r.Get(x.st.db, k, now); ok {
				found = true
				break
			}
		}
		return nil
	})
	return found || err != nil // on error, let a try report it
}

// try makes one try: proposed here when this node leads, else forwarded.
func (x *execCtx) try(ctx context.Context, args [][]byte, bc blockCall) tryResult {
	if x.s.node.IsLeader() {
		return x.tryHere(bc)
	}
	raw, e := x.s.forwardOne(ctx, x.st, args)
	switch {
	case e != "":
		return tryResult{write: func() { x.w.Error(e) }}
	case isNullReply(raw):
		return tryResult{}
	case bytes.HasPrefix(raw, []byte("-WRONGTYPE")):
		return tryResult{wrongType: true, write: func() { x.st.enc.raw(raw) }}
	case raw[0] == '-':
		return tryResult{write: func() { x.st.enc.raw(raw) }}
	}
	return tryResult{served: true, write: func() { x.st.enc.raw(raw) }}
}

// tryHere proposes the pop through Raft on this node.
func (x *execCtx) tryHere(bc blockCall) tryResult {
	pop := bc.pop
	pop.DB = x.st.db
	e := storage.Entry{Now: replication.Now(), Cmds: []storage.Cmd{pop}}
	res, err := x.s.proposeSettled(context.Background(), e.Encode())
	switch {
	case err != nil:
		return tryResult{write: func() { x.w.Error(clusterError(err)) }}
	case len(res) != 1:
		return tryResult{write: func() { x.w.Error("ERR unexpected result from the log") }}
	}
	r := res[0]
	switch {
	case r.Kind == storage.ResultErr:
		return tryResult{wrongType: errors.Is(r.Err, storage.ErrWrongType), write: func() { x.w.Result(r) }}
	case bc.served(r):
		return tryResult{served: true, write: func() { bc.reply(x.w, r) }}
	}
	return tryResult{}
}

func isNullReply(raw []byte) bool {
	return bytes.Equal(raw, []byte("*-1\r\n")) || bytes.Equal(raw, []byte("_\r\n"))
}

// forwardOne sends one command to the leader and returns its raw reply,
// or an error reply (see Server.forward: it is retried with its request id
// within LeaderWait).
func (s *Server) forwardOne(_ context.Context, st *connState, args [][]byte) ([]byte, string) {
	replies, e := s.forward(st.db, st.resp, clientOrigin(s, st), st.user, [][][]byte{args})
	if e != "" {
		return nil, e
	}
	return replies[0], ""
}
