//go:build robustness

// The robustness suite: a real keepkv cluster under a client workload and a
// nemesis, checked for linearizability (porcupine), lost acknowledgements,
// convergence and expired reads. Run it with
//
//	go test -tags robustness -run TestRobustness ./cmd/keepkv -v -duration 3m -seed 1
//
// CI runs it for 90 seconds; the long run is -duration 30m -min-faults 1000.
//
// -broken builds keepkv with the keepkv_broken_reads tag (stale reads served
// as linearizable) and expects the suite to find violations.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/redis/go-redis/v9"
)

var (
	flagDuration  = flag.Duration("duration", 150*time.Second, "how long the workload and nemesis run")
	flagSeed      = flag.Uint64("seed", 0, "random seed (0: pick one and print it)")
	flagNodes     = flag.Int("nodes", 3, "cluster size (3 or 5)")
	flagBroken    = flag.Bool("broken", false, "build keepkv with keepkv_broken_reads and expect violations")
	flagFaultGap  = flag.Duration("fault-gap", 500*time.Millisecond, "pause between faults")
	flagCheckTime = flag.Duration("check-timeout", 2*time.Minute, "time allowed to the linearizability checker")
	flagMinFaults = flag.Int("min-faults", 50, "fail unless at least this many faults were injected (every kind at least once)")
)

func TestRobustness(t *testing.T) {
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed %d)", seed, seed)
	redis.SetLogger(quietLogger{})
	art, err := os.MkdirTemp("", "keepkv-robustness-")
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, art, *flagNodes, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)))
	defer r.stop()
	ctx, cancel := context.WithTimeout(context.Background(), *flagDuration)
	defer cancel()
	w := newWorkload(r, seed)
	defer w.closeHostile()
	w.seedHostile(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.run(ctx) }()
	r.nemesis(ctx)
	wg.Wait()
	r.healAll(t)
	v := check(t, r, w, art)
	v += checkSurvival(t, r, art)
	t.Logf("unknown outcomes by error: %v", w.unknownKinds)
	t.Log(w.hostileSummary())
	t.Logf("summary: seed=%d ops=%d acked=%d unknown=%d (own node faulted %d, surviving node %d) hostile=%d faults=%s violations=%d artifacts=%s",
		seed, w.ops.Load(), w.acked.Load(), w.unknown.Load(), w.unknownOwn.Load(), w.unknownSurviving.Load(), w.hostile.sent.Load(), r.faultSummary(), v, art)
	switch {
	case *flagBroken && v == 0:
		t.Fatal("the deliberately broken build passed: the suite did not catch it")
	case *flagBroken:
		t.Logf("the broken build was caught with %d violations", v)
		os.RemoveAll(art)
	case v > 0:
		t.Fatalf("%d violations; history, logs and data kept in %s", v, art)
	default:
		os.RemoveAll(art)
	}
	if *flagBroken {
		return
	}
	if n := r.faultTotal(); n < *flagMinFaults {
		t.Fatalf("only %d faults injected; want at least %d", n, *flagMinFaults)
	}
	for _, k := range faultKinds {
		if r.faultCount(k) == 0 {
			t.Fatalf("no %s fault was injected", k)
		}
	}
}

// ---------------------------------------------------------------- the rig

// rigNode is one keepkv process: Raft bound on its own loopback IP and
// advertised through a proxy the rig controls, so links can be cut.
type rigNode struct {
	idx   int
	id    string
	dir   string
	port  int
	rport int
	p     *proc
	px    *proxy
	alive atomic.Bool
	pause atomic.Bool
	// faultGen counts the starts and ends of faults that hit this node
	// (odd while one lasts): an operation through the node whose outcome
	// is unknown is the node's own fault if it changed during the call.
	faultGen atomic.Int64
}

// faulted marks a fault's start or end on nodes.
func faulted(nodes ...*rigNode) {
	for _, n := range nodes {
		n.faultGen.Add(1)
	}
}

func (n *rigNode) ip() string        { return fmt.Sprintf("127.0.0.%d", 10+n.idx) }
func (n *rigNode) raftBind() string  { return fmt.Sprintf("%s:%d", n.ip(), n.rport) }
func (n *rigNode) advertise() string { return fmt.Sprintf("127.0.0.%d:%d", 100+n.idx, n.rport) }
func (n *rigNode) addr() string      { return fmt.Sprintf("127.0.0.1:%d", n.port) }

