package server

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"
)

func TestReadReplyKeepsEveryRESPTypeIntact(t *testing.T) {
	replies := []string{
		"+OK\r\n", "-ERR boom\r\n", ":42\r\n", "$-1\r\n", "$0\r\n\r\n", "$5\r\nhe\r\no\r\n",
		"*-1\r\n", "*0\r\n", "*2\r\n$1\r\na\r\n*1\r\n:1\r\n", "_\r\n", ",3.14\r\n", "#t\r\n",
		"(123456789012345678901234567890\r\n", "%2\r\n$1\r\nk\r\n:1\r\n$1\r\nm\r\n%1\r\n+x\r\n_\r\n",
		"~2\r\n+a\r\n+b\r\n", "=8\r\ntxt:abcd\r\n", "!3\r\nerr\r\n",
	}
	stream := strings.Join(replies, "")
	r := bufio.NewReader(strings.NewReader(stream))
	for _, want := range replies {
		got, err := readReply(r, nil)
		if err != nil || string(got) != want {
			t.Fatalf("readReply = %q, %v; want %q", got, err, want)
		}
	}
	for _, bad := range []string{"?x\r\n", "+OK\n", "$5\r\nab"} {
		if _, err := readReply(bufio.NewReader(strings.NewReader(bad)), nil); err == nil {
			t.Errorf("readReply(%q) accepted a malformed reply", bad)
		}
	}
}

func TestNoLeaderFailsWithClusterDown(t *testing.T) {
	// A node that neither bootstraps nor joins never sees a leader.
	s := startServer(t, func(c *Config) {
		c.Raft.Bootstrap = false
		c.Raft.LeaderWait = 300 * time.Millisecond
	})
	c := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	start := time.Now()
	err := c.Set(ctx, "k", "v", 0).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "CLUSTERDOWN") {
		t.Fatalf("write without a leader: %v, want CLUSTERDOWN", err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("gave up after %v, before the configured leader wait", waited)
	}
	if err := c.Get(ctx, "k").Err(); err == nil || !strings.HasPrefix(err.Error(), "CLUSTERDOWN") {
		t.Fatalf("read without a leader: %v, want CLUSTERDOWN", err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING needs no leader: %v", err)
	}
}
