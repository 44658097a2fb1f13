package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/keepkv/keepkv/storage"
)

// nodeDir holds the JavaScript client tests: package.json pins node-redis 4
// and ioredis 5, and package-lock.json is committed.
const nodeDir = "testdata/node"

// nodeClients returns the node binary after making sure nodeDir's
// dependencies are installed (npm ci, from the committed lock file, when
// they are not). A missing node or npm fails the test: the JavaScript
// clients are a compatibility target, and a test that skips where they are
// absent would hide that CI never ran them.
func nodeClients(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: install Node.js (Debian's nodejs and npm packages); the JavaScript client tests need it")
	}
	installed := true
	for _, dep := range []string{"redis", "redis5", "ioredis"} {
		if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", dep, "package.json")); err != nil {
			installed = false
		}
	}
	if installed {
		return node
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("npm not found, and %s/node_modules is not installed: install Debian's npm package", nodeDir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = nodeDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", nodeDir, err, out)
	}
	return node
}

type nodeTally struct {
	Seen       int `json:"seen"`
	Distinct   int `json:"distinct"`
	Duplicates int `json:"duplicates"`
	Missing    int `json:"missing"`
	Foreign    int `json:"foreign"`
}

// TestNodeClientsScanEachKeyOnce runs node-redis 4's scanIterator, which
// holds the SCAN cursor as a JavaScript Number, and ioredis 5's scanStream,
// which keeps it a string, over 3000 keys (and 1000 others MATCH filters
// out), COUNT 50. Each must see every key exactly once, and every cursor
// the server sends must be exact as a Number (below 2^53). With 64-bit
// hash cursors node-redis rounded them and lost keys.
func TestNodeClientsScanEachKeyOnce(t *testing.T) {
	node := nodeClients(t)
	s := startServer(t, nil)
	const n = 3000
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	port := strconv.Itoa(s.Addr().(*net.TCPAddr).Port)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, node, "scan.mjs", port, strconv.Itoa(n), "jsscan:")
	cmd.Dir = nodeDir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node scan.mjs: %v\nstdout: %s\nstderr: %s", err, stdout.Bytes(), stderr.Bytes())
	}
	var got struct {
		Keys      int       `json:"keys"`
		NodeRedis nodeTally `json:"nodeRedis"`
		IORedis   nodeTally `json:"ioredis"`
		Cursors   struct {
			Pages   int    `json:"pages"`
			Inexact int    `json:"inexact"`
			Max     string `json:"max"`
		} `json:"cursors"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("scan.mjs output %q: %v\nstderr: %s", stdout.Bytes(), err, stderr.Bytes())
	}
	t.Logf("scan.mjs: %s", bytes.TrimSpace(stdout.Bytes()))
	if got.Keys != n {
		t.Fatalf("scan.mjs wrote %d keys, want %d", got.Keys, n)
	}
	want := nodeTally{Seen: n, Distinct: n}
	if got.NodeRedis != want {
		t.Errorf("node-redis 4 scanIterator: %+v, want each of %d keys exactly once", got.NodeRedis, n)
	}
	if got.IORedis != want {
		t.Errorf("ioredis 5 scanStream: %+v, want each of %d keys exactly once", got.IORedis, n)
	}
	if got.Cursors.Pages < n/50 {
		t.Errorf("SCAN COUNT 50 took %d pages over %d keys: too few to test cursors", got.Cursors.Pages, n)
	}
	if got.Cursors.Inexact != 0 {
		t.Errorf("%d of %d cursors are not exact as JavaScript Numbers", got.Cursors.Inexact, got.Cursors.Pages)
	}
	if max, err := strconv.ParseUint(got.Cursors.Max, 10, 64); err != nil || max >= storage.MaxCursor {
		t.Errorf("largest cursor %q, want one below 2^53", got.Cursors.Max)
	}
}

// TestScanHugeCursorEndsTheScan: a cursor keepkv never hands out (2^53 or
// more, a negative one, which wraps as in strtoul, or a 64-bit cursor from
// the old scheme) ends the iteration with cursor 0 and no keys, and the
// cursors it does hand out stay below 2^53.
func TestScanHugeCursorEndsTheScan(t *testing.T) {
	ctx := context.Background()
	c := client(t, startServer(t, nil).Addr().String(), 2)
	for i := range 200 {
		if err := c.Set(ctx, "k"+strconv.Itoa(i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, cur := range []string{"9007199254740992", "9007199254740993", "3743402317586994063", "18446744073709551615", "-1", "-9007199254740992"} {
		v, err := c.Do(ctx, "SCAN", cur, "COUNT", "10").Slice()
		if err != nil {
			t.Fatalf("SCAN %s: %v", cur, err)
		}
		if v[0] != "0" || len(v[1].([]any)) != 0 {
			t.Errorf("SCAN %s = %v, want cursor 0 and no keys", cur, v)
		}
	}
	seen := 0
	for cur := uint64(0); ; {
		keys, next, err := c.Scan(ctx, cur, "", 3).Result()
		if err != nil {
			t.Fatal(err)
		}
		seen += len(keys)
		if next >= storage.MaxCursor {
			t.Fatalf("SCAN returned cursor %d, not below 2^53", next)
		}
		if cur = next; cur == 0 {
			break
		}
	}
	if seen != 200 {
		t.Errorf("SCAN saw %d keys, want 200", seen)
	}
}
