package main

import (
	"testing"
	"time"
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
