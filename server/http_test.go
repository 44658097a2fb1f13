package server

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keepkv/keepkv/replication"
	"github.com/keepkv/keepkv/server/tlstest"
)

// restClient talks to one node's HTTP front end.
type restClient struct {
	t     testing.TB
	base  string
	token string
	hdr   map[string]string
	hc    *http.Client
}

func newREST(t testing.TB, s *Server) *restClient {
	t.Helper()
	if s.HTTPAddr() == nil {
		t.Fatal("the server has no HTTP listener")
	}
	return &restClient{t: t, base: "http://" + s.HTTPAddr().String(), hdr: map[string]string{}, hc: &http.Client{Timeout: 30 * time.Second}}
}

// restReply is one response: status, body, and the body parsed.
type restReply struct {
	status int
	body   string
	header http.Header
	v      any
}

func (c *restClient) do(method, path, body string) restReply {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	r := restReply{status: resp.StatusCode, body: string(b), header: resp.Header}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &r.v); err != nil {
			c.t.Fatalf("%s %s: body %q is not JSON: %v", method, path, b, err)
		}
	}
	return r
}

// cmd sends one command as POST / with a JSON array.
func (c *restClient) cmd(args ...any) restReply {
	c.t.Helper()
	b, _ := json.Marshal(args)
	return c.do("POST", "/", string(b))
}

func (c *restClient) batch(path string, cmds ...[]any) restReply {
	c.t.Helper()
	b, _ := json.Marshal(cmds)
	return c.do("POST", path, string(b))
}

// want checks status and exact body.
func (r restReply) want(t testing.TB, what string, status int, body string) {
	t.Helper()
	if r.status != status || r.body != body {
		t.Errorf("%s: %d %s; want %d %s", what, r.status, r.body, status, body)
	}
}

func startHTTP(t testing.TB, tweak func(*Config)) *Server {
	t.Helper()
	return startServer(t, func(c *Config) {
		c.HTTPAddr = "127.0.0.1:0"
		if tweak != nil {
			tweak(c)
		}
	})
}

func TestHTTPCommandsAndReplyShapes(t *testing.T) {
	s := startHTTP(t, nil)
	c := newREST(t, s)
	c.cmd("SET", "session:a", `{"user":"ann"}`, "EX", 604800).want(t, "SET with EX as a JSON number", 200, `{"result":"OK"}`)
	c.cmd("GET", "session:a").want(t, "GET", 200, `{"result":"{\"user\":\"ann\"}"}`)
	if r := c.cmd("TTL", "session:a"); r.status != 200 || r.v.(map[string]any)["result"].(float64) <= 604790 {
		t.Errorf("TTL: %d %s", r.status, r.body)
	}
	c.cmd("GET", "missing").want(t, "nil", 200, `{"result":null}`)
	c.cmd("INCRBY", "n", 41).want(t, "integer", 200, `{"result":41}`)
	c.cmd("INCR", "n").want(t, "integer", 200, `{"result":42}`)
	c.cmd("HSET", "h", "f1", "v1", "f2", 2).want(t, "HSET", 200, `{"result":2}`)
	c.cmd("HGETALL", "h").want(t, "HGETALL: a flat array (RESP2)", 200, `{"result":["f1","v1","f2","2"]}`)
	c.cmd("MGET", "n", "missing").want(t, "array with nil", 200, `{"result":["42",null]}`)
	c.cmd("SET", "flag", true).want(t, "boolean argument", 200, `{"result":"OK"}`)
	c.cmd("GET", "flag").want(t, "boolean stored as text", 200, `{"result":"true"}`)
	c.cmd("PING").want(t, "status", 200, `{"result":"PONG"}`)
	c.cmd("TYPE", "h").want(t, "status", 200, `{"result":"hash"}`)
	c.cmd("ZADD", "z", 1.5, "m").want(t, "ZADD with a float", 200, `{"result":1}`)
	c.cmd("ZSCORE", "z", "m").want(t, "double as a string (RESP2)", 200, `{"result":"1.5"}`)
	c.cmd("SET", "bin", "a\x00\xffb\n").want(t, "SET binary", 200, `{"result":"OK"}`)
	c.cmd("GET", "bin").want(t, "invalid UTF-8 replaced, control characters escaped", 200, `{"result":"a\u0000`+"\ufffd"+`b\n"}`)
	c.cmd("SCAN", 0, "MATCH", "session:*").want(t, "nested array", 200, `{"result":["0",["session:a"]]}`)

	// Errors: 400 with Redis's words.
	c.cmd("GET", "h").want(t, "WRONGTYPE", 400, `{"error":"WRONGTYPE Operation against a key holding the wrong kind of value"}`)
	c.cmd("GET").want(t, "arity", 400, `{"error":"ERR wrong number of arguments for 'get' command"}`)
	c.cmd("NOSUCH", "x").want(t, "unknown command", 400, `{"error":"ERR unknown command 'NOSUCH', with args beginning with: 'x' "}`)
	c.cmd("INCR", "session:a").want(t, "not an integer", 400, `{"error":"ERR value is not an integer or out of range"}`)
	c.do("POST", "/", `not json`).want(t, "malformed body", 400, `{"error":"ERR failed to parse command: want a JSON array of strings, e.g. [\"SET\",\"key\",\"value\"]"}`)
	c.do("POST", "/", `["SET","k",null]`).want(t, "null argument", 400, `{"error":"ERR failed to parse command: argument 3 is null; want a string, a number or a boolean"}`)
	c.do("POST", "/", `[]`).want(t, "empty command", 400, `{"error":"ERR empty command"}`)
	c.do("DELETE", "/get/k", "").want(t, "method", 405, `{"error":"ERR method not allowed"}`)
	// The operational routes share the listener (no token needed).
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := c.hc.Get(c.base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.Contains(string(b), `"error"`) {
			t.Errorf("GET %s: %d %.100s", path, resp.StatusCode, b)
		}
	}
	if v := client(t, s.Addr().String(), 2).Get(context.Background(), "session:a").Val(); v != `{"user":"ann"}` {
		t.Errorf("RESP sees %q: not the same data", v)
	}
}

