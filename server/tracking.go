package server

import (
	"bytes"
	"slices"
	"strings"
	"sync"

	"github.com/keepkv/keepkv/storage"
)

// Client-side caching (CLIENT TRACKING), as Redis 7.0 does it, driven by
// the keys apply reports modified or expired (storage.Applied.Touched), so
// every node invalidates for its own clients whatever node the write went
// through. In the default mode the node remembers the keys each tracking
// client read (a key's entry is dropped once invalidated, as in Redis); in
// BCAST mode a client hears of every key under its prefixes. RESP3 clients
// get "invalidate" pushes on their own connection; a RESP2 client names a
// REDIRECT client subscribed to __redis__:invalidate. A client that tracks
// leaves redcon's loop like a subscriber (pushes arrive asynchronously).

const invalidateChannel = "__redis__:invalidate"

// trackingState is a connection's CLIENT TRACKING settings.
type trackingState struct {
	on       bool
	bcast    bool
	optin    bool
	optout   bool
	noloop   bool
	redirect uint64
	prefixes []string
	caching  int8 // CLIENT CACHING for the next command: 1 yes, -1 no
}

// tracker is the node's tracking table.
type tracker struct {
	mu      sync.Mutex
	keys    map[string]map[uint64]struct{} // key → clients that read it (db ignored, as Redis)
	clients map[uint64]*trackedClient
}

type trackedClient struct {
	id       uint64
	sub      *subscriber // where pushes go (its own, or the redirect target's)
	redirect uint64
	bcast    []string // prefixes ("" = every key)
	noloop   bool
	origin   []byte // its writes' Entry.Origin (NOLOOP skips those)
}

func newTracker() *tracker {
	return &tracker{keys: map[string]map[uint64]struct{}{}, clients: map[uint64]*trackedClient{}}
}

// remember records that client id read keys.
func (t *tracker) remember(id uint64, keys [][]byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.clients[id]; !ok {
		return
	}
	for _, k := range keys {
		m := t.keys[string(k)]
		if m == nil {
			m = map[uint64]struct{}{}
			t.keys[string(k)] = m
		}
		m[id] = struct{}{}
	}
}

// invalidate sends invalidations for an applied batch's touched keys.
func (s *Server) invalidate(touched []storage.KeyRef) {
	t := s.track
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.clients) == 0 {
		return
	}
	bcast := map[uint64][][]byte{}
	for _, ref := range touched {
		if ref.Key == nil { // a flush: every tracking client drops everything
			clear(t.keys)
			for _, c := range t.clients {
				s.pushInvalidate(c, nil)
			}
			continue
		}
		if m := t.keys[string(ref.Key)]; m != nil {
			delete(t.keys, string(ref.Key))
			for id := range m {
				if c := t.clients[id]; c != nil && c.bcast == nil && !c.own(ref) {
					s.pushInvalidate(c, [][]byte{ref.Key})
				}
			}
		}
		for _, c := range t.clients {
			if c.own(ref) {
				continue
			}
			for _, p := range c.bcast {
				if bytes.HasPrefix(ref.Key, []byte(p)) {
					bcast[c.id] = append(bcast[c.id], ref.Key)
					break
				}
			}
		}
	}
	for id, keys := range bcast {
		s.pushInvalidate(t.clients[id], keys)
	}
}

// own reports whether a NOLOOP client made the change itself.
func (c *trackedClient) own(ref storage.KeyRef) bool {
	return c.noloop && ref.Origin != nil && bytes.Equal(ref.Origin, c.origin)
}

// pushInvalidate queues one invalidation message (keys nil: everything).
func (s *Server) pushInvalidate(c *trackedClient, keys [][]byte) {
	if c == nil {
		return
	}
	if c.redirect != 0 {
		target := s.clientByID(c.redirect)
		if target == nil {
			return
		}
		c.sub = target.pushTarget()
	}
	if c.sub == nil {
		return
	}
	if c.redirect != 0 && !c.sub.st.resp3Locked() {
		// A RESP2 redirect target hears of it as a message on the
		// invalidation channel, if it subscribed to it.
		s.pubsub.mu.RLock()
		_, ok := s.pubsub.channels[invalidateChannel][c.sub]
		s.pubsub.mu.RUnlock()
		if !ok {
			return
		}
		c.sub.enqueue(pubMsg{channel: []byte(invalidateChannel), keys: keys, invalidation: true})
		return
	}
	c.sub.enqueue(pubMsg{keys: keys, invalidation: true})
}

func (st *connState) resp3Locked() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.resp == 3
}

// keyArgs returns the key arguments of a command with fixed key positions.
func (c *command) keyArgs(args [][]byte) [][]byte {
	if c.firstKey <= 0 {
		return nil
	}
	last := c.lastKey
	if last < 0 {
		last += len(args)
	}
	var keys [][]byte
	for i := c.firstKey; i <= last && i < len(args); i += max(c.step, 1) {
		keys = append(keys, args[i])
	}
	return keys
}

// trackRead remembers the keys a tracking client's read command reads, as
// its mode says (OPTIN: only after CLIENT CACHING yes; OPTOUT: unless
// CLIENT CACHING no).
func (p *pipeline) trackRead(cmd *command, args [][]byte) {
	tr := p.st.tracking
	if tr == nil || !tr.on || tr.bcast {
		return
	}
	caching := tr.caching
	tr.caching = 0
	if (tr.optin && caching != 1) || (tr.optout && caching == -1) {
		return
	}
	p.s.track.remember(p.st.id, cmd.keyArgs(args))
}

