package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func mustUsers(t *testing.T, text string) []User {
	t.Helper()
	u, err := ParseUsersFile(text)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUsersAndPermissions(t *testing.T) {
	users := mustUsers(t, "# app and dashboard\napp rw app secret with spaces\ndash ro dash-pw\nops admin 0ps\n")
	s := startServer(t, func(c *Config) { c.Password = "root-pw"; c.Users = users })
	ctx := context.Background()
	as := func(user, pass string, proto int) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: s.Addr().String(), Username: user, Password: pass, Protocol: proto, DisableIdentity: true, MaxRetries: -1})
		t.Cleanup(func() { c.Close() })
		return c
	}
	app, dash, ops := as("app", "app secret with spaces", 2), as("dash", "dash-pw", 3), as("ops", "0ps", 2)
	if err := app.Set(ctx, "session:1", "v", 0).Err(); err != nil {
		t.Fatalf("rw user SET: %v", err)
	}
	if v, err := dash.Get(ctx, "session:1").Result(); err != nil || v != "v" {
		t.Fatalf("ro user GET: %q %v", v, err)
	}
	want := "NOPERM this user has no permissions to run the 'set' command"
	if err := dash.Set(ctx, "session:1", "x", 0).Err(); err == nil || err.Error() != want {
		t.Fatalf("ro user SET: %v, want %q", err, want)
	}
	if err := dash.Do(ctx, "GETEX", "session:1", "EX", "10").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Fatalf("ro user GETEX EX: %v", err)
	}
	if err := app.Do(ctx, "FLUSHALL").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Fatalf("rw user FLUSHALL: %v", err)
	}
	if err := app.Do(ctx, "CLIENT", "LIST").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Fatalf("rw user CLIENT LIST: %v", err)
	}
	if who, _ := dash.Do(ctx, "ACL", "WHOAMI").Text(); who != "dash" {
		t.Fatalf("ACL WHOAMI = %q", who)
	}
	list, err := ops.Do(ctx, "ACL", "LIST").StringSlice()
	if err != nil || len(list) != 4 || strings.Contains(strings.Join(list, " "), "0ps") {
		t.Fatalf("ACL LIST = %q, %v (must list users, never passwords)", list, err)
	}
	if v, _ := dash.Get(ctx, "session:1").Result(); v != "v" {
		t.Fatal("a refused write changed the value")
	}
	// Wrong passwords and unknown users get WRONGPASS; nothing runs before AUTH.
	for _, c := range []*redis.Client{as("app", "wrong", 2), as("nobody", "x", 2), as("", "wrong", 3)} {
		if err := c.Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
			t.Fatalf("bad credentials: %v", err)
		}
	}
	anon := as("", "", 2)
	if err := anon.Get(ctx, "session:1").Err(); err == nil || err.Error() != "NOAUTH Authentication required." {
		t.Fatalf("no credentials: %v", err)
	}
}