type rig struct {
	t      *testing.T
	art    string
	rng    *rand.Rand
	bin    string
	mu     sync.Mutex
	nodes  []*rigNode // current members (and the removed, with alive=false)
	next   int
	faults map[string]int
	cl     map[string]*redis.Client
}

func newRig(t *testing.T, art string, size int, rng *rand.Rand) *rig {
	r := &rig{t: t, art: art, rng: rng, faults: map[string]int{}, cl: map[string]*redis.Client{}}
	r.bin = buildKeepkv(t, *flagBroken)
	for i := range size {
		n := r.newNode()
		join := ""
		if i > 0 {
			join = r.nodes[0].advertise()
		}
		r.start(n, join)
	}
	return r
}

func buildKeepkv(t *testing.T, broken bool) string {
	if !broken {
		return keepkvBinary(t)
	}
	out := filepath.Join(t.TempDir(), "keepkv-broken")
	if b, err := exec.Command("go", "build", "-tags", "keepkv_broken_reads", "-o", out, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// newNode makes a node with a fresh id and the lowest free loopback slot:
// removed nodes give theirs back, so long runs never run out of addresses.
func (r *rig) newNode() *rigNode {
	r.next++
	n := &rigNode{idx: r.freeSlot(), id: fmt.Sprintf("r%d", r.next), port: freePort(r.t), rport: freePort(r.t)}
	n.dir = filepath.Join(r.art, n.id)
	px, err := newProxy(n.advertise(), n.raftBind())
	if err != nil {
		r.t.Fatal(err)
	}
	n.px = px
	r.mu.Lock()
	r.nodes = append(r.nodes, n)
	r.mu.Unlock()
	return n
}

func (r *rig) freeSlot() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	used := map[int]bool{}
	for _, n := range r.nodes {
		if !n.removed() {
			used[n.idx] = true
		}
	}
	for i := 1; ; i++ {
		if !used[i] {
			return i
		}
	}
}

func (r *rig) start(n *rigNode, join string) {
	args := []string{"--node-id", n.id, "--addr", n.addr(), "--raft-addr", n.raftBind(), "--raft-advertise", n.advertise(),
		"--heartbeat-timeout", "300ms", "--election-timeout", "300ms", "--leader-wait", "2s",
		"--snapshot-threshold", "2000", "--trailing-logs", "500", "--snapshot-interval", "2s"}
	ready := "keepkv started"
	if join != "" {
		args = append(args, "--join", join)
	}
	cmd := exec.Command(r.bin, append([]string{"--dir", n.dir}, args...)...)
	logf, err := os.OpenFile(n.dir+".log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	p := &proc{cmd: cmd, addr: n.addr(), done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	n.p = p
	n.alive.Store(true)
	n.pause.Store(false)
	waitLogCount(r.t, n.dir+".log", ready, countLines(n.dir+".log", ready)+1)
}

func (r *rig) client(n *rigNode) *redis.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.cl[n.id]; ok {
		return c
	}
	c := redis.NewClient(&redis.Options{Addr: n.addr(), MaxRetries: -1, DialTimeout: 500 * time.Millisecond,
		ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second, PoolSize: 16})
	r.cl[n.id] = c
	return c
}

func (r *rig) members() []*rigNode {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*rigNode
	for _, n := range r.nodes {
		if n.p != nil && n.dir != "" && !n.removed() {
			out = append(out, n)
		}
	}
	return out
}

func (n *rigNode) removed() bool { return n.id == "" }

func (r *rig) leader() *rigNode {
	for _, n := range r.members() {
		if !n.alive.Load() || n.pause.Load() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		v, err := r.client(n).Do(ctx, "RAFT", "LEADER").StringSlice()
		cancel()
		if err == nil && len(v) == 2 {
			for _, m := range r.members() {
				if m.advertise() == v[1] {
					return m
				}
			}
		}
	}
	return nil
}

func (r *rig) stop() {
	for _, n := range r.nodes {
		if n.p != nil {
			n.p.cmd.Process.Signal(sigCont)
			n.p.kill()
		}
		if n.px != nil {
			n.px.close()
		}
	}
	for _, c := range r.cl {
		c.Close()
	}
}

// ---------------------------------------------------------------- nemesis

var faultKinds = []string{"kill-leader", "kill-follower", "pause", "partition", "one-way", "crash-all", "membership"}

func (r *rig) faultTotal() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, v := range r.faults {
		n += v
	}
	return n
}