func TestHTTPPathStyle(t *testing.T) {
	s := startHTTP(t, nil)
	c := newREST(t, s)
	c.do("GET", "/set/foo/bar/EX/100", "").want(t, "GET /set/foo/bar/EX/100", 200, `{"result":"OK"}`)
	c.do("GET", "/get/foo", "").want(t, "GET /get/foo", 200, `{"result":"bar"}`)
	if r := c.do("GET", "/ttl/foo", ""); r.body != `{"result":100}` && r.body != `{"result":99}` {
		t.Errorf("TTL after path-style EX: %s", r.body)
	}
	c.do("GET", "/set/a%2Fb/hello%20world", "").want(t, "URL-decoded segments", 200, `{"result":"OK"}`)
	c.do("GET", "/get/a%2Fb", "").want(t, "URL-decoded key", 200, `{"result":"hello world"}`)
	c.do("POST", "/set/doc", `{"json":["value",1]}`).want(t, "POST body as the last argument", 200, `{"result":"OK"}`)
	c.do("GET", "/get/doc", "").want(t, "body stored", 200, `{"result":"{\"json\":[\"value\",1]}"}`)
	c.do("POST", "/set/doc2?EX=100&NX", "v").want(t, "query parameters after the body", 200, `{"result":"OK"}`)
	c.do("POST", "/set/doc2?EX=100&NX", "w").want(t, "NX from the query", 200, `{"result":null}`)
	if r := c.do("GET", "/ttl/doc2", ""); r.body != `{"result":100}` && r.body != `{"result":99}` {
		t.Errorf("EX from the query: %s", r.body)
	}
	c.do("PUT", "/hset/h/f/v", "").want(t, "PUT", 200, `{"result":1}`)
	c.do("GET", "/hset/h2//..", "").want(t, "empty and dot segments kept, not redirected", 200, `{"result":1}`)
	c.cmd("HGET", "h2", "").want(t, "empty field, dot value", 200, `{"result":".."}`)
	c.do("GET", "/set/./..", "").want(t, "dot segments", 200, `{"result":"OK"}`)
	c.cmd("GET", ".").want(t, "dot key", 200, `{"result":".."}`)
	if r := c.do("HEAD", "/get/foo", ""); r.status != 200 || r.body != "" {
		t.Errorf("HEAD: %d %q", r.status, r.body)
	}
	c.do("GET", "/get/foo/extra", "").want(t, "path-style error", 400, `{"error":"ERR wrong number of arguments for 'get' command"}`)
}

