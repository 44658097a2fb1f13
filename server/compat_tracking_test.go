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

// step is one command of a multi-connection script: conn is the index of
// the connection that sends it; its reply (and any push messages before
// it) is read before the next step.
type step struct {
	conn int
	args []string
}

// runSteps plays steps over conns connections to addr (each first sends
// HELLO with its protocol, which is not recorded) and returns every byte
// each connection received after its HELLO, up to its QUIT.
func runSteps(t *testing.T, addr string, protos []string, steps []step) []string {
	t.Helper()
	type conn struct {
		c   net.Conn
		r   *bufio.Reader
		got *strings.Builder
	}
	conns := make([]conn, len(protos))
	for i, proto := range protos {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprint(c, respPayload([][]string{{"HELLO", proto}}))
		if _, err := respSignature(bufio.NewReader(c)); err != nil { // nothing else arrives before it is read
			t.Fatal(err)
		}
		got := &strings.Builder{}
		conns[i] = conn{c: c, r: bufio.NewReader(io.TeeReader(c, got)), got: got}
	}
	for _, s := range steps {
		cn := conns[s.conn]
		fmt.Fprint(cn.c, respPayload([][]string{s.args}))
		for {
			b, err := cn.r.Peek(1)
			if err != nil {
				t.Fatalf("%v: %v", s.args, err)
			}
			push := b[0] == '>'
			if _, err := respSignature(cn.r); err != nil {
				t.Fatalf("%v: %v", s.args, err)
			}
			if !push {
				break
			}
		}
	}
	out := make([]string, len(conns))
	for i, cn := range conns {
		fmt.Fprint(cn.c, respPayload([][]string{{"QUIT"}}))
		io.Copy(io.Discard, cn.r)
		out[i] = cn.got.String()
	}
	return out
}

func compareSteps(t *testing.T, redisAddr, kkAddr string, protos []string, steps []step) {
	t.Helper()
	want := runSteps(t, redisAddr, protos, steps)
	got := runSteps(t, kkAddr, protos, steps)
	for i := range want {
		if want[i] != got[i] {
			t.Errorf("connection %d (RESP%s):\n redis:  %q\n keepkv: %q", i, protos[i], want[i], got[i])
		}
	}
}

