package server

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/keepkv/keepkv/storage"
)

// FuzzApplyPath drives a sequence of commands through the whole write path
// a node runs: the command's validation, the log command it builds, the
// entry's encoding and decoding, apply on two independent stores, the reply
// encoding, and a restart of one store from its file.
//
// The input is up to maxFuzzSeq commands separated by '\n', arguments
// separated by 0 bytes (an unknown first argument is mapped onto a command
// name, and an argument "~" plus one byte onto one of fuzzEdges). pack
// shapes the log: pack&7+1 commands per entry; pack&8 makes the second
// store apply each run of entries in one ApplyBatch, as the FSM does with a
// backlog; pack&16 makes the first store checkpoint after every
// entry, as a node's background checkpointer might. tick is the clock's
// advance per command, in milliseconds, so deadlines set by one command
// pass before a later one.
//
// Checked: whatever validation accepts encodes into an entry storage
// decodes back unchanged; ApplyBatch returns no store error, does not panic
// and needs no panic recovery (promise 6); both stores give the same
// results, the same replies, the same reads and the same digest (promise 4); a single command that fails
// leaves its keys as they were (promise 5); a reopened store has the same
// digest and applied index, skips the log it already applied, and goes on
// exactly as the store that never restarted.
//
// Reads are served from both stores at their place in the sequence and
// compared, as a pipeline serves them after its pending writes; KEYS, SCAN
// and RANDOMKEY are left out (pattern matching cost is not this target's
// subject). Connection commands are skipped, except SELECT, which sets the
// database later commands use.
func FuzzApplyPath(f *testing.F) {
	big := strings.Repeat("x", 60000)
	seeds := [][]string{
		{"setrange\x00k\x009223372036854775807\x00A"},
		{"setrange\x00k\x009223372036854775806\x00AB"},
		{"set\x00k\x00v", "setrange\x00k\x009223372036854775807\x00A", "get\x00k"},
		{"setrange\x00k\x009223372036854775807\x00", "setrange\x00k\x0065535\x00x", "setrange\x00k\x0065536\x00x", "strlen\x00k"},
		{"incrby\x00k\x009223372036854775807", "incrby\x00k\x009223372036854775807", "get\x00k"},
		{"decrby\x00k\x00-9223372036854775808", "decrby\x00k\x009223372036854775807", "decr\x00k", "decr\x00k"},
		{"set\x00k\x00v", "expire\x00k\x00-9223372036854775808", "get\x00k"},
		{"set\x00k\x00v", "pexpireat\x00k\x009223372036854775807", "pttl\x00k", "expire\x00k\x009223372036854775807\x00GT"},
		{"set\x00k\x00v", "getex\x00k\x00PXAT\x009223372036854775807", "pexpiretime\x00k", "getex\x00k\x00PERSIST"},
		{"append\x00k\x00" + big, "append\x00k\x00" + big, "strlen\x00k"},
		{"mset\x00a\x001\x00a\x002\x00b\x003\x00a\x004", "get\x00a", "msetnx\x00a\x001\x00c\x002\x00c\x003"},
		{"set\x00a\x001", "rename\x00a\x00a", "renamenx\x00a\x00a", "rename\x00b\x00b", "get\x00a"},
		{"set\x00a\x001", "flushdb", "set\x00b\x002\x00EX\x0010", "select\x003", "set\x00a\x001", "flushall", "incr\x00a", "dbsize"},
		{"incrbyfloat\x00k\x001e4000", "set\x00k\x001e4000", "incrbyfloat\x00k\x001", "incrbyfloat\x00k\x00-inf"},
		{"set\x00k\x00v\x00PXAT\x001", "get\x00k", "setrange\x00k\x000\x00x", "ttl\x00k"},
		{"set\x00k\x00v\x00EX\x009223372036854775807", "setex\x00k\x009223372036854775807\x00v", "psetex\x00k\x00-1\x00v", "set\x00k\x00v\x00EXAT\x009223372036854"},
		{"set\x00k\x00v\x00PX\x001", "set\x00k\x00w\x00KEEPTTL\x00GET", "getdel\x00k", "getrange\x00k\x00-9223372036854775808\x009223372036854775807"},
		{"set\x00k\x00v\x00EX\x0010", "expire\x00k\x005\x00GT", "expire\x00k\x0020\x00LT", "persist\x00k", "expireat\x00k\x001", "exists\x00k"},
		{"append\x00k\x00~\x1a", "append\x00k\x00~\x1a", "setrange\x00k\x00~\x0f\x00A", "incrby\x00n\x00~\x08", "incrby\x00n\x00~\x02"},
		// Found by this target before keys were bounded: a 32 KiB key made
		// every later checkpoint fail ("key too large").
		{"set\x00k\x00v", "renamenx\x00k\x00~\x1a", "set\x00~\x1a\x00v", "mset\x00~\x1a\x00v"},
		{"select\x0015", "set\x00k\x00v", "del\x00k\x00k\x00k", "unlink\x00k", "select\x0016", "getset\x00k\x00w", "setnx\x00k\x00x"},
	}
	for _, s := range seeds {
		seq := []byte(strings.Join(s, "\n"))
		f.Add(seq, uint8(0), uint16(0))
		f.Add(seq, uint8(0x1f), uint16(1))
		f.Add(seq, uint8(0x0b), uint16(60000))
	}
	table := newCommandTable()
	var names []string // what an unknown first argument is mapped onto
	for _, n := range table.names() {
		c := table[n]
		if (c.local == nil || n == "select") && c.flags&flagScan == 0 {
			names = append(names, n)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, pack uint8, tick uint16) {
		lines := bytes.Split(data, []byte{'\n'})
		if len(lines) > maxFuzzSeq {
			return
		}
		seq := make([][][]byte, 0, len(lines))
		for _, line := range lines {
			args := bytes.Split(line, []byte{0})
			if len(args) > 32 {
				return
			}
			if table.lookup(args[0]) == nil {
				args[0] = []byte(names[int(fnv(args[0])%uint32(len(names)))])
			}
			for i, a := range args[1:] {
				if len(a) == 2 && a[0] == '~' {
					args[1+i] = []byte(fuzzEdges[int(a[1])%len(fuzzEdges)])
				}
			}
			seq = append(seq, args)
		}
		newApplyRun(t, pack, tick).run(seq)
	})
}