func TestHTTPBase64Encoding(t *testing.T) {
	s := startHTTP(t, nil)
	c := newREST(t, s)
	c.hdr["Upstash-Encoding"] = "base64"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	c.cmd("SET", "k", "valué").want(t, "OK stays plain", 200, `{"result":"OK"}`)
	c.cmd("GET", "k").want(t, "bulk encoded", 200, `{"result":"`+b64("valué")+`"}`)
	c.cmd("PING").want(t, "status encoded", 200, `{"result":"`+b64("PONG")+`"}`)
	c.cmd("TYPE", "k").want(t, "status encoded", 200, `{"result":"`+b64("string")+`"}`)
	c.cmd("APPEND", "k", "x").want(t, "integer not encoded", 200, `{"result":7}`)
	c.cmd("GET", "nope").want(t, "nil", 200, `{"result":null}`)
	c.cmd("MGET", "k", "nope").want(t, "array elements encoded", 200, `{"result":["`+b64("valuéx")+`",null]}`)
	c.cmd("GET", "k", "x").want(t, "errors not encoded", 400, `{"error":"ERR wrong number of arguments for 'get' command"}`)
	c.batch("/pipeline", []any{"SET", "p", "1"}, []any{"GET", "p"}, []any{"INCR", "p"}).
		want(t, "pipeline", 200, `[{"result":"OK"},{"result":"`+b64("1")+`"},{"result":2}]`)
}

func TestHTTPPipeline(t *testing.T) {
	s := startHTTP(t, nil)
	c := newREST(t, s)
	c.batch("/pipeline",
		[]any{"SET", "key1", "valuex"},
		[]any{"SETEX", "key2", 13, "valuez"},
		[]any{"INCR", "key1"},
		[]any{"ZADD", "myset", 11, "item1", 22, "item2"},
		[]any{"SUBSCRIBE", "ch"},
		[]any{"GET", "key1"},
	).want(t, "Upstash's example", 200, `[{"result":"OK"},{"result":"OK"},{"error":"ERR value is not an integer or out of range"},{"result":2},{"error":"ERR Command is not available over HTTP: 'SUBSCRIBE'"},{"result":"valuex"}]`)
	c.do("POST", "/pipeline", `[]`).want(t, "empty", 400, `{"error":"ERR empty pipeline"}`)
	c.do("POST", "/pipeline", `["GET","k"]`).want(t, "not an array of arrays", 400, `{"error":"ERR failed to parse pipeline request: want a JSON array of commands, e.g. [[\"SET\",\"key\",\"value\"],[\"GET\",\"key\"]]"}`)
	// A long pipeline: more reads than one flush holds, writes in several entries.
	var cmds [][]any
	for i := range 3000 {
		cmds = append(cmds, []any{"SET", fmt.Sprint("k", i), i}, []any{"GET", fmt.Sprint("k", i)})
	}
	r := c.batch("/pipeline", cmds...)
	res, ok := r.v.([]any)
	if r.status != 200 || !ok || len(res) != 6000 {
		t.Fatalf("long pipeline: %d, %d results", r.status, len(res))
	}
	for i := range 3000 {
		if got := res[2*i+1].(map[string]any)["result"]; got != strconv.Itoa(i) {
			t.Fatalf("GET k%d in the pipeline = %v", i, got)
		}
	}
}

