package server

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/keepkv/keepkv/storage"
	"github.com/tidwall/redcon"
)

// FuzzProtocolFraming checks the RESP framing guard: its verdict on a
// stream (whether and how it is bad) must not depend on how the bytes are
// split into reads, and it must never panic or overrun.
func FuzzProtocolFraming(f *testing.F) {
	for _, seed := range []string{
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
		"PING\r\nSET a b\r\n",
		"*1\r\n$-1\r\n",
		"*99999999999\r\n",
		"*2\r\n$3\r\nSET\r\n$999999999999\r\n",
		"*1\r\n:1\r\n",
		"\x00\xff\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n",
	} {
		f.Add([]byte(seed), uint8(3))
	}
	lim := Limits{MaxBulkLen: 1 << 16, MaxMultibulk: 64, MaxInline: 256}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		whole := &protoConn{lim: lim}
		n1, bad1 := whole.scan(data)
		if n1 < 0 || n1 > len(data) {
			t.Fatalf("scan returned %d for %d bytes", n1, len(data))
		}
		step := int(split%16) + 1
		pieces := &protoConn{lim: lim}
		n2, bad2 := 0, ""
		for i := 0; i < len(data) && bad2 == ""; i += step {
			chunk := data[i:min(i+step, len(data))]
			k, bad := pieces.scan(chunk)
			n2 += k
			bad2 = bad
		}
		// Bytes of the offending line that arrived in earlier reads were
		// already passed on, so split reads may pass more, never less.
		if bad1 != bad2 || (bad1 != "" && (n2 < n1 || n2 > len(data))) {
			t.Fatalf("verdict depends on read sizes: whole (%d, %q), in %d-byte reads (%d, %q)", n1, bad1, step, n2, bad2)
		}
		// What the guard lets through must not crash redcon's parser.
		rd := redcon.NewReader(bytes.NewReader(data[:n1]))
		for range 64 {
			if _, err := rd.ReadCommand(); err != nil {
				break
			}
		}
	})
}

// fuzzEnv runs command handlers against a real storage.DB without Raft:
// the harness applies accepted writes itself.
type fuzzEnv struct {
	s   *Server
	dbs [2]*storage.DB
	idx uint64
}

func newFuzzEnv(t testing.TB) *fuzzEnv {
	e := &fuzzEnv{s: newServer(Config{MaxValueSize: 1 << 16}.withDefaults())}
	for i := range e.dbs {
		db, err := storage.Open(filepath.Join(t.TempDir(), "state.db"), storage.Options{InitialMmapSize: 1 << 24})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		e.dbs[i] = db
	}
	e.s.db = e.dbs[0]
	return e
}

// FuzzCommandValidation drives every command's argument validation. The
// etcd rule: whatever validation accepts must then execute without a
// panic, and two stores applying it must stay identical.
func FuzzCommandValidation(f *testing.F) {
	seeds := [][]string{
		{"set", "k", "v", "EX", "10", "NX", "GET"},
		{"set", "k", "v", "PXAT", "9223372036854775807"},
		{"expire", "k", "-9223372036854775808", "GT"},
		{"setrange", "k", "65535", "xx"},
		{"incrbyfloat", "k", "1e4000"},
		{"getrange", "k", "-9223372036854775808", "9223372036854775807"},
		{"scan", "18446744073709551615", "MATCH", "[\\", "COUNT", "3"},
		{"keys", "*[a-"},
		{"mset", "a", "1", "a", "2"},
		{"rename", "a", "a"},
		{"getex", "k", "EXAT", "1"},
		{"decrby", "k", "-9223372036854775808"},
	}
	for _, s := range seeds {
		f.Add([]byte(join(s)))
	}
	env := newFuzzEnv(f)
	names := env.s.table.names()
	f.Fuzz(func(t *testing.T, data []byte) {
		args := bytes.Split(data, []byte{0})
		if len(args) == 0 || len(args) > 32 {
			return
		}
		// Map the first argument onto a real command to reach the handlers.
		if env.s.table.lookup(args[0]) == nil {
			args[0] = []byte(names[int(fnv(args[0]))%len(names)])
		}
		env.run(t, args)
	})
}

func (e *fuzzEnv) run(t *testing.T, args [][]byte) {
	cmd := e.s.table.lookup(args[0])
	if !cmd.arityOK(len(args)) || cmd.local != nil {
		return
	}
	var out bytes.Buffer
	st, flush := bufferedConn(&out)
	x := &execCtx{s: e.s, st: st, w: &st.w, now: 1_700_000_000_000}
	if cmd.writes(args) {
		lc, reply := cmd.write(x, args)
		if reply != "" {
			return
		}
		e.idx++
		ent := storage.Entry{Now: x.now, Cmds: []storage.Cmd{lc}}
		data := ent.Encode()
		var digests []string
		for _, db := range e.dbs {
			if _, err := db.ApplyBatch([]storage.LogEntry{{Index: e.idx, Data: data}}); err != nil {
				t.Fatalf("%q: apply: %v", args, err)
			}
			d, err := db.Digest()
			if err != nil {
				t.Fatal(err)
			}
			digests = append(digests, d)
		}
		if digests[0] != digests[1] {
			t.Fatalf("%q: stores diverged", args)
		}
		return
	}
	if cmd.flags&flagScan != 0 {
		x.ctx = context.Background()
		cmd.read(x, nil, args)
	} else {
		e.s.db.View(func(r *storage.Reader) error { cmd.read(x, r, args); return nil })
	}
	if out.Len() == 0 {
		// bufConn writes through redcon's Writer, which buffers: flush.
		flush()
	}
	if out.Len() == 0 {
		t.Fatalf("%q: read wrote no reply", args)
	}
}

func join(s []string) string {
	var b bytes.Buffer
	for i, a := range s {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(a)
	}
	return b.String()
}

func fnv(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// bufConn is a redcon.Conn that records replies in memory for the fuzz
// harness, which has no network.
type bufConn struct {
	redcon.Conn
	wr *redcon.Writer
}

func (c *bufConn) WriteString(s string)           { c.wr.WriteString(s) }
func (c *bufConn) WriteBulk(b []byte)             { c.wr.WriteBulk(b) }
func (c *bufConn) WriteBulkString(s string)       { c.wr.WriteBulkString(s) }
func (c *bufConn) WriteInt64(n int64)             { c.wr.WriteInt64(n) }
func (c *bufConn) WriteError(s string)            { c.wr.WriteError(s) }
func (c *bufConn) WriteArray(n int)               { c.wr.WriteArray(n) }
func (c *bufConn) WriteNull()                     { c.wr.WriteNull() }
func (c *bufConn) WriteRaw(b []byte)              { c.wr.WriteRaw(b) }
func (c *bufConn) RemoteAddr() string             { return "fuzz" }
func (c *bufConn) NetConn() net.Conn              { return nil }
func (c *bufConn) Context() interface{}           { return nil }
func (c *bufConn) SetContext(v interface{})       {}
func (c *bufConn) Close() error                   { return nil }
func (c *bufConn) ReadPipeline() []redcon.Command { return nil }

// bufferedConn returns a connection state whose replies, encoded in RESP2,
// go to out once flush is called.
func bufferedConn(out *bytes.Buffer) (*connState, func()) {
	bc := &bufConn{wr: redcon.NewWriter(out)}
	st := &connState{conn: bc}
	st.w, st.enc = newRESPWriter(bc)
	return st, func() { bc.wr.Flush() }
}
