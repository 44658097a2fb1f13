package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/redis/go-redis/v9"
)

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// startServer starts a one-node keepkv on loopback ports in a temp dir.
func startServer(t testing.TB, tweak func(*Config)) *Server {
	t.Helper()
	return startServerIn(t, t.TempDir(), tweak)
}

func startServerIn(t testing.TB, dir string, tweak func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		Addr:   "127.0.0.1:0",
		Dir:    dir,
		Logger: hclog.New(&hclog.LoggerOptions{Output: testWriter{t}, Level: hclog.Warn}),
	}
	cfg.Raft.RaftBind = "127.0.0.1:0"
	cfg.Raft.Bootstrap = true
	cfg.Raft.HeartbeatTimeout = 100 * time.Millisecond
	cfg.Raft.ElectionTimeout = 100 * time.Millisecond
	cfg.Raft.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.Storage.InitialMmapSize = 1 << 26
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// client returns a go-redis client speaking RESP protocol proto.
func client(t testing.TB, addr string, proto int) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr: addr, Protocol: proto, DisableIdentity: true,
		MaxRetries: -1, ReadTimeout: 10 * time.Second, PoolSize: 4,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// startRedis runs Debian's redis-server on a free loopback port, with
// persistence off, for side-by-side comparison. It fails the test if
// redis-server is not installed: CI must install it.
func startRedis(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found: install Debian's redis-server package (the compatibility tests compare against it)")
	}
	port := freePort(t)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond) // polling a child process's port; nothing to await
	}
	return addr
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