func TestHTTPMultiExec(t *testing.T) {
	s := startHTTP(t, nil)
	// The new leader's ACL seed entry must not fall between the tokens.
	waitFor(t, 10*time.Second, "the ACL users in the log", s.acl.isSeeded)
	c := newREST(t, s)
	c.cmd("SET", "key1", "valuex")
	before := c.cmd("PING").header.Get("Upstash-Sync-Token")
	r := c.batch("/multi-exec",
		[]any{"SET", "key1", "valuey"},
		[]any{"SETEX", "key2", 13, "valuez"},
		[]any{"INCR", "key1"},
		[]any{"ZADD", "myset", 11, "item1", 22, "item2"},
		[]any{"GET", "key1"},
	)
	r.want(t, "transaction", 200, `[{"result":"OK"},{"result":"OK"},{"error":"ERR value is not an integer or out of range"},{"result":2},{"result":"valuey"}]`)
	after := r.header.Get("Upstash-Sync-Token")
	b, _ := strconv.ParseUint(before, 10, 64)
	a, _ := strconv.ParseUint(after, 10, 64)
	if b == 0 || a != b+1 {
		t.Errorf("sync token %s before and %s after a transaction of 4 writes: want one log entry", before, after)
	}
	// Refused before EXEC: the whole transaction is discarded.
	c.batch("/multi-exec", []any{"SET", "key1", "lost"}, []any{"NOSUCH"}).
		want(t, "unknown command", 400, `{"error":"ERR unknown command 'NOSUCH', with args beginning with: "}`)
	c.batch("/multi-exec", []any{"SET", "key1", "lost"}, []any{"GET"}).
		want(t, "arity", 400, `{"error":"ERR wrong number of arguments for 'get' command"}`)
	c.batch("/multi-exec", []any{"SET", "key1", "lost"}, []any{"WATCH", "key1"}).
		want(t, "WATCH", 400, `{"error":"ERR Command is not available over HTTP: 'WATCH'"}`)
	c.cmd("GET", "key1").want(t, "nothing of a discarded transaction applied", 200, `{"result":"valuey"}`)
}

func TestHTTPRefusesStatefulCommands(t *testing.T) {
	s := startHTTP(t, nil)
	c := newREST(t, s)
	for _, cmd := range [][]any{{"SUBSCRIBE", "c"}, {"PSUBSCRIBE", "*"}, {"MONITOR"}, {"MULTI"}, {"EXEC"}, {"WATCH", "k"},
		{"BLPOP", "l", 0}, {"BZPOPMIN", "z", 1}, {"SELECT", 1}, {"HELLO", 3}, {"CLIENT", "TRACKING", "on"}, {"AUTH", "x"}, {"QUIT"}, {"RESET"}, {"READONLY"}} {
		r := c.cmd(cmd...)
		if want := fmt.Sprintf(`{"error":"ERR Command is not available over HTTP: '%s'"}`, cmd[0]); r.status != 400 || r.body != want {
			t.Errorf("%v: %d %s", cmd, r.status, r.body)
		}
	}
	c.cmd("ECHO", "hi").want(t, "ECHO", 200, `{"result":"hi"}`)
	c.cmd("PUBLISH", "c", "m").want(t, "PUBLISH", 200, `{"result":0}`)
	c.cmd("kvapplied").want(t, "internal command", 400, `{"error":"ERR unknown command 'kvapplied', with args beginning with: "}`)
}

func TestHTTPLimits(t *testing.T) {
	s := startHTTP(t, func(c *Config) {
		c.Limits.MaxBulkLen = 1 << 16
		c.Limits.MaxMultibulk = 8
		c.MaxValueSize = 1 << 10
	})
	c := newREST(t, s)
	c.cmd("SET", "k", strings.Repeat("x", 1<<16)).want(t, "body over the bulk limit", 413, `{"error":"ERR max request size exceeded. Limit: 65536 bytes"}`)
	c.cmd("MSET", 1, 2, 3, 4, 5, 6, 7, 8).want(t, "too many arguments", 400, `{"error":"ERR Protocol error: invalid multibulk length"}`)
	r := c.cmd("SET", "k", strings.Repeat("x", 2<<10))
	if r.status != 400 || !strings.HasPrefix(r.v.(map[string]any)["error"].(string), "ERR") {
		t.Errorf("value over MaxValueSize: %d %s", r.status, r.body)
	}
	c.cmd("EXISTS", "k").want(t, "nothing stored", 200, `{"result":0}`)
	c.cmd("PING").want(t, "still serving", 200, `{"result":"PONG"}`)
}

