package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keepkv/keepkv/server/tlstest"
	"github.com/redis/go-redis/v9"
)

// waitLogCount waits until the process log at path has n lines containing
// needle: the process's own report of what it did.
func waitLogCount(t *testing.T, path, needle string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if countLines(path, needle) >= n {
			return
		}
		time.Sleep(50 * time.Millisecond) // another process's log: poll it
	}
	t.Fatalf("%s: fewer than %d lines containing %q", path, n, needle)
}

func countLines(path, needle string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), needle) {
			n++
		}
	}
	return n
}

func TestMutualTLSClusterRefusesStrangers(t *testing.T) {
	certs := t.TempDir()
	good := tlstest.Generate(t, certs, "cluster")
	bad := tlstest.Generate(t, certs, "stranger")
	tlsArgs := func(f tlstest.Files) []string {
		return []string{"--tls-cluster", "--tls-cert", f.Cert, "--tls-key", f.Key, "--tls-ca", f.CA}
	}
	nodes := startCluster(t, 3, tlsArgs(good)...)
	leader := leaderOf(t, nodes, nodes[0])
	follower := aFollower(nodes, leader)
	ctx := context.Background()
	fc := nodeClient(follower)
	defer fc.Close()
	for i := range 100 {
		if err := fc.Set(ctx, fmt.Sprint("tls:", i), i, 0).Err(); err != nil {
			t.Fatalf("write forwarded over mutual TLS: %v", err)
		}
	}
	waitConverged(t, nodes, leader)
	ok := map[string]acked{}
	for i := range 100 {
		ok[fmt.Sprint("tls:", i)] = acked{fmt.Sprint(i), -1}
	}
	for _, n := range nodes {
		verifyOn(t, n, ok, true)
	}

	// A node with a certificate from another CA, and one without TLS,
	// cannot join.
	for _, intruder := range []struct {
		name string
		args []string
	}{{"stranger-cert", tlsArgs(bad)}, {"plaintext", nil}} {
		n := &clusterNode{id: intruder.name, dir: filepath.Join(t.TempDir(), intruder.name), port: freePort(t)}
		args := append([]string{"--node-id", n.id, "--join", leader.raftAddr()}, append(clusterFlags, intruder.args...)...)
		n.p = startProcUntil(t, "keepkv started", n.dir, n.port, args...)
		waitLogCount(t, n.dir+".log", "join failed", 3)
		n.p.kill()
	}
	var out strings.Builder
	if err := runAdmin([]string{"--addr", leader.addr(), "members"}, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "\n") != 3 {
		t.Fatalf("members after intruders tried to join:\n%s", out.String())
	}
}

func TestPasswordProtectsPeerPortWithoutTLS(t *testing.T) {
	nodes := startCluster(t, 3, "--requirepass", "s3cret")
	leader := leaderOf(t, nodes, nodes[0])
	follower := aFollower(nodes, leader)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: follower.addr(), Password: "s3cret", MaxRetries: -1})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("write through a follower with a password: %v", err)
	}
	// Someone speaking RESP to the Raft port without the password gets
	// nowhere, forwarded or not.
	conn, err := net.Dial("tcp", leader.raftAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "*6\r\n$3\r\nFWD\r\n$1\r\n0\r\n$1\r\n2\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nevil\r\n*3\r\n$4\r\nRAFT\r\n$6\r\nREMOVE\r\n$2\r\nn2\r\n")
	r := bufio.NewReader(conn)
	for range 2 {
		line, _ := r.ReadString('\n')
		if !strings.HasPrefix(line, "-NOAUTH") {
			t.Fatalf("unauthenticated peer-port command: %q", line)
		}
	}
	if v, _ := c.Get(ctx, "k").Result(); v != "v" {
		t.Fatalf("k = %q after an unauthenticated FWD", v)
	}
}