// TestClientTrackingMatchesRedis compares client-side caching byte for
// byte: invalidation pushes in the default mode (once per read, then the
// key is forgotten), BCAST with prefixes, OPTIN with CLIENT CACHING, a
// flush, a RESP2 client redirecting to a subscriber of
// __redis__:invalidate, and the errors and introspection commands.
func TestClientTrackingMatchesRedis(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	compareSteps(t, redisAddr, kk.Addr().String(), []string{"3", "3"}, []step{
		{1, []string{"FLUSHALL"}},
		{0, []string{"CLIENT", "TRACKING", "ON"}}, {0, []string{"CLIENT", "GETREDIR"}}, {0, []string{"CLIENT", "TRACKINGINFO"}},
		{0, []string{"GET", "k"}}, {0, []string{"MGET", "a", "b"}}, {0, []string{"HGET", "h", "f"}},
		{1, []string{"SET", "k", "1"}}, {0, []string{"PING"}},
		{1, []string{"SET", "k", "2"}}, {0, []string{"PING"}}, // forgotten after one invalidation
		{1, []string{"MSET", "a", "1", "b", "2", "c", "3"}}, {1, []string{"HSET", "h", "f", "v"}}, {0, []string{"PING"}},
		{0, []string{"GET", "k"}}, {1, []string{"DEL", "k"}}, {0, []string{"GET", "k"}}, {1, []string{"FLUSHALL"}}, {0, []string{"PING"}},
		{0, []string{"CLIENT", "TRACKING", "ON", "BCAST"}},
		{0, []string{"CLIENT", "TRACKING", "OFF"}}, {0, []string{"CLIENT", "TRACKINGINFO"}}, {0, []string{"CLIENT", "GETREDIR"}},
		{0, []string{"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "sess:"}}, {0, []string{"CLIENT", "TRACKINGINFO"}},
		{1, []string{"SET", "user:1", "x"}}, {1, []string{"SET", "other", "y"}}, {0, []string{"PING"}},
		{1, []string{"MSET", "sess:1", "x", "sess:2", "y", "zzz", "z"}}, {0, []string{"PING"}},
		{0, []string{"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "use"}},
		{0, []string{"CLIENT", "TRACKING", "OFF"}},
		{0, []string{"CLIENT", "TRACKING", "ON", "OPTIN"}}, {0, []string{"GET", "a"}}, {0, []string{"CLIENT", "CACHING", "yes"}}, {0, []string{"CLIENT", "TRACKINGINFO"}}, {0, []string{"GET", "b"}},
		{1, []string{"SET", "a", "9"}}, {1, []string{"SET", "b", "9"}}, {0, []string{"PING"}},
		{0, []string{"CLIENT", "TRACKING", "ON", "OPTOUT"}},
		{0, []string{"CLIENT", "TRACKING", "OFF"}},
		{0, []string{"CLIENT", "TRACKING", "ON", "OPTOUT"}}, {0, []string{"CLIENT", "CACHING", "no"}}, {0, []string{"GET", "a"}}, {0, []string{"GET", "b"}},
		{1, []string{"SET", "a", "8"}}, {1, []string{"SET", "b", "8"}}, {0, []string{"PING"}},
		{0, []string{"CLIENT", "TRACKING", "OFF"}},
		{0, []string{"CLIENT", "TRACKING", "ON", "NOLOOP"}}, {0, []string{"CLIENT", "TRACKINGINFO"}}, {0, []string{"GET", "nl"}}, {0, []string{"SET", "nl", "1"}}, {0, []string{"PING"}},
		{0, []string{"GET", "nl"}}, {1, []string{"SET", "nl", "2"}}, {0, []string{"PING"}}, {0, []string{"CLIENT", "TRACKING", "OFF"}},
		{0, []string{"CLIENT", "TRACKING", "ON", "BCAST", "NOLOOP"}}, {0, []string{"SET", "own", "1"}}, {1, []string{"SET", "theirs", "1"}}, {0, []string{"PING"}}, {0, []string{"CLIENT", "TRACKING", "OFF"}},
		{0, []string{"CLIENT", "TRACKING", "ON", "PREFIX", "x"}}, {0, []string{"CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"}}, {0, []string{"CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"}},
		{0, []string{"CLIENT", "TRACKING", "ON", "REDIRECT", "999999"}}, {0, []string{"CLIENT", "TRACKING", "ON", "REDIRECT", "x"}}, {0, []string{"CLIENT", "TRACKING", "MAYBE"}},
		{0, []string{"CLIENT", "TRACKING", "ON", "FOO"}}, {0, []string{"CLIENT", "TRACKING"}}, {0, []string{"CLIENT", "CACHING", "yes"}}, {0, []string{"CLIENT", "CACHING", "maybe"}},
		{0, []string{"CLIENT", "GETREDIR", "x"}},
	})
}

// TestClientTrackingRedirectMatchesRedis: a RESP2 client cannot take
// pushes; it redirects its invalidations to a client subscribed to
// __redis__:invalidate, which receives them as messages.
func TestClientTrackingRedirectMatchesRedis(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	want := runRedirect(t, redisAddr)
	got := runRedirect(t, kk.Addr().String())
	if want != got {
		t.Errorf("subscriber:\n redis:  %q\n keepkv: %q", want, got)
	}
}

// runRedirect: connection S subscribes to __redis__:invalidate, connection
// T (RESP2) tracks with REDIRECT to S and reads keys, connection W writes
// them; S's byte stream is returned.
func runRedirect(t *testing.T, addr string) string {
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
	do := func(c net.Conn, r *bufio.Reader, args ...string) string {
		fmt.Fprint(c, respPayload([][]string{args}))
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "$") || strings.HasPrefix(line, "*") {
			// read the rest of a simple reply (bulk or small array)
			var n int
			fmt.Sscanf(line[1:], "%d", &n)
			if line[0] == '$' && n >= 0 {
				r.Discard(n + 2)
			}
			if line[0] == '*' {
				for range n {
					if _, err := respSignature(r); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		return strings.TrimSpace(line)
	}
	sc, sr := dial()
	id := strings.TrimPrefix(do(sc, sr, "CLIENT", "ID"), ":")
	var got strings.Builder
	str := bufio.NewReader(io.TeeReader(sc, &got))
	fmt.Fprint(sc, respPayload([][]string{{"SUBSCRIBE", invalidateChannel}}))
	if _, err := respSignature(str); err != nil {
		t.Fatal(err)
	}
	tc, tr := dial()
	wc, wr := dial()
	do(wc, wr, "FLUSHALL")
	for _, c := range [][]string{{"CLIENT", "TRACKING", "ON", "REDIRECT", id}, {"CLIENT", "GETREDIR"}, {"GET", "k"}, {"GET", "j"}} {
		do(tc, tr, c...)
	}
	do(wc, wr, "SET", "k", "1")
	do(wc, wr, "SET", "j", "1")
	do(wc, wr, "SET", "k", "2")
	do(wc, wr, "FLUSHALL")
	fmt.Fprint(sc, respPayload([][]string{{"PING"}, {"QUIT"}}))
	io.Copy(io.Discard, str)
	return got.String()
}