const maxFuzzSeq = 8

// fuzzEdges are the values an argument "~" followed by one byte stands for,
// so that a two-byte mutation reaches the edges of every number parser.
var fuzzEdges = []string{
	"0", "-1", "1", "2147483647", "2147483648", "-2147483648", "4294967296", "9007199254740992",
	"9223372036854775807", "9223372036854775806", "-9223372036854775807", "-9223372036854775808",
	"9223372036854775808", "18446744073709551615", "65535", "65536", "1e400", "1e4000", "-1e4000",
	"inf", "-inf", "nan", "0x10", " 1", "", "\x00\xff", strings.Repeat("x", 1<<15),
}

// applyRun is one FuzzApplyPath input on its own pair of fresh stores, so
// that every failure reproduces from its input alone.
type applyRun struct {
	t        *testing.T
	env      *fuzzEnv
	perEntry int
	batch    bool // the second store applies a run of entries in one call
	ckpt     bool // the first store checkpoints after every entry
	tick     int64
	now      int64
	db       uint8
	pending  []storage.Cmd
	cmds     []*command // the command of each pending Cmd, for its reply
	segment  []loggedEntry
	log      []loggedEntry // every entry applied, in order
	idx      uint64
}

type loggedEntry struct {
	le   storage.LogEntry
	ent  storage.Entry
	cmds []*command
}

func newApplyRun(t *testing.T, pack uint8, tick uint16) *applyRun {
	return &applyRun{t: t, env: newFuzzEnv(t), perEntry: int(pack&7) + 1, batch: pack&8 != 0, ckpt: pack&16 != 0,
		tick: int64(tick), now: 1_700_000_000_000}
}

func (r *applyRun) run(seq [][][]byte) {
	for _, args := range seq {
		r.command(args)
		r.now += r.tick
	}
	r.flushEntry()
	r.applySegment()
	r.restart()
}

func (r *applyRun) command(args [][]byte) {
	cmd := r.env.s.table.lookup(args[0])
	if !cmd.arityOK(len(args)) {
		return // answered with an arity error, nothing proposed
	}
	if cmd.local != nil {
		if cmd.name == "select" {
			if v, ok := parseInt(args[1]); ok && v >= 0 && v < storage.NumDBs {
				r.db = uint8(v)
			}
		}
		return
	}
	if cmd.flags&flagScan != 0 {
		return
	}
	if cmd.writes(args) {
		x, _ := r.ctx(&bytes.Buffer{})
		lc, reply := cmd.write(x, args)
		if reply != "" {
			return // a validation error: nothing proposed
		}
		lc.DB = r.db
		r.pending = append(r.pending, lc)
		r.cmds = append(r.cmds, cmd)
		if len(r.pending) >= r.perEntry {
			r.flushEntry()
		}
		return
	}
	// A read: the pipeline applies its pending writes first.
	r.flushEntry()
	r.applySegment()
	var outs [2]string
	for i, db := range r.env.dbs {
		var out bytes.Buffer
		x, flush := r.ctx(&out)
		if err := db.View(func(rd *storage.Reader) error { cmd.read(x, rd, args); return nil }); err != nil {
			r.t.Fatalf("%q: view: %v", args, err)
		}
		flush()
		if out.Len() == 0 {
			r.t.Fatalf("%q: read wrote no reply", args)
		}
		outs[i] = out.String()
	}
	if outs[0] != outs[1] {
		r.t.Fatalf("%q: the stores answer differently: %q and %q", args, outs[0], outs[1])
	}
}

