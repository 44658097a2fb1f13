package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestACLReplicatedSurvivesLeaderKillAndRestart: users made with ACL
// SETUSER (sent to a follower, which forwards it) are enforced by every
// node; after the leader is killed the new leader still enforces them and
// takes changes; the killed node, restarted with no flags at all, knows
// every user and the default user's password from the log; a deleted
// user can log in nowhere.
func TestACLReplicatedSurvivesLeaderKillAndRestart(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx := context.Background()
	leader := leaderOf(t, nodes, nodes[0])
	follower := aFollower(nodes, leader)
	fc := nodeClient(follower)
	if err := fc.Do(ctx, "ACL", "SETUSER", "app", "on", ">app-pw", "~session:*", "+@read", "+@write", "-@dangerous").Err(); err != nil {
		t.Fatalf("ACL SETUSER via a follower: %v", err)
	}
	if err := fc.Do(ctx, "ACL", "SETUSER", "scr", "on", ">scr-pw", "~session:*", "+@read", "+@write", "+@scripting").Err(); err != nil {
		t.Fatalf("ACL SETUSER scr via a follower: %v", err)
	}
	if err := fc.Do(ctx, "ACL", "SETUSER", "default", "resetpass", ">admin-pw").Err(); err != nil {
		t.Fatalf("ACL SETUSER default: %v", err)
	}
	fc.Close()
	for _, n := range nodes {
		n.password = "admin-pw"
	}
	for _, n := range nodes {
		waitUser(t, n, "app", "app-pw", true)
		checkConfined(t, n)
		waitUser(t, n, "scr", "scr-pw", true)
		checkScriptConfined(t, n)
		anon := redis.NewClient(&redis.Options{Addr: n.addr(), MaxRetries: -1})
		if err := anon.Get(ctx, "session:1").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
			t.Errorf("%s: no password after ACL SETUSER default: %v", n.id, err)
		}
		anon.Close()
	}

	leader.p.kill()
	var rest []*clusterNode
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	newLeader := leaderOf(t, rest, rest[0])
	if newLeader == leader {
		t.Fatal("the killed node is still reported leader")
	}
	checkConfined(t, newLeader)
	lc := nodeClient(newLeader)
	if err := lc.Do(ctx, "ACL", "SETUSER", "app2", "on", ">pw2", "~*", "+@all").Err(); err != nil {
		t.Fatalf("ACL SETUSER on the new leader: %v", err)
	}
	lc.Close()

	leader.restart(t) // no --requirepass, no --users-file: the users are in the log
	waitUser(t, leader, "app2", "pw2", true)
	checkConfined(t, leader)
	anon := redis.NewClient(&redis.Options{Addr: leader.addr(), MaxRetries: -1})
	if err := anon.Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Errorf("restarted node lets anonymous clients in: %v", err)
	}
	anon.Close()

	c := nodeClient(nodes[0])
	if n, err := c.Do(ctx, "ACL", "DELUSER", "app").Int(); err != nil || n != 1 {
		t.Fatalf("ACL DELUSER: %d %v", n, err)
	}
	c.Close()
	for _, n := range nodes {
		waitUser(t, n, "app", "app-pw", false)
	}
}

// waitUser waits until user can (or cannot) log in on n.
func waitUser(t *testing.T, n *clusterNode, user, pass string, can bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		c := redis.NewClient(&redis.Options{Addr: n.addr(), Username: user, Password: pass, MaxRetries: -1, DialTimeout: time.Second})
		err = c.Ping(context.Background()).Err()
		c.Close()
		if err != nil && strings.HasPrefix(err.Error(), "NOPERM") {
			err = nil // logged in; the user may not PING
		}
		if (err == nil) == can {
			return
		}
		time.Sleep(50 * time.Millisecond) // another process applies the entry: poll it
	}
	t.Fatalf("%s: user %s can log in = %v, want %v (last: %v)", n.id, user, err == nil, can, err)
}

// checkConfined: app writes and reads sessions through n, and is refused
// user:* keys and KEYS.
// checkScriptConfined: a user limited to session:* keys, allowed scripts,
// cannot reach other keys through redis.call, whichever node it uses — on
// a follower the script runs on the leader, which must apply the client's
// ACL, not the forwarding peer's.
func checkScriptConfined(t *testing.T, n *clusterNode) {
	t.Helper()
	ctx := context.Background()
	scr := redis.NewClient(&redis.Options{Addr: n.addr(), Username: "scr", Password: "scr-pw", MaxRetries: -1})
	defer scr.Close()
	if err := scr.Eval(ctx, "return redis.call('SET', KEYS[1], 'v')", []string{"session:scr-" + n.id}).Err(); err != nil {
		t.Errorf("%s: scr EVAL on its own keys: %v", n.id, err)
	}
	key := "user:via-script-" + n.id
	err := scr.Eval(ctx, "return redis.call('SET', ARGV[1], 'stolen')", nil, key).Err()
	if err == nil || !strings.Contains(err.Error(), "can't access at least one of the keys") {
		t.Errorf("%s: scr EVAL writing %s through redis.call: %v", n.id, key, err)
	}
	admin := nodeClient(n)
	defer admin.Close()
	if v, err := admin.Exists(ctx, key).Result(); err != nil || v != 0 {
		t.Errorf("%s: %s exists (%d, %v): a script got past the ACL", n.id, key, v, err)
	}
}

func checkConfined(t *testing.T, n *clusterNode) {
	t.Helper()
	ctx := context.Background()
	app := redis.NewClient(&redis.Options{Addr: n.addr(), Username: "app", Password: "app-pw", MaxRetries: -1})
	defer app.Close()
	if err := app.Set(ctx, "session:"+n.id, "v", 0).Err(); err != nil {
		t.Errorf("%s: app SET session: %v", n.id, err)
	}
	const noKey = "NOPERM this user has no permissions to access one of the keys used as arguments"
	if err := app.Get(ctx, "user:1").Err(); err == nil || err.Error() != noKey {
		t.Errorf("%s: app GET user:1: %v", n.id, err)
	}
	if err := app.Do(ctx, "KEYS", "*").Err(); err == nil || err.Error() != "NOPERM this user has no permissions to run the 'keys' command" {
		t.Errorf("%s: app KEYS: %v", n.id, err)
	}
}
