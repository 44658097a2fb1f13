package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// respPayload encodes commands as RESP arrays.
func respPayload(cmds [][]string) string {
	var b strings.Builder
	for _, c := range cmds {
		fmt.Fprintf(&b, "*%d\r\n", len(c))
		for _, a := range c {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	return b.String()
}

// compareRaw sends cmds (ending in QUIT) to redis-server and keepkv, in
// RESP2 and RESP3, and compares the reply bytes.
func compareRaw(t *testing.T, redisAddr, kkAddr string, cmds [][]string) {
	t.Helper()
	payload := respPayload(cmds)
	for _, hello := range []string{"", respPayload([][]string{{"HELLO", "3"}})} {
		want, closed1 := rawReply(t, redisAddr, hello+payload)
		got, closed2 := rawReply(t, kkAddr, hello+payload)
		if !closed1 || !closed2 {
			t.Fatalf("QUIT was not reached (redis %v, keepkv %v)", closed1, closed2)
		}
		if hello != "" { // HELLO's map differs (server name, version, id)
			want, got = want[strings.Index(want, "+OK\r\n"):], got[strings.Index(got, "+OK\r\n"):]
		}
		if got != want {
			t.Errorf("RESP%d:\n redis:  %q\n keepkv: %q", map[bool]int{true: 2, false: 3}[hello == ""], want, got)
		}
	}
}

// TestMultiExecMatchesRedis compares MULTI/EXEC/DISCARD/WATCH byte for
// byte: queued replies, EXECABORT, runtime errors inside EXEC's reply,
// WATCH aborts (a write, FLUSHDB, a key that expires after WATCH) and the
// cases where Redis does not abort (a key already expired when watched, a
// flush of a key that did not exist). The waits are BLPOPs on an empty
// list, which both servers time out alike.
func TestMultiExecMatchesRedis(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	compareRaw(t, redisAddr, kk.Addr().String(), [][]string{
		{"FLUSHALL"},
		{"MULTI"}, {"SET", "a", "1"}, {"INCR", "a"}, {"GET", "a"}, {"HSET", "a", "f", "v"}, {"LPUSH", "l", "x"}, {"LRANGE", "l", "0", "-1"}, {"PING"}, {"ECHO", "e"}, {"EXEC"},
		{"MULTI"}, {"SET"}, {"INCR", "a"}, {"EXEC"}, {"GET", "a"},
		{"MULTI"}, {"NOSUCH", "x"}, {"INCR", "a"}, {"EXEC"}, {"GET", "a"},
		{"MULTI"}, {"MULTI"}, {"WATCH", "a"}, {"EXEC"},
		{"EXEC"}, {"DISCARD"},
		{"MULTI"}, {"SET", "b", "1"}, {"DISCARD"}, {"GET", "b"},
		{"MULTI"}, {"SET", "k", "v", "EX", "abc"}, {"INCR", "l"}, {"SET", "k", "v"}, {"GET", "k"}, {"EXEC"},
		{"WATCH", "a"}, {"SET", "a", "5"}, {"MULTI"}, {"INCR", "a"}, {"EXEC"}, {"GET", "a"},
		{"WATCH", "a"}, {"MULTI"}, {"INCR", "a"}, {"EXEC"},
		{"WATCH", "none"}, {"MULTI"}, {"SET", "none", "1"}, {"EXEC"},
		{"WATCH", "a"}, {"UNWATCH"}, {"SET", "a", "9"}, {"MULTI"}, {"GET", "a"}, {"EXEC"},
		{"WATCH", "a", "b"}, {"DEL", "b"}, {"MULTI"}, {"GET", "a"}, {"EXEC"},
		{"SET", "e", "v", "PX", "100"}, {"WATCH", "e"}, {"BLPOP", "nolist", "0.3"}, {"MULTI"}, {"GET", "a"}, {"EXEC"},
		{"SET", "f", "v", "PX", "50"}, {"BLPOP", "nolist", "0.2"}, {"WATCH", "f"}, {"MULTI"}, {"GET", "a"}, {"EXEC"},
		{"WATCH", "a"}, {"FLUSHDB"}, {"MULTI"}, {"GET", "a"}, {"EXEC"},
		{"WATCH", "never"}, {"FLUSHALL"}, {"MULTI"}, {"PING"}, {"EXEC"},
		{"MULTI"}, {"SELECT", "1"}, {"SET", "x", "1"}, {"EXEC"}, {"GET", "x"}, {"SELECT", "0"}, {"GET", "x"},
		{"MULTI"}, {"BLPOP", "q", "0"}, {"LPUSH", "q", "a"}, {"BLPOP", "q", "0"}, {"BLMOVE", "q", "r", "LEFT", "LEFT", "0"}, {"EXEC"},
		{"MULTI"}, {"SADD", "s", "a", "b"}, {"SISMEMBER", "s", "a"}, {"SCARD", "s"}, {"ZADD", "z", "1", "m"}, {"ZSCORE", "z", "m"}, {"ZRANGE", "z", "0", "-1", "WITHSCORES"}, {"HGETALL", "nohash"}, {"EXEC"},
		{"MULTI"}, {"EXEC"},
		{"QUIT"},
	})
}

// TestMultiRefusesIterationInsideApply: commands that iterate the whole
// keyspace cannot run inside apply; keepkv refuses them when they are
// queued (Redis runs them), so the transaction is discarded, not half run.
func TestMultiRefusesIterationInsideApply(t *testing.T) {
	kk := startServer(t, nil)
	got, _ := rawReply(t, kk.Addr().String(), respPayload([][]string{{"MULTI"}, {"SET", "a", "1"}, {"KEYS", "*"}, {"EXEC"}, {"GET", "a"}, {"QUIT"}}))
	want := "+OK\r\n+QUEUED\r\n-ERR Command not allowed inside a transaction\r\n-EXECABORT Transaction discarded because of previous errors.\r\n$-1\r\n+OK\r\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// pubsubSession runs a subscriber connection and a publisher connection:
// the subscriber sends sub (reading one reply per command), the publisher
// sends pub (reading each reply), then the subscriber sends after, ending
// with QUIT, and everything the subscriber received is returned.
func pubsubSession(t *testing.T, addr, hello string, sub, pub, after [][]string) string {
	t.Helper()
	sc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	sc.SetDeadline(time.Now().Add(20 * time.Second))
	readN := func(r *bufio.Reader, n int) {
		for range n {
			if _, err := respSignature(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if hello != "" { // its reply differs (server name, version): not recorded
		fmt.Fprint(sc, respPayload([][]string{{"HELLO", hello}}))
		readN(bufio.NewReader(sc), 1) // nothing else arrives before it is read
	}
	var got strings.Builder
	sr := bufio.NewReader(io.TeeReader(sc, &got))
	for _, c := range sub {
		fmt.Fprint(sc, respPayload([][]string{c}))
		readN(sr, max(len(c)-1, 1)) // a reply per channel
	}
	pc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pc.SetDeadline(time.Now().Add(20 * time.Second))
	pr := bufio.NewReader(pc)
	for _, c := range pub {
		fmt.Fprint(pc, respPayload([][]string{c}))
		readN(pr, 1)
	}
	fmt.Fprint(sc, respPayload(after))
	io.Copy(io.Discard, sr)
	return got.String()
}

// TestPubSubMatchesRedis compares a subscriber's byte stream: subscribe
// replies, messages and pattern messages published by another client,
// PING and the RESP2 restrictions in subscribed mode, unsubscribe replies,
// in RESP2 and RESP3 (where push messages arrive and commands run).
func TestPubSubMatchesRedis(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	sub := [][]string{{"SUBSCRIBE", "news", "chat"}, {"PSUBSCRIBE", "ne*", "h?llo"}, {"SUBSCRIBE", "news"}}
	pub := [][]string{{"PUBLISH", "news", "one"}, {"PUBLISH", "hello", "two"}, {"PUBLISH", "nobody", "x"}, {"PUBLISH", "chat", "three"}, {"PUBSUB", "NUMSUB", "news", "chat", "none"}, {"PUBSUB", "NUMPAT"}, {"PUBSUB", "CHANNELS", "n*"}}
	after := [][]string{{"PING"}, {"PING", "x"}, {"GET", "k"}, {"UNSUBSCRIBE", "chat"}, {"PUNSUBSCRIBE"}, {"UNSUBSCRIBE"}, {"UNSUBSCRIBE"}, {"PING"}, {"GET", "k"}, {"QUIT"}}
	for _, hello := range []string{"", "3"} {
		want := pubsubSession(t, redisAddr, hello, sub, pub, after)
		got := pubsubSession(t, kk.Addr().String(), hello, sub, pub, after)
		if got != want {
			t.Errorf("HELLO %q:\n redis:  %q\n keepkv: %q", hello, want, got)
		}
	}
}

// TestPublishRepliesMatchRedis: PUBLISH's count and PUBSUB's replies, seen
// from the publisher.
func TestPublishRepliesMatchRedis(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	compareRaw(t, redisAddr, kk.Addr().String(), [][]string{
		{"PUBLISH", "c", "m"}, {"SET", "after", "publish"}, {"PUBLISH", "c", "n"}, {"GET", "after"}, {"PUBLISH", "c"}, {"PUBSUB", "NUMSUB"}, {"PUBSUB", "NUMSUB", "a", "b"}, {"PUBSUB", "NUMPAT"}, {"PUBSUB", "CHANNELS"},
		{"PUBSUB", "FOO"}, {"PUBSUB", "NUMPAT", "x"}, {"PUBSUB", "CHANNELS", "a", "b"}, {"UNSUBSCRIBE"}, {"PUNSUBSCRIBE", "x"},
		{"MULTI"}, {"PUBLISH", "c", "m"}, {"EXEC"},
		{"QUIT"},
	})
}