func (r *rig) faultCount(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.faults[kind]
}

func (r *rig) faultSummary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var parts []string
	for _, k := range faultKinds {
		parts = append(parts, fmt.Sprintf("%s:%d", k, r.faults[k]))
	}
	return strings.Join(parts, ",")
}

func (r *rig) nemesis(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		// Every kind in turn, then at random, so a short run covers all.
		kind := faultKinds[i%len(faultKinds)]
		if i >= 2*len(faultKinds) {
			kind = faultKinds[r.rng.IntN(len(faultKinds))]
		}
		if r.inject(kind) {
			r.mu.Lock()
			r.faults[kind]++
			r.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(*flagFaultGap):
		}
	}
}

func (r *rig) hold() { time.Sleep(time.Duration(300+r.rng.IntN(900)) * time.Millisecond) }

func (r *rig) pick(exclude *rigNode) *rigNode {
	var c []*rigNode
	for _, n := range r.members() {
		if n != exclude && n.alive.Load() && !n.pause.Load() {
			c = append(c, n)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[r.rng.IntN(len(c))]
}

func (r *rig) inject(kind string) bool {
	l := r.leader()
	switch kind {
	case "kill-leader", "kill-follower":
		n := l
		if kind == "kill-follower" {
			n = r.pick(l)
		}
		if n == nil {
			return false
		}
		faulted(n)
		n.p.kill()
		n.alive.Store(false)
		r.hold()
		r.start(n, "")
		faulted(n)
	case "pause":
		n := r.pick(nil)
		if n == nil {
			return false
		}
		faulted(n)
		n.p.cmd.Process.Signal(sigStop)
		n.pause.Store(true)
		r.hold()
		n.p.cmd.Process.Signal(sigCont)
		n.pause.Store(false)
		faulted(n)
	case "partition", "one-way":
		n := r.pick(nil)
		if n == nil {
			return false
		}
		faulted(n)
		defer faulted(n)
		for _, m := range r.members() {
			if m == n {
				continue
			}
			n.px.block(m.idx, true) // m cannot reach n
			if kind == "partition" {
				m.px.block(n.idx, true) // nor n reach m
			}
		}
		r.hold()
		for _, m := range r.members() {
			n.px.block(m.idx, false)
			m.px.block(n.idx, false)
		}
	case "crash-all":
		faulted(r.members()...)
		defer faulted(r.members()...)
		for _, n := range r.members() {
			if n.pause.Load() {
				n.p.cmd.Process.Signal(sigCont)
				n.pause.Store(false)
			}
			n.p.kill()
			n.alive.Store(false)
		}
		for _, n := range r.members() {
			r.start(n, "")
		}
	case "membership":
		if l == nil {
			return false
		}
		victim := r.pick(l)
		if victim == nil {
			return false
		}
		if !r.remove(l, victim) {
			return false
		}
		faulted(victim)
		victim.p.kill()
		victim.alive.Store(false)
		victim.px.close() // frees its loopback slot for a later node
		r.mu.Lock()
		delete(r.cl, victim.id)
		victim.id = "" // removed: no longer a member
		r.mu.Unlock()
		fresh := r.newNode()
		r.start(fresh, l.advertise())
	}
	return true
}

// remove takes victim out of the configuration through the leader l and
// reports whether its removal is committed. A RAFT REMOVE that answered an
// error (leadership changed under it) may or may not have gone through, and
// a configuration the leader lists may not be committed yet: killing a
// victim whose removal was not committed can leave a cluster whose quorum
// needs the dead node (the robustness suite met this). So an error is
// followed by RAFT REMOVE again, through whichever node leads, until one
// answers OK: removing a node that is already out commits a configuration
// entry all the same, after the first one.
func (r *rig) remove(l, victim *rigNode) bool {
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := r.client(l).Do(ctx, "RAFT", "REMOVE", victim.id).Err()
		cancel()
		if err == nil {
			return true
		}
		if time.Now().After(deadline) {
			r.t.Logf("membership fault: RAFT REMOVE %s kept failing (%v); keeping it as a member", victim.id, err)
			return false
		}
		time.Sleep(100 * time.Millisecond) // a new leader's election: poll
		if l = r.leader(); l == nil || l == victim {
			l = r.anyOther(victim)
		}
		if l == nil {
			return false
		}
	}
}

// anyOther returns a live member other than n, or nil.
func (r *rig) anyOther(n *rigNode) *rigNode {
	for _, m := range r.members() {
		if m != n && m.alive.Load() && !m.pause.Load() {
			return m
		}
	}
	return nil
}

// healAll ends every fault and waits for all members to converge.
func (r *rig) healAll(t *testing.T) {
	for _, n := range r.members() {
		if n.pause.Load() {
			n.p.cmd.Process.Signal(sigCont)
			n.pause.Store(false)
		}
		for _, m := range r.members() {
			n.px.block(m.idx, false)
		}
		if !n.alive.Load() {
			r.start(n, "")
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for r.leader() == nil {
		if time.Now().After(deadline) {
			t.Fatal("no leader after healing")
		}
		time.Sleep(100 * time.Millisecond) // another process's state: poll
	}
}

// ---------------------------------------------------------------- proxy

// proxy forwards TCP to a node's Raft port and can refuse connections from
// chosen nodes (identified by their source loopback IP).
type proxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	blocked map[int]bool
	conns   map[net.Conn]int
}

func newProxy(listen, target string) (*proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target, blocked: map[int]bool{}, conns: map[net.Conn]int{}}
	go p.run()
	return p, nil
}

func srcNode(addr net.Addr) int {
	ip := addr.(*net.TCPAddr).IP.To4()
	if ip == nil || ip[3] < 10 || ip[3] >= 100 {
		return -1
	}
	return int(ip[3]) - 10
}

func (p *proxy) run() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *proxy) serve(c net.Conn) {
	src := srcNode(c.RemoteAddr())
	p.mu.Lock()
	if p.blocked[src] {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns[c] = src
	p.mu.Unlock()
	defer func() { p.mu.Lock(); delete(p.conns, c); p.mu.Unlock(); c.Close() }()
	up, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { copyConn(up, c); done <- struct{}{} }()
	go func() { copyConn(c, up); done <- struct{}{} }()
	<-done
}

func copyConn(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// block refuses (and cuts) connections from node src, or allows them again.
func (p *proxy) block(src int, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked[src] = on
	if on {
		for c, s := range p.conns {
			if s == src {
				c.Close()
			}
		}
	}
}

func (p *proxy) close() { p.ln.Close() }

// ---------------------------------------------------------------- workload

type kvInput struct {
	Op, Key, Val string
	// cas: the state its WATCHed GET saw, which EXEC replaces with Val.
	ExpExists bool
	Exp       string
}

type kvOutput struct {
	Unknown bool
	Exists  bool
	Val     string
	N       int64
	Err     string
	Aborted bool // cas: EXEC aborted because the watched key changed
}

type workload struct {
	r       *rig
	mu      sync.Mutex
	hist    []porcupine.Operation
	acked   atomic.Int64
	unknown atomic.Int64
	ops     atomic.Int64
	unique  map[string]string  // acknowledged unique keys → value
	expiry  []expiryRead       // reads of short-TTL keys
	ttlSet  map[string]ttlInfo // short-TTL key → latest possible deadline
	seed    uint64
	start   time.Time

	unknownKinds map[string]int // why outcomes were unknown, for the summary

	// The node each client's current operation goes through and its
	// faultGen at the call: unknown outcomes are split into those of
	// clients whose own node was faulted and those of surviving nodes.
	cur              [8]clientOp
	unknownOwn       atomic.Int64
	unknownSurviving atomic.Int64

	hostile hostileState // robustness_hostile_test.go
	coll    collState    // robustness_coll_test.go

	// Each hot slot moves on to a fresh key once its current key has
	// collected maxUnknownPerKey unknown outcomes: every unknown outcome
	// may take effect anywhere after its call, which multiplies the
	// checker's search, so a bounded number per key keeps the check
	// conclusive within its timeout.
	hotGen     [hotSlots]int
	keyUnknown map[string]int
}

const (
	hotSlots         = 8
	maxUnknownPerKey = 2
)

type clientOp struct {
	n   *rigNode
	gen int64
}

type ttlInfo struct {
	val    string
	latest int64
}

type expiryRead struct {
	key    string
	invoke int64
	got    bool
}

func (w *workload) noteUnknown(err error) {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i > 0 && strings.Contains(msg, "forwarding") {
		msg = "forwarding failed: " + msg[i+2:]
	}
	if len(msg) > 60 {
		msg = msg[:60]
	}
	w.mu.Lock()
	w.unknownKinds[msg]++
	w.mu.Unlock()
}

func newWorkload(r *rig, seed uint64) *workload {
	return &workload{r: r, unique: map[string]string{}, ttlSet: map[string]ttlInfo{}, seed: seed, start: time.Now(), unknownKinds: map[string]int{}, keyUnknown: map[string]int{}}
}

func (w *workload) now() int64 { return time.Since(w.start).Nanoseconds() }

func (w *workload) run(ctx context.Context) {
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); w.client(ctx, c) }()
	}
	wg.Wait()
}