func TestHTTPTokens(t *testing.T) {
	ro, err := NewUser("reader", "pw-reader", PermRead)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := ParseUserTokens("token default tok-admin\nreader ro pw\ntoken reader tok-reader\n")
	if err != nil || len(toks) != 2 {
		t.Fatalf("ParseUserTokens: %v %v", toks, err)
	}
	if users, err := ParseUsersFile("token default tok-admin\nreader ro pw\ntoken reader tok-reader\ntoken rw pw-of-a-user-named-token\n"); err != nil || len(users) != 2 || users[1].Name != "token" {
		t.Fatalf("ParseUsersFile must skip token lines: %v %v", users, err)
	}
	s := startHTTP(t, func(c *Config) {
		c.Password = "resp-password"
		c.Users = []User{ro}
		c.HTTPTokens = toks
	})
	c := newREST(t, s)
	c.cmd("PING").want(t, "no token", 401, `{"error":"Unauthorized"}`)
	c.token = "wrong"
	c.cmd("PING").want(t, "wrong token", 401, `{"error":"Unauthorized"}`)
	c.do("GET", "/get/k?_token=wrong", "").want(t, "wrong _token", 401, `{"error":"Unauthorized"}`)
	c.token = "tok-admin"
	c.cmd("SET", "k", "v").want(t, "admin token", 200, `{"result":"OK"}`)
	c.token = ""
	c.do("GET", "/get/k?_token=tok-admin", "").want(t, "_token", 200, `{"result":"v"}`)
	c.do("POST", "/?_token=tok-reader", `["GET","k"]`).want(t, "reader reads", 200, `{"result":"v"}`)
	c.token = "tok-reader"
	c.cmd("SET", "k", "w").want(t, "reader writes", 400, `{"error":"NOPERM this user has no permissions to run the 'set' command"}`)
	c.batch("/pipeline", []any{"GET", "k"}, []any{"DEL", "k"}).
		want(t, "reader's pipeline", 200, `[{"result":"v"},{"error":"NOPERM this user has no permissions to run the 'del' command"}]`)
	c.batch("/multi-exec", []any{"GET", "k"}, []any{"DEL", "k"}).
		want(t, "reader's transaction", 400, `{"error":"NOPERM this user has no permissions to run the 'del' command"}`)
	c.token = "tok-admin"
	c.cmd("GET", "k").want(t, "the reader changed nothing", 200, `{"result":"v"}`)

	// A password but no token: nothing logs in over HTTP.
	s2 := startHTTP(t, func(c *Config) { c.Password = "pw" })
	newREST(t, s2).cmd("PING").want(t, "password, no token", 401, `{"error":"Unauthorized"}`)
	// Bad configurations are refused at start.
	unknown, _ := NewHTTPToken("ghost", "t")
	bad := Config{Dir: t.TempDir(), Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", HTTPTokens: []HTTPToken{unknown}}
	bad.Raft.RaftBind, bad.Raft.Bootstrap = "127.0.0.1:0", true
	if _, err := Start(bad); err == nil || !strings.Contains(err.Error(), "unknown user") {
		t.Errorf("token of an unknown user: %v", err)
	}
	if _, err := ParseUserTokens("token reader\n"); err == nil {
		t.Error("a token line without a token was accepted")
	}
}

func TestHTTPOpenAndProtectedMode(t *testing.T) {
	s := startHTTP(t, func(c *Config) { c.ProtectedMode = true })
	newREST(t, s).cmd("SET", "k", "v").want(t, "open on loopback", 200, `{"result":"OK"}`)
	req, _ := http.NewRequest("POST", "/", strings.NewReader(`["GET","k"]`))
	req.RemoteAddr = "192.0.2.7:4000"
	if st, status, msg := s.httpSession(req); st != nil || status != 403 || !strings.HasPrefix(msg, "DENIED") {
		t.Errorf("non-loopback client in protected mode: %v %d %q", st != nil, status, msg)
	}
	req.RemoteAddr = "127.0.0.1:4000"
	if st, _, _ := s.httpSession(req); st == nil || st.user != "default" || st.acl == nil || !st.acl.allCommands {
		t.Error("loopback client refused")
	}
}

func TestHTTPConcurrentKeepAlive(t *testing.T) {
	s := startHTTP(t, nil)
	c := newREST(t, s)
	var wg sync.WaitGroup
	const workers, each = 16, 50
	errs := make(chan string, workers*each)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				req, _ := http.NewRequest("POST", c.base+"/incr/counter", nil)
				resp, err := c.hc.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- string(b)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	c.cmd("GET", "counter").want(t, "every INCR counted", 200, fmt.Sprintf(`{"result":"%d"}`, workers*each))
	// keepkv_connected_clients{frontend="http"} counts the open connections.
	if n := s.metrics.httpClients.Load(); n < 1 || n > workers {
		t.Errorf("%d HTTP clients counted with %d keep-alive connections open", n, workers)
	}
	c.hc.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for s.metrics.httpClients.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d HTTP clients counted after every connection closed", s.metrics.httpClients.Load())
		}
		time.Sleep(10 * time.Millisecond) // the server notices the close on its own
	}
}

