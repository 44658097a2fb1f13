package server

import (
	"testing"

	"github.com/keepkv/keepkv/storage"
)

// BenchmarkBuildSet parses and validates SET ... EX and encodes the log
// entry: the per-write work a leader does before proposing.
func BenchmarkBuildSet(b *testing.B) {
	s := newServer(Config{}.withDefaults())
	x := &execCtx{s: s, st: &connState{}, now: 1_700_000_000_000}
	args := [][]byte{[]byte("SET"), []byte("session:0123456789abcdef"), []byte(`{"user":42}`), []byte("EX"), []byte("604800")}
	cmd := s.table.lookup(args[0])
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		lc, reply := cmd.write(x, args)
		if reply != "" {
			b.Fatal(reply)
		}
		e := storage.Entry{Now: x.now, Cmds: []storage.Cmd{lc}}
		_ = e.Encode()
	}
}

// BenchmarkProtocolScan runs the framing guard over a pipeline of SETs.
func BenchmarkProtocolScan(b *testing.B) {
	payload := []byte("*3\r\n$3\r\nSET\r\n$16\r\nsession:12345678\r\n$11\r\n{\"user\":42}\r\n")
	var buf []byte
	for range 64 {
		buf = append(buf, payload...)
	}
	pc := &protoConn{lim: Limits{MaxBulkLen: 512 << 20, MaxMultibulk: 1 << 20, MaxInline: 64 << 10}}
	b.SetBytes(int64(len(buf)))
	for i := 0; i < b.N; i++ {
		if _, bad := pc.scan(buf); bad != "" {
			b.Fatal(bad)
		}
	}
}