func (w *workload) client(ctx context.Context, id int) {
	rng := rand.New(rand.NewPCG(w.seed, uint64(id)))
	for i := 0; ctx.Err() == nil; i++ {
		nodes := w.r.members()
		n := nodes[rng.IntN(len(nodes))]
		if !n.alive.Load() || n.pause.Load() {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if rng.IntN(hostileShare) == 0 { // robustness_hostile_test.go
			w.hostileOp(n, id, i, rng)
			w.ops.Add(1)
			continue
		}
		c := w.r.client(n)
		w.cur[id] = clientOp{n, n.faultGen.Load()}
		switch k := rng.IntN(10); {
		case k < 4:
			w.hotOp(c, id, i, rng)
		case k < 8:
			w.uniqueOp(c, id, i)
		default:
			w.ttlOp(c, id, i, rng)
		}
		w.ops.Add(1)
	}
}

// hotOp runs one operation on a small, rotating set of contended keys and
// records it for the linearizability check.
func (w *workload) hotOp(c *redis.Client, id, i int, rng *rand.Rand) {
	// Keys rotate every 500ms: each key's history stays short, so the
	// checker's search (which unknown outcomes widen) stays small.
	epoch := time.Since(w.start) / (500 * time.Millisecond)
	slot := rng.IntN(hotSlots)
	w.mu.Lock()
	key := fmt.Sprintf("hot:%d:%d:%d", epoch, slot, w.hotGen[slot])
	w.mu.Unlock()
	in := kvInput{Key: key}
	var args []any
	switch rng.IntN(10) {
	case 8:
		w.casOp(c, id, i, in)
		return
	case 9:
		w.txIncrOp(c, id, in)
		return
	case 0, 1:
		in.Op, args = "get", []any{"GET", key}
	case 2:
		in.Op, in.Val = "set", fmt.Sprintf("c%d-%d", id, i)
		args = []any{"SET", key, in.Val}
	case 3:
		in.Op, in.Val = "setnx", fmt.Sprintf("c%d-%d", id, i)
		args = []any{"SET", key, in.Val, "NX"}
	case 4:
		in.Op, args = "del", []any{"DEL", key}
	case 5:
		in.Op, args = "incr", []any{"INCR", key}
	case 6:
		in.Op, args = "getdel", []any{"GETDEL", key}
	case 7:
		in.Op, in.Val = "setex", fmt.Sprintf("c%d-%d", id, i)
		args = []any{"SET", key, in.Val, "EX", "3600"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	call := w.now()
	v, err := c.Do(ctx, args...).Result()
	ret := w.now()
	out, ok := toOutput(in.Op, v, err)
	w.record(id, in, out, ok, err, call, ret)
}

// record adds a hot-key operation to the history: one whose outcome is
// unknown may take effect at any point after its call.
func (w *workload) record(id int, in kvInput, out kvOutput, ok bool, err error, call, ret int64) {
	key := in.Key
	if !ok {
		if in.Op == "get" || notApplied(err) {
			return // no effect: leave it out
		}
		out.Unknown = true
		ret = 1 << 62 // may take effect at any point after its call
		w.unknown.Add(1)
		w.noteUnknown(err)
		if op := w.cur[id]; op.n != nil && (op.gen%2 == 1 || op.n.faultGen.Load() != op.gen) {
			w.unknownOwn.Add(1)
		} else {
			w.unknownSurviving.Add(1)
		}
	} else if in.Op != "get" {
		w.acked.Add(1)
	}
	w.mu.Lock()
	w.hist = append(w.hist, porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: ret})
	if out.Unknown {
		w.keyUnknown[key]++
		// The key's slot moves on to a fresh key (hot:epoch:slot:gen).
		var epoch, slot, gen int
		if n, _ := fmt.Sscanf(key, "hot:%d:%d:%d", &epoch, &slot, &gen); n == 3 && w.keyUnknown[key] == maxUnknownPerKey && gen == w.hotGen[slot] {
			w.hotGen[slot]++
		}
	}
	w.mu.Unlock()
}

// casOp is an optimistic transaction on a hot key: WATCH it, GET it, then
// MULTI, SET a new value, EXEC. Acknowledged, it replaced exactly the
// value the GET saw (nothing changed the key in between); aborted, it
// changed nothing.
func (w *workload) casOp(c *redis.Client, id, i int, in kvInput) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	in.Op, in.Val = "cas", fmt.Sprintf("x%d-%d", id, i)
	call := w.now()
	var read bool
	err := c.Watch(ctx, func(tx *redis.Tx) error {
		v, err := tx.Get(ctx, in.Key).Result()
		if err != nil && err != redis.Nil {
			return err
		}
		read = true
		in.ExpExists, in.Exp = err == nil, v
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, in.Key, in.Val, 0)
			return nil
		})
		return err
	}, in.Key)
	ret := w.now()
	if !read {
		return // failed before the transaction was sent
	}
	switch {
	case err == nil:
		w.record(id, in, kvOutput{}, true, nil, call, ret)
	case errors.Is(err, redis.TxFailedErr):
		w.record(id, in, kvOutput{Aborted: true}, true, nil, call, ret)
	default:
		w.record(id, in, kvOutput{}, false, err, call, ret)
	}
}

