package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The HTTP front end (the Upstash REST protocol) of the real binary:
// every route, the encodings, the errors and the tokens, then a cluster
// where any node serves any request and an acknowledged HTTP write
// survives SIGKILL.

type httpNode struct {
	base  string
	token string
	hc    *http.Client
}

func (h httpNode) req(t *testing.T, method, path, body string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	r, err := http.NewRequest(method, h.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if h.token != "" {
		r.Header.Set("Authorization", "Bearer "+h.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.hc.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (h httpNode) want(t *testing.T, method, path, body string, status int, want string, hdr ...string) http.Header {
	t.Helper()
	got, b, header := h.req(t, method, path, body, hdr...)
	if got != status || b != want {
		t.Errorf("%s %s %s: %d %s; want %d %s", method, path, body, got, b, status, want)
	}
	return header
}

// awaitHTTP polls until the node's HTTP listener answers.
func awaitHTTP(t *testing.T, h httpNode) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, _ := http.NewRequest("POST", h.base+"/", strings.NewReader(`["PING"]`))
		r.Header.Set("Authorization", "Bearer "+h.token)
		if resp, err := h.hc.Do(r); err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the HTTP listener never answered")
		}
		time.Sleep(20 * time.Millisecond) // polling a child process's port
	}
}

func TestHTTPRESTAgainstBinary(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "http-token")
	users := filepath.Join(dir, "users")
	os.WriteFile(tokFile, []byte("admin-token\n"), 0o600)
	os.WriteFile(users, []byte("reader ro reader-pw\ntoken reader reader-token\n"), 0o600)
	port, hport := freePort(t), freePort(t)
	startProc(t, filepath.Join(dir, "data"), port, "--http-addr", fmt.Sprintf("127.0.0.1:%d", hport),
		"--http-token-file", tokFile, "--users-file", users)
	h := httpNode{base: fmt.Sprintf("http://127.0.0.1:%d", hport), token: "admin-token", hc: &http.Client{Timeout: 20 * time.Second}}
	awaitHTTP(t, h)

	// POST / with a JSON command; numbers as JSON numbers.
	hdr := h.want(t, "POST", "/", `["SET","session:x","{\"u\":1}","EX",604800]`, 200, `{"result":"OK"}`)
	if hdr.Get("Upstash-Sync-Token") == "" || hdr.Get("Content-Type") != "application/json" {
		t.Errorf("headers: %v", hdr)
	}
	h.want(t, "POST", "/", `["GET","session:x"]`, 200, `{"result":"{\"u\":1}"}`)
	h.want(t, "POST", "/", `["GET","nope"]`, 200, `{"result":null}`)
	h.want(t, "POST", "/", `["HSET","h","a","1","b","2"]`, 200, `{"result":2}`)
	h.want(t, "POST", "/", `["HGETALL","h"]`, 200, `{"result":["a","1","b","2"]}`)
	h.want(t, "POST", "/", `["GET","h"]`, 400, `{"error":"WRONGTYPE Operation against a key holding the wrong kind of value"}`)
	h.want(t, "POST", "/", `["SUBSCRIBE","c"]`, 400, `{"error":"ERR Command is not available over HTTP: 'SUBSCRIBE'"}`)
	// Path style, with a body as the last argument.
	h.want(t, "GET", "/set/foo/bar/EX/100", "", 200, `{"result":"OK"}`)
	h.want(t, "GET", "/get/foo", "", 200, `{"result":"bar"}`)
	h.want(t, "POST", "/set/doc", `{"raw":"json"}`, 200, `{"result":"OK"}`)
	h.want(t, "GET", "/get/doc", "", 200, `{"result":"{\"raw\":\"json\"}"}`)
	// base64 responses, as @upstash/redis asks for them.
	b64 := base64.StdEncoding.EncodeToString([]byte("bar"))
	h.want(t, "POST", "/", `["GET","foo"]`, 200, `{"result":"`+b64+`"}`, "Upstash-Encoding", "base64")
	h.want(t, "POST", "/", `["SET","foo","bar"]`, 200, `{"result":"OK"}`, "Upstash-Encoding", "base64")
	// Pipeline and transaction.
	h.want(t, "POST", "/pipeline", `[["SET","p","1"],["INCR","p"],["HGET","p","f"]]`, 200,
		`[{"result":"OK"},{"result":2},{"error":"WRONGTYPE Operation against a key holding the wrong kind of value"}]`)
	h.want(t, "POST", "/multi-exec", `[["SET","m","1"],["INCR","m"],["GET","m"]]`, 200, `[{"result":"OK"},{"result":2},{"result":"2"}]`)
	h.want(t, "POST", "/multi-exec", `[["SET","m","9"],["GET"]]`, 400, `{"error":"ERR wrong number of arguments for 'get' command"}`)
	h.want(t, "POST", "/", `["GET","m"]`, 200, `{"result":"2"}`)
	// Tokens: missing or wrong is 401; ?_token=; a read-only user's token.
	anon := httpNode{base: h.base, hc: h.hc}
	anon.want(t, "POST", "/", `["PING"]`, 401, `{"error":"Unauthorized"}`)
	anon.want(t, "GET", "/get/foo?_token=admin-token", "", 200, `{"result":"bar"}`)
	anon.want(t, "GET", "/get/foo?_token=bad", "", 401, `{"error":"Unauthorized"}`)
	reader := httpNode{base: h.base, hc: h.hc, token: "reader-token"}
	reader.want(t, "POST", "/", `["GET","foo"]`, 200, `{"result":"bar"}`)
	reader.want(t, "POST", "/", `["DEL","foo"]`, 400, `{"error":"NOPERM this user has no permissions to run the 'del' command"}`)
	h.want(t, "DELETE", "/get/foo", "", 405, `{"error":"ERR method not allowed"}`)
	// RESP sees the same data.
	c := nodeClient(&clusterNode{port: port})
	defer c.Close()
	if v, err := c.Get(t.Context(), "doc").Result(); err != nil || v != `{"raw":"json"}` {
		t.Errorf("RESP GET doc = %q, %v", v, err)
	}
}

