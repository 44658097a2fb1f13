package server

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"
)

// eventScript runs commands of every family with notify-keyspace-events
// KEA, so that every event they emit reaches a subscriber of __key*__:*.
// Expiry by time is left out (its timing differs); deadlines in the past
// delete at once.
var eventScript = [][]string{
	{"SET", "s", "v"}, {"SET", "s", "w", "EX", "100"}, {"SET", "s", "x", "KEEPTTL"}, {"SET", "s", "y", "NX"}, {"SETNX", "n", "1"}, {"MSET", "a", "1", "b", "2"},
	{"INCR", "n"}, {"DECRBY", "n", "5"}, {"INCRBYFLOAT", "n", "1.5"}, {"APPEND", "a", "x"}, {"SETRANGE", "b", "3", "z"}, {"GETSET", "a", "g"}, {"GETDEL", "a"}, {"GETEX", "b", "EX", "50"}, {"GETEX", "b", "PERSIST"},
	{"EXPIRE", "s", "100"}, {"PEXPIRE", "s", "1000", "GT"}, {"PEXPIRE", "s", "200000", "GT"}, {"PERSIST", "s"}, {"EXPIRE", "s", "-1"}, {"EXPIRE", "missing", "10"},
	{"SET", "r", "1"}, {"RENAME", "r", "r2"}, {"RENAMENX", "r2", "r3"}, {"COPY", "r3", "r4"}, {"MOVE", "r4", "1"}, {"DEL", "r3", "none"}, {"UNLINK", "n"},
	{"HSET", "h", "a", "1", "b", "2"}, {"HSET", "h", "a", "1"}, {"HSETNX", "h", "a", "x"}, {"HSETNX", "h", "c", "3"}, {"HINCRBY", "h", "i", "1"}, {"HINCRBYFLOAT", "h", "f", "0.5"}, {"HDEL", "h", "zz"}, {"HDEL", "h", "a", "b", "c", "i", "f"},
	{"SADD", "st", "a", "b", "c"}, {"SADD", "st", "a"}, {"SREM", "st", "a"}, {"SMOVE", "st", "st2", "b"}, {"SPOP", "st"}, {"SADD", "st", "x", "y"}, {"SADD", "su", "y", "z"},
	{"SINTERSTORE", "sd", "st", "su"}, {"SUNIONSTORE", "sd", "st", "su"}, {"SDIFFSTORE", "sd", "st", "st"},
	{"ZADD", "z", "1", "a", "2", "b", "3", "c"}, {"ZADD", "z", "1", "a"}, {"ZADD", "z", "5", "a"}, {"ZINCRBY", "z", "1", "b"}, {"ZREM", "z", "c"}, {"ZPOPMIN", "z"}, {"ZPOPMAX", "z"},
	{"ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"}, {"ZREMRANGEBYSCORE", "z", "1", "1"}, {"ZREMRANGEBYRANK", "z", "0", "0"}, {"ZREMRANGEBYLEX", "z", "-", "+"},
	{"ZADD", "z", "1", "a"}, {"ZUNIONSTORE", "zd", "1", "z"}, {"ZINTERSTORE", "zd", "2", "z", "none"}, {"ZRANGESTORE", "zd", "z", "0", "-1"},
	{"RPUSH", "l", "a", "b", "c", "d", "e"}, {"LPUSH", "l", "z"}, {"LPUSHX", "none", "x"}, {"RPUSHX", "l", "f"}, {"LPOP", "l"}, {"RPOP", "l", "2"}, {"LSET", "l", "0", "q"}, {"LINSERT", "l", "BEFORE", "q", "p"},
	{"LREM", "l", "0", "p"}, {"LTRIM", "l", "0", "10"}, {"LMOVE", "l", "l2", "LEFT", "RIGHT"}, {"RPOPLPUSH", "l", "l"}, {"BLPOP", "l", "0"}, {"LTRIM", "l", "1", "0"},
	{"SETBIT", "bits", "7", "1"}, {"SETBIT", "bits", "7", "1"}, {"BITOP", "OR", "bo", "bits", "bits"}, {"BITFIELD", "bf", "SET", "u8", "0", "255"}, {"BITFIELD", "bf", "GET", "u8", "0"},
	{"MULTI"}, {"SET", "m", "1"}, {"INCR", "m"}, {"DEL", "m"}, {"EXEC"},
	{"SELECT", "2"}, {"SET", "indb2", "v"}, {"DEL", "indb2"}, {"SELECT", "0"},
	{"FLUSHALL"},
}

// TestKeyspaceEventsMatchRedis compares what a subscriber of __key*__:*
// receives, byte for byte in RESP2 and RESP3, while another client runs
// eventScript: every event's channel, name, key and order.
func TestKeyspaceEventsMatchRedis(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	for _, proto := range []string{"2", "3"} {
		want := eventStream(t, redisAddr, proto)
		got := eventStream(t, kk.Addr().String(), proto)
		if want != got {
			i := 0
			for i < len(want) && i < len(got) && want[i] == got[i] {
				i++
			}
			from := max(0, i-300)
			t.Errorf("RESP%s: the streams differ at byte %d:\n redis:  …%q\n keepkv: …%q", proto, i, want[from:min(len(want), i+400)], got[from:min(len(got), i+400)])
		}
	}
}

func eventStream(t *testing.T, addr, proto string) string {
	t.Helper()
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	sc, sr := dial()
	fmt.Fprint(sc, respPayload([][]string{{"HELLO", proto}}))
	if _, err := respSignature(sr); err != nil {
		t.Fatal(err)
	}
	wc, wr := dial()
	for _, c := range [][]string{{"FLUSHALL"}, {"CONFIG", "SET", "notify-keyspace-events", "KEA"}} {
		fmt.Fprint(wc, respPayload([][]string{c}))
		if sig, err := respSignature(wr); err != nil || sig != "+OK" {
			t.Fatalf("%v: %s %v", c, sig, err)
		}
	}
	fmt.Fprint(sc, respPayload([][]string{{"PSUBSCRIBE", "__key*__:*", "marker"}}))
	for range 2 {
		if _, err := respSignature(sr); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range append(eventScript, []string{"CONFIG", "SET", "notify-keyspace-events", ""}, []string{"PUBLISH", "marker", "end"}) {
		fmt.Fprint(wc, respPayload([][]string{c}))
		if _, err := respSignature(wr); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
	}
	end := []byte("$6\r\nmarker\r\n$3\r\nend\r\n")
	var got []byte
	buf := make([]byte, 64<<10)
	for !bytes.HasSuffix(got, end) {
		n, err := sr.Read(buf)
		if err != nil {
			t.Fatalf("reading events: %v (so far %q)", err, got)
		}
		got = append(got, buf[:n]...)
	}
	return string(got)
}
