package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestFlagsDefaultsEnvAndPrecedence(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	c, err := parseFlags(nil, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:6379" || c.RaftAddr != "127.0.0.1:16379" || c.Dir != "keepkv-data" {
		t.Fatalf("zero-config defaults: %+v", c)
	}
	env["KEEPKV_ADDR"] = "127.0.0.1:7000"
	env["KEEPKV_PASSWORD"] = "pw"
	env["KEEPKV_IDLE_TIMEOUT"] = "30s"
	c, err = parseFlags([]string{"--idle-timeout", "1m"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7000" || c.RaftAddr != "127.0.0.1:17000" || c.Password != "pw" || c.IdleTimeout != time.Minute {
		t.Fatalf("env and flags: %+v", c)
	}
	env["KEEPKV_MAX_CLIENTS"] = "lots"
	if _, err := parseFlags(nil, getenv); err == nil {
		t.Fatal("a bad environment value was accepted")
	}
	if _, err := parseFlags([]string{"--addr", "nonsense"}, func(string) string { return "" }); err == nil {
		t.Fatal("an address without a port was accepted")
	}
}

func TestNodeIDIsStoredAndChecked(t *testing.T) {
	dir := t.TempDir()
	id, err := nodeID(dir, "")
	if err != nil || id == "" {
		t.Fatal(id, err)
	}
	again, err := nodeID(dir, "")
	if err != nil || again != id {
		t.Fatalf("node id changed across restarts: %q then %q", id, again)
	}
	if _, err := nodeID(dir, "other"); err == nil {
		t.Fatal("a different --node-id for an existing data dir was accepted")
	}
}

func TestExpiryBatchFlag(t *testing.T) {
	none := func(string) string { return "" }
	c, err := parseFlags([]string{"--expiry-batch", "250"}, none)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.server("n1").ExpiryBatch; got != 250 {
		t.Fatalf("--expiry-batch 250 reached the server as %d", got)
	}
	c, err = parseFlags(nil, none)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.server("n1").ExpiryBatch; got != 1000 {
		t.Fatalf("default expiry batch %d, want 1000", got)
	}
	for _, bad := range []string{"0", "-5", "100001"} {
		if _, err := parseFlags([]string{"--expiry-batch", bad}, none); err == nil {
			t.Fatalf("--expiry-batch %s was accepted", bad)
		}
	}
}

func TestGCHeapFloorFlag(t *testing.T) {
	none := func(string) string { return "" }
	for _, tc := range []struct {
		args []string
		want uint64
	}{{nil, 128 << 20}, {[]string{"--gc-heap-floor", "0"}, 0}, {[]string{"--gc-heap-floor", "512"}, 512 << 20}} {
		c, err := parseFlags(tc.args, none)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.server("n1").HeapFloor; got != tc.want {
			t.Fatalf("%v: the server's heap floor is %d, want %d", tc.args, got, tc.want)
		}
		if got := uint64(len(gcFloor(tc.want))); got != tc.want {
			t.Fatalf("gcFloor(%d) allocated %d bytes", tc.want, got)
		}
	}
	for _, bad := range []string{"-1", "65537"} {
		if _, err := parseFlags([]string{"--gc-heap-floor", bad}, none); err == nil {
			t.Fatalf("--gc-heap-floor %s was accepted", bad)
		}
	}
}

// The floor is heap the collector counts, not data: INFO's used_memory
// leaves it out, and the process does not hold it resident.
func TestGCHeapFloorLeftOutOfUsedMemory(t *testing.T) {
	port := freePort(t)
	startProc(t, filepath.Join(t.TempDir(), "data"), port, "--gc-heap-floor", "1024")
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer c.Close()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) uint64 {
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, name+":"); ok {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					t.Fatalf("%s: %q", name, v)
				}
				return n
			}
		}
		t.Fatalf("no %s in INFO memory:\n%s", name, info)
		return 0
	}
	if used := field("used_memory"); used >= 1024<<20 {
		t.Fatalf("used_memory %d counts the 1 GiB floor", used)
	}
	if rss := field("used_memory_rss"); rss >= 1024<<20 {
		t.Fatalf("used_memory_rss %d: the 1 GiB floor is resident", rss)
	}
}
