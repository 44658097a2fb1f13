package server

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keepkv/keepkv/storage"
	"github.com/tidwall/redcon"
)

// Pub/Sub (DESIGN.md, "Transactions, scripts, events"). PUBLISH is a log
// entry (OpPublish), and keyspace notifications are derived in apply, so
// every node hears every message and event in log order, from its own
// apply stream (Server.deliver), and passes them to its own subscribers.
//
// A connection that subscribes leaves redcon's request/reply loop: it is
// detached and served by serveSubscriber, which reads its commands, while
// its subscriber's writer goroutine sends it messages. Both write under
// sub.mu. Messages wait in a bounded queue; a subscriber that lets more
// than pubsubBufferLimit bytes pile up is disconnected, as Redis's
// client-output-buffer-limit pubsub does.

// pubsubBufferLimit bounds the bytes of messages queued for one subscriber.
const pubsubBufferLimit = 32 << 20

// pubsub is a node's subscription registry.
type pubsub struct {
	mu       sync.RWMutex
	channels map[string]map[*subscriber]struct{}
	patterns map[string]map[*subscriber]struct{}
}

func newPubsub() *pubsub {
	return &pubsub{channels: map[string]map[*subscriber]struct{}{}, patterns: map[string]map[*subscriber]struct{}{}}
}

// subscriber is a subscribed connection's delivery side.
type subscriber struct {
	st     *connState
	mu     sync.Mutex // held while writing to the connection
	qmu    sync.Mutex
	queue  []pubMsg
	queued int // bytes in queue
	wake   chan struct{}
	dead   bool
	conn   redcon.Conn                // the detached connection, once detached
	nc     interface{ Close() error } // the network connection, to cut a slow reader
	// Owned by the connection's goroutine (under mu once detached).
	channels map[string]uint64 // → subscription order (UNSUBSCRIBE with no
	patterns map[string]uint64 // arguments goes in it, as Redis's pattern list)
	seq      uint64
}

type pubMsg struct {
	pattern []byte // pmessage: the matching pattern
	channel []byte
	payload []byte
	// A client-side caching invalidation of keys (nil: every key): a RESP3
	// "invalidate" push, or with channel set a message on it.
	invalidation bool
	keys         [][]byte
}

func (m *pubMsg) size() int {
	n := len(m.pattern) + len(m.channel) + len(m.payload) + 64
	for _, k := range m.keys {
		n += len(k) + 16
	}
	return n
}

// subscriberOf returns st's subscriber, creating it.
func (st *connState) subscriberOf() *subscriber {
	if st.sub == nil {
		st.sub = &subscriber{st: st, wake: make(chan struct{}, 1), channels: map[string]uint64{}, patterns: map[string]uint64{}}
		if st.conn != nil {
			if nc := st.conn.NetConn(); nc != nil {
				st.sub.nc = nc
			}
		}
		st.mu.Lock()
		st.pushSub = st.sub
		st.mu.Unlock()
	}
	return st.sub
}

// subscriptions returns how many channels and patterns st is subscribed to.
func (st *connState) subscriptions() (int, int) {
	if st.sub == nil {
		return 0, 0
	}
	return len(st.sub.channels), len(st.sub.patterns)
}

func (st *connState) subscribed() bool {
	c, p := st.subscriptions()
	return c+p > 0
}

func (ps *pubsub) add(set map[string]map[*subscriber]struct{}, name string, sub *subscriber) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	m := set[name]
	if m == nil {
		m = map[*subscriber]struct{}{}
		set[name] = m
	}
	m[sub] = struct{}{}
}

func (ps *pubsub) remove(set map[string]map[*subscriber]struct{}, name string, sub *subscriber) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if m := set[name]; m != nil {
		delete(m, sub)
		if len(m) == 0 {
			delete(set, name)
		}
	}
}

// publish queues a message for every local subscriber of channel, and
// returns how many there were (PUBLISH's reply counts this node's).
func (ps *pubsub) publish(channel, payload []byte) int {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	n := 0
	for sub := range ps.channels[string(channel)] {
		sub.enqueue(pubMsg{channel: channel, payload: payload})
		n++
	}
	for pat, subs := range ps.patterns {
		if !globMatch([]byte(pat), channel) {
			continue
		}
		for sub := range subs {
			sub.enqueue(pubMsg{pattern: []byte(pat), channel: channel, payload: payload})
			n++
		}
	}
	return n
}