func TestHTTPOverTLS(t *testing.T) {
	dir := t.TempDir()
	srv := tlstest.Generate(t, dir, "server")
	conf, err := LoadClientTLS(srv.Cert, srv.Key, "", false)
	if err != nil {
		t.Fatal(err)
	}
	s := startHTTP(t, func(c *Config) { c.HTTPTLS = conf })
	roots, err := replication.LoadCAPool(srv.CA)
	if err != nil {
		t.Fatal(err)
	}
	c := newREST(t, s)
	c.base = "https://" + s.HTTPAddr().String()
	c.hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}}
	c.cmd("SET", "k", "over TLS").want(t, "HTTPS", 200, `{"result":"OK"}`)
	c.cmd("GET", "k").want(t, "HTTPS", 200, `{"result":"over TLS"}`)
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Post("http://"+s.HTTPAddr().String()+"/", "application/json", strings.NewReader(`["PING"]`)); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "PONG") {
			t.Error("plain HTTP served on the HTTPS listener")
		}
	}
}

// startHTTPCluster starts a leader and two followers, each with an HTTP
// listener, and waits until both followers serve writes.
func startHTTPCluster(t *testing.T, tweak func(*Config)) (*Server, []*Server) {
	t.Helper()
	base := func(c *Config) {
		c.HTTPAddr = "127.0.0.1:0"
		c.Raft.LeaderWait = 2 * time.Second
		// Steady leadership on a loaded machine (-race): the test is
		// about forwarding, not elections.
		c.Raft.HeartbeatTimeout = time.Second
		c.Raft.ElectionTimeout = time.Second
		c.Raft.LeaderLeaseTimeout = 500 * time.Millisecond
		if tweak != nil {
			tweak(c)
		}
	}
	n1 := startServer(t, func(c *Config) { base(c); c.Raft.NodeID = "n1" })
	deadline := time.Now().Add(10 * time.Second)
	for !n1.Node().IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond) // Raft elects on its own schedule
	}
	var fs []*Server
	for _, id := range []string{"n2", "n3"} {
		f := startServer(t, func(c *Config) {
			base(c)
			c.Raft.NodeID = id
			c.Raft.Bootstrap = false
			c.Join = n1.Node().RaftAddr()
		})
		fs = append(fs, f)
		deadline := time.Now().Add(20 * time.Second)
		for f.Node().Status().LeaderID != "n1" || f.db.AppliedIndex() < n1.db.AppliedIndex() {
			if time.Now().After(deadline) {
				t.Fatalf("%s never caught up with the leader", id)
			}
			time.Sleep(20 * time.Millisecond) // the join runs in the background
		}
	}
	return n1, fs
}

func TestHTTPFollowerForwardsAndSyncToken(t *testing.T) {
	leader, fs := startHTTPCluster(t, func(c *Config) { c.StaleReads = true })
	f1, f2 := newREST(t, fs[0]), newREST(t, fs[1])
	// A write through a follower's HTTP front end is forwarded to the
	// leader; the response's sync token covers it, though the follower
	// itself may not have applied it yet.
	for i := range 20 {
		r := f1.cmd("SET", "session:x", fmt.Sprint("v", i))
		r.want(t, "SET via a follower", 200, `{"result":"OK"}`)
		tok, err := strconv.ParseUint(r.header.Get("Upstash-Sync-Token"), 10, 64)
		if err != nil {
			t.Fatalf("sync token %q: %v", r.header.Get("Upstash-Sync-Token"), err)
		}
		if applied := leader.db.AppliedIndex(); tok < applied {
			t.Fatalf("sync token %d from the follower, but the write is at index %d on the leader", tok, applied)
		}
		// Read-your-writes: the other follower serves stale reads, but a
		// request carrying the token waits until it has applied it.
		f2.hdr["Upstash-Sync-Token"] = strconv.FormatUint(tok, 10)
		f2.cmd("GET", "session:x").want(t, "GET with the sync token on another follower", 200, fmt.Sprintf(`{"result":"v%d"}`, i))
	}
	// A pipeline and a transaction through a follower.
	f1.batch("/pipeline", []any{"SET", "a", 1}, []any{"INCR", "a"}, []any{"PING"}).want(t, "pipeline via a follower", 200, `[{"result":"OK"},{"result":2},{"result":"PONG"}]`)
	f1.batch("/multi-exec", []any{"INCR", "a"}, []any{"GET", "a"}).want(t, "multi-exec via a follower", 200, `[{"result":3},{"result":"3"}]`)
	// A token this node cannot reach within the leader wait.
	f2.hdr["Upstash-Sync-Token"] = strconv.FormatUint(leader.db.AppliedIndex()+1000, 10)
	start := time.Now()
	if r := f2.cmd("GET", "a"); r.status != 503 || !strings.HasPrefix(r.v.(map[string]any)["error"].(string), "TRYAGAIN") {
		t.Errorf("unreachable sync token: %d %s", r.status, r.body)
	}
	if waited := time.Since(start); waited < 2*time.Second {
		t.Errorf("gave up after %v, before the leader wait", waited)
	}
}