// txIncrOp is MULTI, INCR, GET, EXEC on a hot key: atomic, so the GET sees
// exactly the INCR's result.
func (w *workload) txIncrOp(c *redis.Client, id int, in kvInput) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	in.Op = "incr"
	call := w.now()
	var incr *redis.IntCmd
	var get *redis.StringCmd
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, in.Key)
		get = p.Get(ctx, in.Key)
		return nil
	})
	ret := w.now()
	switch {
	case err != nil && incr.Err() != nil && strings.HasPrefix(incr.Err().Error(), "ERR value is not an integer"):
		w.record(id, in, kvOutput{Err: "notint"}, true, nil, call, ret)
	case err != nil:
		w.record(id, in, kvOutput{}, false, err, call, ret)
	case get.Val() != strconv.FormatInt(incr.Val(), 10):
		w.record(id, in, kvOutput{N: incr.Val(), Err: "GET inside the transaction saw " + get.Val()}, true, nil, call, ret)
	default:
		w.record(id, in, kvOutput{N: incr.Val()}, true, nil, call, ret)
	}
}

// notApplied reports errors after which the command certainly did not take
// effect: it was never sent, or no leader accepted it.
func notApplied(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "CLUSTERDOWN") || strings.HasPrefix(msg, "TRYAGAIN timed out waiting") || strings.HasPrefix(msg, "TRYAGAIN this node is not the leader") ||
		strings.HasPrefix(msg, "NOAUTH") || strings.Contains(msg, "connection refused")
}