// receivers counts the local subscribers a message to channel reaches.
func (ps *pubsub) receivers(channel []byte) int {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	n := len(ps.channels[string(channel)])
	for pat, subs := range ps.patterns {
		if globMatch([]byte(pat), channel) {
			n += len(subs)
		}
	}
	return n
}

func (sub *subscriber) enqueue(m pubMsg) {
	sub.qmu.Lock()
	if sub.dead {
		sub.qmu.Unlock()
		return
	}
	sub.queue = append(sub.queue, m)
	sub.queued += m.size()
	over := sub.queued > pubsubBufferLimit
	if over {
		sub.dead = true
		sub.queue = nil
	}
	sub.qmu.Unlock()
	if over {
		// Too slow a reader: disconnect it, as client-output-buffer-limit.
		if sub.nc != nil {
			sub.nc.Close()
		}
		return
	}
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

// writer sends queued messages to the detached connection until it closes.
func (sub *subscriber) writer(s *Server, done <-chan struct{}) {
	for {
		select {
		case <-sub.wake:
		case <-done:
			return
		}
		sub.mu.Lock()
		if !sub.drain() {
			sub.mu.Unlock()
			continue
		}
		if nc := sub.conn.NetConn(); nc != nil {
			nc.SetWriteDeadline(time.Now().Add(s.cfg.ClientWriteTimeout))
		}
		err := sub.conn.(redcon.DetachedConn).Flush()
		sub.mu.Unlock()
		if err != nil {
			if sub.nc != nil {
				sub.nc.Close() // serveSubscriber's read fails, and it cleans up
			}
			return
		}
	}
}

// drain writes the queued messages to the connection's buffer, and
// reports whether there were any. Call with mu held.
func (sub *subscriber) drain() bool {
	sub.qmu.Lock()
	q := sub.queue
	sub.queue, sub.queued = nil, 0
	sub.qmu.Unlock()
	for i := range q {
		writeMessage(&sub.st.w, &q[i])
	}
	return len(q) > 0
}

func writeMessage(w *replyWriter, m *pubMsg) {
	if m.invalidation {
		if m.channel != nil {
			w.Push(3)
			w.BulkString("message")
			w.Bulk(m.channel)
		} else {
			w.Push(2)
			w.BulkString("invalidate")
		}
		if m.keys == nil {
			w.Null()
			return
		}
		w.Array(len(m.keys))
		for _, k := range m.keys {
			w.Bulk(k)
		}
		return
	}
	if m.pattern != nil {
		w.Push(4)
		w.BulkString("pmessage")
		w.Bulk(m.pattern)
	} else {
		w.Push(3)
		w.BulkString("message")
	}
	w.Bulk(m.channel)
	w.Bulk(m.payload)
}

// deliver passes an applied batch's events to this node's subscribers.
func (s *Server) deliver(events []storage.Event) {
	var buf []byte
	for i := range events {
		e := &events[i]
		switch e.Kind {
		case storage.EventPublish:
			s.pubsub.publish(e.Key, e.Payload)
		case storage.EventKey:
			db := strconv.Itoa(int(e.DB))
			if e.Flags&storage.NotifyKeyspace != 0 {
				buf = append(append(append(append(buf[:0], "__keyspace@"...), db...), "__:"...), e.Key...)
				s.pubsub.publish(append([]byte{}, buf...), []byte(e.Name))
			}
			if e.Flags&storage.NotifyKeyevent != 0 {
				buf = append(append(append(append(buf[:0], "__keyevent@"...), db...), "__:"...), e.Name...)
				s.pubsub.publish(append([]byte{}, buf...), e.Key)
			}
		}
	}
}

func pubsubCommands() []*command {
	return []*command{
		{name: "subscribe", arity: -2, flags: flagNoMulti, group: "pubsub", summary: "Listens for messages published to channels.", since: "2.0.0", local: cmdSubscribe(false)},
		{name: "psubscribe", arity: -2, flags: flagNoMulti, group: "pubsub", summary: "Listens for messages published to channels that match one or more patterns.", since: "2.0.0", local: cmdSubscribe(true)},
		{name: "unsubscribe", arity: -1, flags: flagNoMulti, group: "pubsub", summary: "Stops listening to messages posted to channels.", since: "2.0.0", local: cmdUnsubscribe(false)},
		{name: "punsubscribe", arity: -1, flags: flagNoMulti, group: "pubsub", summary: "Stops listening to messages published to channels that match one or more patterns.", since: "2.0.0", local: cmdUnsubscribe(true)},
		{name: "publish", arity: 3, flags: flagWrite | flagFast, group: "pubsub", summary: "Posts a message to a channel.", since: "2.0.0", write: cmdPublish, replyS: replyPublish},
		{name: "pubsub", arity: -2, flags: 0, group: "pubsub", summary: "A container for Pub/Sub commands.", since: "2.8.0", local: cmdPubsub},
	}
}

func cmdPublish(_ *execCtx, args [][]byte) (storage.Cmd, string) {
	return storage.Cmd{Op: storage.OpPublish, Keys: args[1:2], Vals: args[2:3]}, ""
}

// replyPublish answers with the number of this node's subscribers that
// the message reaches: on a cluster, those of the node that proposed it
// (the leader).
func replyPublish(s *Server, w *replyWriter, lc *storage.Cmd, r storage.Result) {
	w.Int(int64(s.pubsub.receivers(lc.Keys[0])))
}

func cmdSubscribe(pattern bool) localFunc {
	return func(x *execCtx, args [][]byte) {
		st := x.st
		sub := st.subscriberOf()
		kind, set, reg := "subscribe", sub.channels, x.s.pubsub.channels
		if pattern {
			kind, set, reg = "psubscribe", sub.patterns, x.s.pubsub.patterns
		}
		for _, name := range args[1:] {
			if _, ok := set[string(name)]; !ok {
				sub.seq++
				set[string(name)] = sub.seq
				x.s.pubsub.add(reg, string(name), sub)
			}
			c, p := st.subscriptions()
			x.w.Push(3)
			x.w.BulkString(kind)
			x.w.Bulk(name)
			x.w.Int(int64(c + p))
		}
		st.wantDetach = true
	}
}

func cmdUnsubscribe(pattern bool) localFunc {
	return func(x *execCtx, args [][]byte) {
		st := x.st
		sub := st.subscriberOf()
		kind, set, reg := "unsubscribe", sub.channels, x.s.pubsub.channels
		if pattern {
			kind, set, reg = "punsubscribe", sub.patterns, x.s.pubsub.patterns
		}
		names := args[1:]
		if len(names) == 0 {
			for n := range set {
				names = append(names, []byte(n))
			}
			slices.SortFunc(names, func(a, b []byte) int { return cmp.Compare(set[string(a)], set[string(b)]) })
			if len(names) == 0 {
				c, p := st.subscriptions()
				x.w.Push(3)
				x.w.BulkString(kind)
				x.w.Null()
				x.w.Int(int64(c + p))
				return
			}
		}
		for _, name := range names {
			if _, ok := set[string(name)]; ok {
				delete(set, string(name))
				x.s.pubsub.remove(reg, string(name), sub)
			}
			c, p := st.subscriptions()
			x.w.Push(3)
			x.w.BulkString(kind)
			x.w.Bulk(name)
			x.w.Int(int64(c + p))
		}
	}
}

// unsubscribeAll drops every subscription of st (RESET, disconnect).
func (s *Server) unsubscribeAll(st *connState) {
	sub := st.sub
	if sub == nil {
		return
	}
	for n := range sub.channels {
		s.pubsub.remove(s.pubsub.channels, n, sub)
	}
	for n := range sub.patterns {
		s.pubsub.remove(s.pubsub.patterns, n, sub)
	}
	clear(sub.channels)
	clear(sub.patterns)
}

func cmdPubsub(x *execCtx, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	ps := x.s.pubsub
	switch {
	case (sub == "channels" || sub == "shardchannels") && len(args) <= 3:
		var out []string
		if sub == "channels" {
			ps.mu.RLock()
			for ch := range ps.channels {
				if len(args) == 2 || globMatch(args[2], []byte(ch)) {
					out = append(out, ch)
				}
			}
			ps.mu.RUnlock()
		}
		x.w.Array(len(out))
		for _, ch := range out {
			x.w.BulkString(ch)
		}
	case sub == "numsub" || sub == "shardnumsub":
		x.w.Array(2 * (len(args) - 2)) // a flat array in RESP3 too, as Redis 7.0
		for _, ch := range args[2:] {
			x.w.Bulk(ch)
			n := 0
			if sub == "numsub" {
				ps.mu.RLock()
				n = len(ps.channels[string(ch)])
				ps.mu.RUnlock()
			}
			x.w.Int(int64(n))
		}
	case sub == "numpat" && len(args) == 2:
		ps.mu.RLock()
		n := len(ps.patterns)
		ps.mu.RUnlock()
		x.w.Int(int64(n))
	case sub == "help" && len(args) == 2:
		help := []string{
			"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"CHANNELS [<pattern>]",
			"    Return the currently active channels matching a <pattern> (default: '*').",
			"NUMPAT",
			"    Return number of subscriptions to patterns.",
			"NUMSUB [<channel> ...]",
			"    Return the number of subscribers for the specified channels, excluding",
			"    pattern subscriptions(default: no channels).",
			"SHARDCHANNELS [<pattern>]",
			"    Return the currently active shard level channels matching a <pattern> (default: '*').",
			"SHARDNUMSUB [<shardchannel> ...]",
			"    Return the number of subscribers for the specified shard level channel(s)",
			"HELP",
			"    Prints this help.",
		}
		x.w.Array(len(help))
		for _, h := range help {
			x.w.Status(h)
		}
	case sub == "numpat" || sub == "help":
		x.w.Error(errArity("pubsub|" + sub))
	case sub == "channels" || sub == "shardchannels":
		x.w.Error("ERR unknown subcommand or wrong number of arguments for '" + string(args[1]) + "'. Try PUBSUB HELP.")
	default:
		x.w.Error("ERR unknown subcommand '" + string(args[1]) + "'. Try PUBSUB HELP.")
	}
}

// subscribedAllows reports whether a RESP2 connection in subscribed mode
// may run cmd (RESP3 connections may run anything).
func subscribedAllows(name string) bool {
	switch name {
	case "subscribe", "psubscribe", "unsubscribe", "punsubscribe", "ssubscribe", "sunsubscribe", "ping", "quit", "reset":
		return true
	}
	return false
}

// detach moves a connection that subscribed out of redcon's loop, to
// serveSubscriber. Called at the end of handle.
func (s *Server) detach(c redcon.Conn, st *connState) {
	dc := c.Detach()
	sub := st.subscriberOf()
	sub.conn = dc
	st.conn = dc
	st.w, st.enc = newRESPWriter(dc)
	st.enc.v3 = st.resp == 3
	go s.serveSubscriber(dc, st)
}

// serveSubscriber runs a detached connection's commands, one at a time,
// while its writer goroutine sends it messages; it ends when the client
// goes away or QUITs, or the server closes.
func (s *Server) serveSubscriber(dc redcon.DetachedConn, st *connState) {
	sub := st.sub
	done := make(chan struct{})
	// Other goroutines close only the socket (redcon's Close flushes the
	// buffer, which is this goroutine's and the writer's, under mu): the
	// read below then fails and this goroutine closes the rest.
	nc := dc.NetConn()
	stop := context.AfterFunc(s.ctx, func() { nc.Close() })
	defer stop()
	sub.mu.Lock()
	err := dc.Flush()
	sub.mu.Unlock()
	var writer sync.WaitGroup
	writer.Add(1)
	go func() { defer writer.Done(); sub.writer(s, done) }()
	for err == nil && !st.quit {
		var cmd redcon.Command
		cmd, err = dc.ReadCommand()
		if err != nil {
			break
		}
		sub.mu.Lock()
		// Messages published before this command arrived go first, as in
		// Redis, where PUBLISH writes them at once.
		sub.drain()
		p := pipeline{s: s, st: st}
		p.run(cmd.Args)
		p.flushWrites()
		p.flushForward()
		p.flushReads()
		if nc := dc.NetConn(); nc != nil {
			nc.SetWriteDeadline(time.Now().Add(s.cfg.ClientWriteTimeout))
		}
		err = dc.Flush()
		sub.mu.Unlock()
	}
	close(done)
	writer.Wait()
	sub.qmu.Lock()
	sub.dead = true
	sub.qmu.Unlock()
	s.unsubscribeAll(st)
	s.stopTracking(st)
	dc.Close()
	s.forget(st)
}