// ctx is a handler's context at the current clock and database, replying
// into out.
func (r *applyRun) ctx(out *bytes.Buffer) (*execCtx, func()) {
	st, flush := bufferedConn(out)
	st.db = r.db
	return &execCtx{s: r.env.s, st: st, w: &st.w, now: r.now}, flush
}

// flushEntry turns the pending commands into one log entry, checking that
// it survives the log's encoding.
func (r *applyRun) flushEntry() {
	if len(r.pending) == 0 {
		return
	}
	ent := storage.Entry{Now: r.now, Cmds: r.pending}
	data := ent.Encode()
	dec, err := storage.DecodeEntry(data)
	if err != nil {
		r.t.Fatalf("storage rejects an entry the server built: %v\n%s", err, describeEntry(ent))
	}
	if !sameEntry(ent, dec) {
		r.t.Fatalf("entry changed in the log:\nbuilt   %s\ndecoded %s", describeEntry(ent), describeEntry(dec))
	}
	if again := dec.Encode(); !bytes.Equal(again, data) {
		r.t.Fatalf("encoding is not canonical: %x then %x", data, again)
	}
	r.idx++
	r.segment = append(r.segment, loggedEntry{le: storage.LogEntry{Index: r.idx, Data: data}, ent: ent, cmds: r.cmds})
	r.pending, r.cmds = nil, nil
}

// applySegment applies the entries built since the last read to both
// stores and compares what they did.
func (r *applyRun) applySegment() {
	if len(r.segment) == 0 {
		return
	}
	seg := r.segment
	r.segment = nil
	r.log = append(r.log, seg...)
	a, b := r.env.dbs[0], r.env.dbs[1]
	// The first store: one entry per ApplyBatch.
	resA := make([][]storage.Result, len(seg))
	for i, e := range seg {
		var before []string
		if len(e.ent.Cmds) == 1 {
			before = r.keyStates(a, e.ent.Now, &e.ent.Cmds[0])
		}
		out := r.apply(a, e.le)
		resA[i] = out.Results[0]
		if len(resA[i]) != len(e.ent.Cmds) {
			r.t.Fatalf("entry %d: %d results for %d commands:\n%s", e.le.Index, len(resA[i]), len(e.ent.Cmds), describeEntry(e.ent))
		}
		if before != nil && resA[i][0].Kind == storage.ResultErr {
			if after := r.keyStates(a, e.ent.Now, &e.ent.Cmds[0]); !equalStrings(before, after) {
				r.t.Fatalf("a failed command (%v) changed its keys:\n%s\nbefore %q\nafter  %q",
					resA[i][0].Err, describeEntry(e.ent), before, after)
			}
		}
		if r.ckpt {
			if err := a.Flush(); err != nil {
				r.t.Fatalf("checkpoint: %v", err)
			}
		}
	}
	// The second store: the same entries, batched or not.
	resB := make([][]storage.Result, len(seg))
	if r.batch {
		les := make([]storage.LogEntry, len(seg))
		for i, e := range seg {
			les[i] = e.le
		}
		copy(resB, r.apply(b, les...).Results)
	} else {
		for i, e := range seg {
			resB[i] = r.apply(b, e.le).Results[0]
		}
	}
	for i, e := range seg {
		ra, rb := describeResults(resA[i]), describeResults(resB[i])
		if ra != rb {
			r.t.Fatalf("entry %d: the stores' results differ:\n%s\n%s\n%s", e.le.Index, describeEntry(e.ent), ra, rb)
		}
		for j, res := range resA[i] {
			if ra, rb := renderReply(e.cmds[j], res), renderReply(e.cmds[j], resB[i][j]); ra != rb {
				r.t.Fatalf("entry %d: replies differ: %q and %q", e.le.Index, ra, rb)
			}
		}
	}
	if da, db := digest(r.t, a), digest(r.t, b); da != db {
		r.t.Fatalf("stores diverged after entries %d..%d", seg[0].le.Index, seg[len(seg)-1].le.Index)
	}
}

// apply applies entries, failing the test on a store error.
func (r *applyRun) apply(db *storage.DB, les ...storage.LogEntry) storage.Applied {
	out, err := db.ApplyBatch(les)
	if err != nil {
		r.t.Fatalf("apply of entries %d..%d: store error: %v", les[0].Index, les[len(les)-1].Index, err)
	}
	if len(out.Results) != len(les) {
		r.t.Fatalf("%d result lists for %d entries", len(out.Results), len(les))
	}
	// Apply recovers a panic as a last line of defence; a command that
	// validation accepted must not need it.
	for _, rs := range out.Results {
		for _, res := range rs {
			if res.Kind == storage.ResultErr && errors.Is(res.Err, storage.ErrInternal) {
				r.t.Fatalf("apply panicked on a command validation accepted: %v", res.Err)
			}
		}
	}
	return out
}