func TestHTTPSyncTokenWaitsForApply(t *testing.T) {
	s := startHTTP(t, nil)
	// A new leader writes the bootstrap ACL users to the log in the
	// background (seedACL): let that entry apply first, or it could take
	// one of the three indexes after the token (a CI rehearsal: answered
	// after two SETs).
	waitFor(t, 10*time.Second, "the ACL users in the log", s.acl.isSeeded)
	c := newREST(t, s)
	tok, _ := strconv.ParseUint(c.cmd("SET", "k", 0).header.Get("Upstash-Sync-Token"), 10, 64)
	// A request whose token is 3 entries ahead is answered once they apply.
	done := make(chan restReply, 1)
	go func() {
		r := newREST(t, s)
		r.hdr["Upstash-Sync-Token"] = strconv.FormatUint(tok+3, 10)
		done <- r.cmd("GET", "k")
	}()
	for i := 1; i <= 3; i++ {
		select {
		case r := <-done:
			t.Fatalf("answered before its sync token applied: %s", r.body)
		case <-time.After(50 * time.Millisecond): // nothing to await: it must not answer
		}
		c.cmd("SET", "k", i)
	}
	select {
	case r := <-done:
		r.want(t, "GET after the token's index", 200, `{"result":"3"}`)
	case <-time.After(10 * time.Second):
		t.Fatal("never answered")
	}
}

// upstashInstalled makes sure @upstash/redis is in testdata/node.
func upstashInstalled(t *testing.T) string {
	t.Helper()
	node := nodeClients(t)
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "@upstash", "redis", "package.json")); err == nil {
		return node
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("npm not found, and @upstash/redis is not installed in " + nodeDir)
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = nodeDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	return node
}

// TestUpstashRedisClient drives @upstash/redis (npm), unchanged, against
// keepkv's HTTP front end: testdata/node/upstash.mjs.
func TestUpstashRedisClient(t *testing.T) {
	node := upstashInstalled(t)
	rw, _ := NewUser("app", "pw", PermWrite)
	tok, _ := NewHTTPToken("app", "app-token")
	s := startHTTP(t, func(c *Config) { c.Users = []User{rw}; c.HTTPTokens = []HTTPToken{tok} })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "upstash.mjs", "http://"+s.HTTPAddr().String(), "app-token")
	cmd.Dir = nodeDir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("upstash.mjs: %v\n%s", err, out)
	}
	var res struct {
		Ran   int      `json:"ran"`
		Fails []string `json:"fails"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("upstash.mjs printed %q: %v", out, err)
	}
	for _, f := range res.Fails {
		t.Error("@upstash/redis: " + f)
	}
	if res.Ran < 10 {
		t.Errorf("upstash.mjs ran %d checks", res.Ran)
	}
	// What the SDK wrote is there for RESP clients too.
	c := client(t, s.Addr().String(), 2)
	c.Do(ctx, "AUTH", "app", "pw")
	if v := c.HGet(ctx, "upstash:user:1", "name").Val(); v != "ann" {
		t.Errorf("RESP reads %q of what @upstash/redis wrote", v)
	}
}