func TestHTTPTokenFromEnvironment(t *testing.T) {
	env := map[string]string{"KEEPKV_HTTP_ADDR": "127.0.0.1:8079", "KEEPKV_HTTP_TOKEN": "from-env"}
	c, err := parseFlags(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	sc := c.server("n1")
	if sc.HTTPAddr != "127.0.0.1:8079" || len(sc.HTTPTokens) != 1 || sc.HTTPTokens[0].User != "default" {
		t.Fatalf("KEEPKV_HTTP_ADDR/KEEPKV_HTTP_TOKEN: %+v %+v", sc.HTTPAddr, sc.HTTPTokens)
	}
	f := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(f, []byte("x\n"), 0o600)
	if _, err := parseFlags([]string{"--http-token-file", f}, func(k string) string { return env[k] }); err == nil {
		t.Error("both KEEPKV_HTTP_TOKEN and --http-token-file were accepted")
	}
}

// TestHTTPClusterAnyNodeAndDurability: three processes, each with an HTTP
// listener. Writes through a follower are forwarded to the leader; the
// sync token makes another follower's read wait for them; and an
// acknowledged HTTP write survives SIGKILL of every node.
func TestHTTPClusterAnyNodeAndDurability(t *testing.T) {
	base := t.TempDir()
	type member struct {
		n  *clusterNode
		h  httpNode
		hp int
	}
	var ms []*member
	hc := &http.Client{Timeout: 20 * time.Second}
	for i := range 3 {
		m := &member{n: &clusterNode{id: fmt.Sprintf("n%d", i+1), dir: filepath.Join(base, fmt.Sprintf("n%d", i+1)), port: freePort(t)}, hp: freePort(t)}
		m.h = httpNode{base: fmt.Sprintf("http://127.0.0.1:%d", m.hp), token: "tok", hc: hc}
		args := append([]string{"--node-id", m.n.id, "--http-addr", fmt.Sprintf("127.0.0.1:%d", m.hp), "--http-token", "tok", "--stale-reads"}, clusterFlags...)
		ready := "leadership changed: leader=true"
		if i > 0 {
			args = append(args, "--join", ms[0].n.raftAddr())
			ready = "joined the cluster"
		}
		m.n.p = startProcUntil(t, ready, m.n.dir, m.n.port, args...)
		awaitHTTP(t, m.h)
		ms = append(ms, m)
	}
	nodes := []*clusterNode{ms[0].n, ms[1].n, ms[2].n}
	leader := leaderOf(t, nodes, nodes[0])
	var fol []*member
	for _, m := range ms {
		if m.n != leader {
			fol = append(fol, m)
		}
	}
	for i := range 30 {
		val := fmt.Sprint("v", i)
		hdr := fol[0].h.want(t, "POST", "/", fmt.Sprintf(`["SET","session:k","%s","EX",604800]`, val), 200, `{"result":"OK"}`)
		// The other follower serves stale reads; the token makes it wait.
		fol[1].h.want(t, "POST", "/", `["GET","session:k"]`, 200, fmt.Sprintf(`{"result":"%s"}`, val), "Upstash-Sync-Token", hdr.Get("Upstash-Sync-Token"))
	}
	fol[0].h.want(t, "POST", "/multi-exec", `[["SET","acked","yes"],["INCR","n"]]`, 200, `[{"result":"OK"},{"result":1}]`)
	for _, m := range ms {
		m.n.p.kill()
	}
	for _, m := range ms {
		args := append([]string{"--node-id", m.n.id, "--join", "", "--http-addr", fmt.Sprintf("127.0.0.1:%d", m.hp), "--http-token", "tok"}, clusterFlags...)
		m.n.p = startProcUntil(t, "keepkv started", m.n.dir, m.n.port, args...)
	}
	for _, m := range ms {
		awaitHTTP(t, m.h)
		m.h.want(t, "POST", "/pipeline", `[["GET","acked"],["GET","n"],["GET","session:k"]]`, 200, `[{"result":"yes"},{"result":"1"},{"result":"v29"}]`)
	}
}