// toOutput converts a reply; ok is false when the outcome is unknown.
func toOutput(op string, v any, err error) (kvOutput, bool) {
	if err != nil && !errors.Is(err, redis.Nil) {
		var re redis.Error
		if errors.As(err, &re) && strings.HasPrefix(err.Error(), "ERR value is not an integer") {
			return kvOutput{Err: "notint"}, true
		}
		return kvOutput{}, false
	}
	switch op {
	case "get", "getdel":
		if errors.Is(err, redis.Nil) {
			return kvOutput{}, true
		}
		return kvOutput{Exists: true, Val: fmt.Sprint(v)}, true
	case "setnx":
		return kvOutput{N: map[bool]int64{true: 0, false: 1}[errors.Is(err, redis.Nil)]}, true
	case "del", "incr":
		n, _ := v.(int64)
		return kvOutput{N: n}, true
	}
	return kvOutput{}, true
}

func (w *workload) uniqueOp(c *redis.Client, id, i int) {
	if w.collOp(c, id, i) { // robustness_coll_test.go
		return
	}
	key, val := fmt.Sprintf("u:%d:%d", id, i), strconv.Itoa(i)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if c.Set(ctx, key, val, 0).Err() == nil {
		w.mu.Lock()
		w.unique[key] = val
		w.mu.Unlock()
		w.acked.Add(1)
	}
}