func TestUsersWithRedisCLI(t *testing.T) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatal("redis-cli not found: install Debian's redis-tools")
	}
	s := startServer(t, func(c *Config) { c.Password = "pw"; c.Users = mustUsers(t, "dash ro dpw\n") })
	host, port := splitAddr(t, s.Addr().String())
	run := func(args ...string) string {
		out, _ := exec.Command(cli, append([]string{"-h", host, "-p", port, "--no-auth-warning"}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	if got := run("-a", "pw", "set", "k", "v"); got != "OK" {
		t.Fatalf("redis-cli -a pw set: %q", got)
	}
	if got := run("--user", "dash", "--pass", "dpw", "get", "k"); got != "v" {
		t.Fatalf("redis-cli --user dash get: %q", got)
	}
	if got := run("--user", "dash", "--pass", "dpw", "set", "k", "x"); !strings.Contains(got, "NOPERM") {
		t.Fatalf("redis-cli read-only set: %q", got)
	}
	if got := run("-a", "nope", "get", "k"); !strings.Contains(got, "WRONGPASS") && !strings.Contains(got, "NOAUTH") {
		t.Fatalf("redis-cli wrong password: %q", got)
	}
}

func TestProtectedModeRefusesOnlyRemoteClientsWithoutPassword(t *testing.T) {
	cases := []struct {
		protected bool
		password  string
		remote    string
		refuse    bool
	}{
		{true, "", "127.0.0.1:5000", false},
		{true, "", "[::1]:5000", false},
		{true, "", "10.1.2.3:5000", true},
		{true, "", "[2001:db8::1]:5000", true},
		{true, "pw", "10.1.2.3:5000", false},
		{false, "", "10.1.2.3:5000", false},
		{true, "", "garbage", true},
	}
	for _, tc := range cases {
		cfg := Config{ProtectedMode: tc.protected, Password: tc.password}
		s := &Server{cfg: cfg, acl: newACLRegistry(cfg)}
		if got := s.protectedRefuses(tc.remote); got != tc.refuse {
			t.Errorf("protected=%v password=%q remote=%s: refuse=%v, want %v", tc.protected, tc.password, tc.remote, got, tc.refuse)
		}
	}
	// Loopback clients of a real protected server are served.
	s := startServer(t, func(c *Config) { c.ProtectedMode = true })
	if err := client(t, s.Addr().String(), 2).Ping(context.Background()).Err(); err != nil {
		t.Fatalf("loopback client refused: %v", err)
	}
}

func TestParseUsersFileRejectsBadLines(t *testing.T) {
	for _, bad := range []string{"app rw", "app superuser pw", "default rw pw", "a rw x\na ro y", "sp ace",
		"user", "user x +nosuch", "user x ~a allkeys_typo", "user x (+get)", "user x on\nuser x off", "user x #abc"} {
		if _, err := ParseUsersFile(bad); err == nil {
			t.Errorf("ParseUsersFile(%q) accepted", bad)
		}
	}
}

func splitAddr(t *testing.T, addr string) (string, string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}

// TestACLFileLoadAndSave: --users-file in Redis's ACL format (and the old
// one) seeds the users; ACL SAVE writes them back in Redis's format,
// keeping HTTP token lines; ACL LOAD replaces every user with the file's,
// closing the connections of users that are gone.
func TestACLFileLoadAndSave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.acl")
	file := "user app on #" + hashPassword("app-pw") + " ~session:* resetchannels -@all +@read +@write\n" +
		"dash ro dash-pw\ntoken app app-token\n"
	must(t, os.WriteFile(path, []byte(file), 0o600))
	users, err := ParseUsersFile(file)
	must(t, err)
	s := startServer(t, func(c *Config) { c.Users, c.UsersFile, c.Password = users, path, "root" })
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: s.Addr().String(), Password: "root", DisableIdentity: true})
	defer admin.Close()
	as := func(user, pass string) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: s.Addr().String(), Username: user, Password: pass, DisableIdentity: true, MaxRetries: -1, PoolSize: 1})
		t.Cleanup(func() { c.Close() })
		return c
	}
	app := as("app", "app-pw")
	must(t, app.Set(ctx, "session:1", "v", 0).Err())
	if err := app.Get(ctx, "user:1").Err(); err == nil || err.Error() != errNoPermKey {
		t.Fatalf("file user reads user:1: %v", err)
	}
	if v, err := as("dash", "dash-pw").Get(ctx, "session:1").Result(); err != nil || v != "v" {
		t.Fatalf("old-format ro user: %q %v", v, err)
	}
	must(t, admin.Do(ctx, "ACL", "SETUSER", "new", "on", ">new-pw", "~*", "+@all").Err())
	must(t, admin.Do(ctx, "ACL", "SAVE").Err())
	saved, err := os.ReadFile(path)
	must(t, err)
	list, err := admin.Do(ctx, "ACL", "LIST").StringSlice()
	must(t, err)
	if want := "token app app-token\n" + strings.Join(list, "\n") + "\n"; string(saved) != want {
		t.Fatalf("ACL SAVE wrote:\n%s\nwant:\n%s", saved, want)
	}
	if strings.Contains(string(saved), "new-pw") || strings.Contains(string(saved), "dash-pw") {
		t.Fatal("ACL SAVE wrote a password in clear")
	}
	// The saved file parses back to the same users.
	again, err := ParseUsersFile(string(saved))
	if err != nil || len(again) != 4 {
		t.Fatalf("saved file: %d users, %v", len(again), err)
	}

	// ACL LOAD: the file without app; app's connection is closed.
	must(t, os.WriteFile(path, []byte("user default on #"+hashPassword("root")+" ~* &* +@all\nuser other on >o ~* +@read\n"), 0o600))
	must(t, admin.Do(ctx, "ACL", "LOAD").Err())
	got, err := admin.Do(ctx, "ACL", "USERS").StringSlice()
	if err != nil || strings.Join(got, " ") != "default other" {
		t.Fatalf("ACL USERS after LOAD: %v %v", got, err)
	}
	if err := app.Get(ctx, "session:1").Err(); err == nil {
		t.Error("a user removed by ACL LOAD still runs commands")
	}
	// A broken file changes nothing.
	must(t, os.WriteFile(path, []byte("user x on +nosuch\n"), 0o600))
	if err := admin.Do(ctx, "ACL", "LOAD").Err(); err == nil || !strings.Contains(err.Error(), "Unknown command") {
		t.Fatalf("ACL LOAD of a bad file: %v", err)
	}
	if got, _ := admin.Do(ctx, "ACL", "USERS").StringSlice(); strings.Join(got, " ") != "default other" {
		t.Fatalf("a bad ACL LOAD changed the users: %v", got)
	}
	// Without a file, LOAD and SAVE say so, as Redis does.
	s2 := startServer(t, nil)
	if err := client(t, s2.Addr().String(), 2).Do(ctx, "ACL", "SAVE").Err(); err == nil || !strings.HasPrefix(err.Error(), "ERR This Redis instance is not configured to use an ACL file") {
		t.Fatalf("ACL SAVE without a file: %v", err)
	}
}