// cmdClientTracking: CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p]...
// [BCAST] [OPTIN] [OPTOUT] [NOLOOP].
func cmdClientTracking(x *execCtx, args [][]byte) {
	on := false
	switch strings.ToLower(string(args[2])) {
	case "on":
		on = true
	case "off":
	default:
		x.w.Error(errSyntax)
		return
	}
	next := trackingState{on: on}
	for i := 3; i < len(args); i++ {
		switch opt := strings.ToLower(string(args[i])); {
		case opt == "redirect" && i+1 < len(args):
			i++
			id, ok := parseInt(args[i])
			if !ok {
				x.w.Error(errNotInteger)
				return
			}
			next.redirect = uint64(id)
		case opt == "bcast":
			next.bcast = true
		case opt == "optin":
			next.optin = true
		case opt == "optout":
			next.optout = true
		case opt == "noloop":
			next.noloop = true
		case opt == "prefix" && i+1 < len(args):
			i++
			next.prefixes = append(next.prefixes, string(args[i]))
		default:
			x.w.Error(errSyntax)
			return
		}
	}
	st := x.st
	if !on {
		x.s.stopTracking(st)
		x.w.OK()
		return
	}
	cur := st.tracking
	switch {
	case next.redirect != 0 && x.s.clientByID(next.redirect) == nil:
		x.w.Error("ERR The client ID you want redirect to does not exist")
		return
	case len(next.prefixes) > 0 && !next.bcast:
		x.w.Error("ERR PREFIX option requires BCAST mode to be enabled")
		return
	case cur != nil && cur.on && cur.bcast != next.bcast:
		x.w.Error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")
		return
	case next.optin && next.optout:
		x.w.Error("ERR You can't specify both OPTIN mode and OPTOUT mode")
		return
	case next.bcast && (next.optin || next.optout):
		x.w.Error("ERR OPTIN and OPTOUT are not compatible with BCAST")
		return
	case cur != nil && cur.on && (cur.optin != next.optin || cur.optout != next.optout):
		x.w.Error("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.")
		return
	}
	if next.bcast {
		if cur != nil && cur.on {
			next.prefixes = append(append([]string{}, cur.prefixes...), next.prefixes...)
		}
		if len(next.prefixes) == 0 {
			next.prefixes = []string{""}
		}
		for i, a := range next.prefixes {
			for _, b := range next.prefixes[:i] {
				if a != b && (strings.HasPrefix(a, b) || strings.HasPrefix(b, a)) {
					x.w.Error("ERR Prefix '" + a + "' overlaps with an existing prefix '" + b + "'. Prefixes for a single client must not overlap.")
					return
				}
			}
		}
		next.prefixes = dedupe(next.prefixes)
	}
	st.tracking = &next
	c := &trackedClient{id: st.id, redirect: next.redirect, noloop: next.noloop, origin: clientOrigin(x.s, st)}
	if next.bcast {
		c.bcast = next.prefixes
	}
	if next.redirect == 0 {
		c.sub = st.subscriberOf()
		st.wantDetach = true // pushes arrive on this connection
	}
	x.s.track.mu.Lock()
	x.s.track.clients[st.id] = c
	x.s.track.mu.Unlock()
	x.w.OK()
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	out := list[:0]
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// pushTarget returns a redirect target's push side, made by its own
// connection goroutine when it subscribed or started tracking; nil if it
// has none.
func (st *connState) pushTarget() *subscriber {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.pushSub
}

// stopTracking turns tracking off for st (CLIENT TRACKING off, RESET,
// disconnect).
func (s *Server) stopTracking(st *connState) {
	if st.tracking == nil {
		return
	}
	st.tracking = nil
	s.track.mu.Lock()
	delete(s.track.clients, st.id)
	s.track.mu.Unlock()
}

// clientByID returns a connected client.
func (s *Server) clientByID(id uint64) *connState {
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	return s.clients[id]
}

func cmdClientCaching(x *execCtx, args [][]byte) {
	tr := x.st.tracking
	if tr == nil || !tr.on || (!tr.optin && !tr.optout) {
		x.w.Error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
		return
	}
	switch strings.ToLower(string(args[2])) {
	case "yes":
		tr.caching = 1
	case "no":
		tr.caching = -1
	default:
		x.w.Error(errSyntax)
		return
	}
	x.w.OK()
}

func cmdClientGetRedir(x *execCtx, _ [][]byte) {
	tr := x.st.tracking
	switch {
	case tr == nil || !tr.on:
		x.w.Int(-1)
	default:
		x.w.Int(int64(tr.redirect))
	}
}

func cmdClientTrackingInfo(x *execCtx, _ [][]byte) {
	tr := x.st.tracking
	x.w.Map(3)
	x.w.BulkString("flags")
	if tr == nil || !tr.on {
		x.w.Set(1)
		x.w.BulkString("off")
		x.w.BulkString("redirect")
		x.w.Int(-1)
		x.w.BulkString("prefixes")
		x.w.Array(0)
		return
	}
	flags := []string{"on"}
	if tr.bcast {
		flags = append(flags, "bcast")
	}
	if tr.optin {
		flags = append(flags, "optin")
		if tr.caching == 1 {
			flags = append(flags, "caching-yes")
		}
	}
	if tr.optout {
		flags = append(flags, "optout")
		if tr.caching == -1 {
			flags = append(flags, "caching-no")
		}
	}
	if tr.noloop {
		flags = append(flags, "noloop")
	}
	x.w.Set(len(flags))
	for _, f := range flags {
		x.w.BulkString(f)
	}
	x.w.BulkString("redirect")
	x.w.Int(int64(tr.redirect))
	x.w.BulkString("prefixes")
	var prefixes []string
	if tr.bcast {
		prefixes = slices.Sorted(slices.Values(tr.prefixes))
	}
	x.w.Array(len(prefixes))
	for _, p := range prefixes {
		x.w.BulkString(p)
	}
}