// ttlOp sets a key with a short TTL or reads one set earlier; a read that
// began after the latest possible deadline must not see it.
func (w *workload) ttlOp(c *redis.Client, id, i int, rng *rand.Rand) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if i%2 == 0 {
		key := fmt.Sprintf("t:%d:%d", id, i)
		ttl := time.Duration(200+rng.IntN(800)) * time.Millisecond
		if c.Set(ctx, key, "x", ttl).Err() == nil {
			latest := time.Now().Add(ttl).UnixMilli()
			w.mu.Lock()
			w.ttlSet[key] = ttlInfo{"x", latest}
			w.mu.Unlock()
		}
		return
	}
	key := fmt.Sprintf("t:%d:%d", id, i-1-2*rng.IntN(3))
	invoke := time.Now().UnixMilli()
	err := c.Get(ctx, key).Err()
	if err == nil || errors.Is(err, redis.Nil) {
		w.mu.Lock()
		w.expiry = append(w.expiry, expiryRead{key: key, invoke: invoke, got: err == nil})
		w.mu.Unlock()
	}
}

// ---------------------------------------------------------------- checkers

type kvState struct {
	Exists bool
	Val    string
}

var kvModel = (&porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(kvInput).Key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []interface{} { return []interface{}{kvState{}} },
	Step: func(state, input, output interface{}) []interface{} {
		s, in, out := state.(kvState), input.(kvInput), output.(kvOutput)
		if in.Op == "cas" {
			matches := s.Exists == in.ExpExists && s.Val == in.Exp
			next := kvState{true, in.Val}
			switch {
			case out.Unknown && matches:
				return []interface{}{s, next} // applied, or aborted by WATCH
			case out.Unknown || out.Aborted:
				return []interface{}{s} // a WATCH may always abort
			case matches:
				return []interface{}{next}
			}
			return nil
		}
		next, want := stepKV(s, in)
		if out.Unknown || want == out {
			return []interface{}{next}
		}
		return nil
	},
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(kvInput), output.(kvOutput)
		if out.Unknown {
			return fmt.Sprintf("%s(%s %s) -> ?", in.Op, in.Key, in.Val)
		}
		return fmt.Sprintf("%s(%s %s) -> %+v", in.Op, in.Key, in.Val, out)
	},
	DescribeState: func(state interface{}) string { return fmt.Sprintf("%+v", state.(kvState)) },
}).ToModel()

// stepKV applies one operation to a key's state and returns the reply it
// must have produced.
func stepKV(s kvState, in kvInput) (kvState, kvOutput) {
	switch in.Op {
	case "get":
		return s, kvOutput{Exists: s.Exists, Val: s.Val}
	case "set", "setex":
		return kvState{true, in.Val}, kvOutput{}
	case "setnx":
		if s.Exists {
			return s, kvOutput{N: 0}
		}
		return kvState{true, in.Val}, kvOutput{N: 1}
	case "del":
		if s.Exists {
			return kvState{}, kvOutput{N: 1}
		}
		return s, kvOutput{N: 0}
	case "getdel":
		return kvState{}, kvOutput{Exists: s.Exists, Val: s.Val}
	case "incr":
		n := int64(0)
		if s.Exists {
			v, err := strconv.ParseInt(s.Val, 10, 64)
			if err != nil || strconv.FormatInt(v, 10) != s.Val {
				return s, kvOutput{Err: "notint"}
			}
			n = v
		}
		n++
		return kvState{true, strconv.FormatInt(n, 10)}, kvOutput{N: n}
	}
	return s, kvOutput{Err: "unknown op"}
}

// violation reports a checker's finding: a test failure normally, a log
// line when the suite runs against the deliberately broken build.
func violation(t *testing.T, format string, args ...any) {
	t.Helper()
	if *flagBroken {
		t.Logf("violation: "+format, args...)
		return
	}
	t.Errorf(format, args...)
}