// restart closes the first store, reopens it from its file, checks it
// comes back as it was and skips what it applied, then runs the log again
// as new entries on both stores: the restarted one must go on exactly as
// the one that never stopped.
func (r *applyRun) restart() {
	a := r.env.dbs[0]
	before := digest(r.t, a)
	if err := a.Close(); err != nil {
		r.t.Fatalf("close: %v", err)
	}
	a, err := storage.Open(a.Path(), storage.Options{InitialMmapSize: 1 << 24})
	if err != nil {
		r.t.Fatalf("reopen: %v", err)
	}
	r.t.Cleanup(func() { a.Close() })
	r.env.dbs[0] = a
	if got := a.AppliedIndex(); got != r.idx {
		r.t.Fatalf("reopened at applied index %d, want %d", got, r.idx)
	}
	if d := digest(r.t, a); d != before {
		r.t.Fatalf("digest changed over a restart")
	}
	if len(r.log) == 0 {
		return
	}
	// Raft replays from the start of its log: all of it is at or below the
	// applied index and must be skipped, the last entry on its own too.
	all := make([]storage.LogEntry, len(r.log))
	for i, e := range r.log {
		all[i] = e.le
	}
	for _, les := range [][]storage.LogEntry{all, all[len(all)-1:]} {
		out := r.apply(a, les...)
		for i, res := range out.Results {
			if res != nil {
				r.t.Fatalf("replay of entry %d at applied index %d was not skipped: %s", les[i].Index, r.idx, describeResults(res))
			}
		}
		if d := digest(r.t, a); d != before {
			r.t.Fatalf("replaying applied entries changed the state")
		}
	}
	// The same commands again, as new entries.
	for _, e := range r.log {
		r.idx++
		r.segment = append(r.segment, loggedEntry{le: storage.LogEntry{Index: r.idx, Data: e.le.Data}, ent: e.ent, cmds: e.cmds})
	}
	r.log = nil
	r.applySegment()
}

// keyStates describes the keys a command names, as reads see them at now.
func (r *applyRun) keyStates(db *storage.DB, now int64, c *storage.Cmd) []string {
	var out []string
	err := db.View(func(rd *storage.Reader) error {
		for _, k := range c.Keys {
			v, ok := rd.Get(c.DB, k, now)
			out = append(out, fmt.Sprintf("%v %d %d %q", ok, v.Type, v.Deadline, v.Data))
		}
		return nil
	})
	if err != nil {
		r.t.Fatalf("view: %v", err)
	}
	return out
}

func digest(t *testing.T, db *storage.DB) string {
	t.Helper()
	d, err := db.Digest()
	if err != nil {
		t.Fatalf("digest: %v", err)
	}
	return d
}

// renderReply encodes an applied result as the client would receive it.
func renderReply(cmd *command, res storage.Result) string {
	var out bytes.Buffer
	st, flush := bufferedConn(&out)
	p := pipeline{st: st}
	p.reply(cmd, res)
	flush()
	return out.String()
}

func sameEntry(a, b storage.Entry) bool {
	if a.Now != b.Now || len(a.Cmds) != len(b.Cmds) {
		return false
	}
	for i := range a.Cmds {
		x, y := &a.Cmds[i], &b.Cmds[i]
		if x.Op != y.Op || x.DB != y.DB || x.Flags != y.Flags || x.Int != y.Int || x.Deadline != y.Deadline || x.Limit != y.Limit ||
			!sameList(x.Keys, y.Keys) || !sameList(x.Vals, y.Vals) {
			return false
		}
	}
	return true
}

func sameList(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func describeEntry(e storage.Entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "now=%d", e.Now)
	for _, c := range e.Cmds {
		fmt.Fprintf(&b, "\n  op=%d db=%d flags=%#x int=%d deadline=%d limit=%d keys=%.64q vals=%.64q",
			c.Op, c.DB, c.Flags, c.Int, c.Deadline, c.Limit, c.Keys, c.Vals)
	}
	return b.String()
}

// describeResults renders results exactly, for comparing two stores'
// results.
func describeResults(rs []storage.Result) string {
	var b strings.Builder
	for _, r := range rs {
		describeResult(&b, r)
	}
	return b.String()
}

func describeResult(b *strings.Builder, r storage.Result) {
	fmt.Fprintf(b, "[%d %d %q %v %v %v", r.Kind, r.Int, r.Bytes, r.Err, r.Float, r.Null)
	for _, e := range r.Elems {
		describeResult(b, e)
	}
	b.WriteByte(']')
}