// check runs every checker and returns the number of violations.
func check(t *testing.T, r *rig, w *workload, art string) int {
	violations := 0
	w.mu.Lock()
	defer w.mu.Unlock()
	if b, err := json.Marshal(w.hist); err == nil {
		os.WriteFile(filepath.Join(art, "history.json"), b, 0o644)
	}
	began := time.Now()
	res, info := porcupine.CheckOperationsVerbose(kvModel, w.hist, *flagCheckTime)
	worst := 0
	for _, n := range w.keyUnknown {
		worst = max(worst, n)
	}
	t.Logf("linearizability: %v in %v (%d operations on %d hot keys; at most %d unknown outcomes on one key)",
		res, time.Since(began).Round(time.Millisecond), len(w.hist), len(kvModel.Partition(w.hist)), worst)
	switch res {
	case porcupine.Illegal:
		violations++
		path := filepath.Join(art, "linearizability.html")
		porcupine.VisualizePath(kvModel, info, path)
		violation(t, "linearizability violated; visualisation in %s", path)
	case porcupine.Unknown:
		if !*flagBroken { // an inconclusive check must not pass as "caught"
			violations++
		}
		violation(t, "linearizability check timed out after %v: inconclusive counts as a failure", *flagCheckTime)
	}
	// Convergence: once short TTLs have run out and their deletes are
	// applied everywhere, every member holds the same state at the same
	// applied index. Then every acknowledged unique key on every member.
	members := r.members()
	time.Sleep(1500 * time.Millisecond) // the longest TTL in the workload is 1s
	violations += checkConvergence(t, r, members)
	for _, n := range members {
		violations += auditAcks(t, n, w.unique)
		if v, msg := auditColls(n, w); v > 0 {
			violation(t, "%s", msg)
			violations += v
		}
	}
	for _, rd := range w.expiry {
		info, ok := w.ttlSet[rd.key]
		if ok && rd.got && rd.invoke > info.latest {
			violation(t, "expired read: %s read %d ms after its latest deadline", rd.key, rd.invoke-info.latest)
			violations++
		}
	}
	return violations
}

// auditAcks reads every acknowledged unique key from n's own state. It
// uses fresh connections (the rig's pooled ones may predate the last
// restart) and tells a read that fails from a key that is missing: only
// the second is a lost ack, but either fails the run.
func auditAcks(t *testing.T, n *rigNode, unique map[string]string) int {
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: n.addr(), ReadTimeout: 10 * time.Second,
		OnConnect: func(ctx context.Context, cn *redis.Conn) error { return cn.ReadOnly(ctx).Err() }})
	defer c.Close()
	for key, val := range unique {
		got, err := c.Get(ctx, key).Result()
		switch {
		case err == redis.Nil || err == nil && got != val:
			violation(t, "lost ack: %s on %s = %q, want %q", key, n.id, got, val)
			return 1
		case err != nil:
			violation(t, "cannot audit %s: GET %s: %v", n.id, key, err)
			return 1
		}
	}
	return 0
}

// checkConvergence compares DEBUG DIGEST across members once they report
// the same applied index, retrying while they still differ in it.
func checkConvergence(t *testing.T, r *rig, members []*rigNode) int {
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		applied := map[uint64]bool{}
		digests := map[string]string{}
		for _, n := range members {
			c := r.client(n)
			before := infoField(t, c, "raft_applied_index")
			d, err := c.Do(ctx, "DEBUG", "DIGEST").Text()
			if err != nil || infoField(t, c, "raft_applied_index") != before {
				applied[0], applied[1] = true, true // moving: try again
				continue
			}
			applied[before] = true
			digests[n.id] = d
		}
		if len(applied) == 1 {
			var first string
			for id, d := range digests {
				if first == "" {
					first = d
				} else if d != first {
					violation(t, "no convergence: at one applied index, %s has digest %s, another %s", id, d, first)
					return 1
				}
			}
			return 0
		}
		if time.Now().After(deadline) {
			violation(t, "no convergence: members still at different applied indexes after 60s")
			return 1
		}
		time.Sleep(100 * time.Millisecond) // other processes' progress: poll
	}
}

// quietLogger silences go-redis's connection-pool messages, which faults
// make plentiful.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...interface{}) {}
