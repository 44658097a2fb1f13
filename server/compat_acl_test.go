package server

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestACLSetUserMatchesRedis compares ACL SETUSER rule parsing (valid and
// invalid rules, their errors), GETUSER, LIST, DELUSER, CAT, DRYRUN,
// GENPASS's and LOG's argument errors, and the NOPERM replies for
// commands, keys and channels (at top level, queued in MULTI, and from
// scripts) with redis-server, byte for byte, in RESP2 and RESP3.
func TestACLSetUserMatchesRedis(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	var cmds [][]string
	add := func(c ...string) { cmds = append(cmds, c) }
	add("ACL", "DELUSER", "u", "x", "app", "pub", "scr", "ro")
	for _, rule := range []string{"on", "off", ">p", "<p", "<nope", "#abc", "!abc",
		"#0000000000000000000000000000000000000000000000000000000000000000", "nopass", "resetpass",
		"+get", "-get", "+client|kill", "-get|foo", "-client|kill", "+nosuch", "+nosuch|x", "+client|nosuch",
		"+client|kill|x", "+get|", "+@read", "+@nosuch", "-@nosuch", "allcommands", "nocommands", "~foo", "%R~foo",
		"%W~foo", "%RW~foo", "%X~foo", "%~foo", "allkeys", "resetkeys", "&ch", "allchannels", "resetchannels",
		"bogus", "", "ON", "+GET", "+@READ", "+", "-", "+@", "~a b", "&a b", "reset"} {
		add("ACL", "SETUSER", "u", rule)
		add("ACL", "GETUSER", "u")
	}
	add("ACL", "SETUSER", "x", "allkeys", "~foo")
	add("ACL", "SETUSER", "x", "allchannels", "&foo")
	add("ACL", "SETUSER", "a b")
	add("ACL", "SETUSER", "x")
	add("ACL", "SETUSER", "x", "on", ">a", ">b", ">a", "~k:*", "%R~r:*", "%W~w:*", "&c:*", "+@all", "-@dangerous", "-get")
	add("ACL", "GETUSER", "x")
	add("ACL", "SETUSER", "x", "<b", "resetkeys", "~*", "-@all", "+@read", "-get")
	add("ACL", "GETUSER", "x")
	add("ACL", "SETUSER", "x", "reset", "+@read", "+@connection", "nopass", "on")
	add("ACL", "GETUSER", "x")
	add("ACL", "GETUSER", "nosuch")
	add("ACL", "GETUSER", "default")
	add("ACL", "LIST")
	add("ACL", "USERS")
	add("ACL", "DELUSER", "default")
	add("ACL", "DELUSER", "nosuch", "x", "x")
	add("ACL", "USERS")
	add("ACL", "CAT")
	add("ACL", "CAT", "nosuch")
	add("ACL", "GENPASS", "0")
	add("ACL", "GENPASS", "abc")
	add("ACL", "GENPASS", "5000")
	add("ACL", "LOG", "-1")
	add("ACL", "LOG", "x")
	add("ACL", "NOSUCH")
	add("ACL", "WHOAMI", "extra")

	// A session user: ~session:* with +@read +@write -@dangerous.
	add("ACL", "SETUSER", "app", "on", ">pw", "~session:*", "+@read", "+@write", "-@dangerous", "&news", "+@transaction")
	add("ACL", "DRYRUN", "app", "get", "session:1")
	add("ACL", "DRYRUN", "app", "get", "user:1")
	add("ACL", "DRYRUN", "app", "keys", "*")
	add("ACL", "DRYRUN", "app", "mset", "session:1", "a", "user:1", "b")
	add("ACL", "DRYRUN", "nouser", "get", "a")
	add("ACL", "DRYRUN", "app", "nocmd")
	add("ACL", "DRYRUN", "app", "get")
	add("ACL", "SETUSER", "pub", "on", ">pw", "resetchannels", "&news:*", "+@pubsub", "+@connection")
	add("ACL", "DRYRUN", "pub", "publish", "news:1", "x")
	add("ACL", "DRYRUN", "pub", "publish", "other", "x")
	add("ACL", "SETUSER", "scr", "on", ">pw", "~session:*", "+@read", "+@write", "+@scripting", "-@dangerous")
	add("ACL", "SETUSER", "ro", "on", ">pw", "~*", "%R~ro:*", "+@all")
	add("SET", "user:1", "secret")
	add("SET", "session:1", "s")

	add("AUTH", "app", "pw")
	add("ACL", "WHOAMI")
	add("GET", "session:1")
	add("GET", "user:1")
	add("MGET", "session:1", "user:1")
	add("SET", "session:2", "v")
	add("SET", "user:2", "v")
	add("RENAME", "session:1", "user:1")
	add("KEYS", "*")
	add("FLUSHALL")
	add("PUBLISH", "news", "x")
	add("CLIENT", "KILL", "ID", "1")
	add("MULTI")
	add("GET", "session:1")
	add("GET", "user:1")
	add("EXEC")
	add("MULTI")
	add("GET", "session:1")
	add("EXEC")

	add("AUTH", "pub", "pw")
	add("PUBLISH", "news:1", "x")
	add("PUBLISH", "other", "x")
	add("SUBSCRIBE", "news:1", "other")
	add("PSUBSCRIBE", "news:1*")
	add("GET", "session:1")
	add("MULTI")
	add("EXEC")

	add("AUTH", "scr", "pw")
	add("EVAL", "return redis.call('get', KEYS[1])", "1", "session:1")
	add("EVAL", "return redis.call('get', KEYS[1])", "1", "user:1")
	add("EVAL", "return redis.pcall('get', 'user:1')", "0")
	add("EVAL", "return redis.pcall('flushall')", "0")
	add("EVAL", "return redis.pcall('publish', 'c', 'm')", "0")

	add("AUTH", "ro", "pw")
	add("GET", "ro:1")
	add("SET", "ro:1", "v")
	add("SET", "rw:1", "v")

	add("AUTH", "app", "wrong")
	add("AUTH", "default", "anything")
	add("ACL", "DELUSER", "app", "pub", "scr", "ro", "u")
	add("ACL", "USERS")
	add("QUIT")
	compareRaw(t, redisAddr, kk.Addr().String(), cmds)
}

// TestACLLogMatchesRedis compares ACL LOG entries with redis-server's:
// their fields and values, except the age and the client description.
func TestACLLogMatchesRedis(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	ctx := context.Background()
	for _, proto := range []int{2, 3} {
		var logs [2][]map[string]any
		for i, addr := range []string{redisAddr, kk.Addr().String()} {
			admin := redis.NewClient(&redis.Options{Addr: addr, Protocol: proto, DisableIdentity: true})
			defer admin.Close()
			must(t, admin.Do(ctx, "ACL", "LOG", "RESET").Err())
			must(t, admin.Do(ctx, "ACL", "SETUSER", "app", "on", ">pw", "~session:*", "+@read", "+@write", "-@dangerous", "&news").Err())
			app := redis.NewClient(&redis.Options{Addr: addr, Protocol: proto, Username: "app", Password: "pw", DisableIdentity: true, MaxRetries: -1})
			defer app.Close()
			app.Get(ctx, "user:1")
			app.Get(ctx, "user:1")
			app.Do(ctx, "KEYS", "*")
			app.Do(ctx, "PUBLISH", "news", "x")
			pipe := app.TxPipeline()
			pipe.Get(ctx, "user:9")
			_, _ = pipe.Exec(ctx)
			bad := redis.NewClient(&redis.Options{Addr: addr, Protocol: proto, Username: "app", Password: "wrong", DisableIdentity: true, MaxRetries: -1})
			defer bad.Close()
			bad.Ping(ctx)
			res, err := admin.Do(ctx, "ACL", "LOG").Result()
			must(t, err)
			for _, e := range res.([]any) {
				m := map[string]any{}
				switch e := e.(type) {
				case map[any]any:
					for k, v := range e {
						m[k.(string)] = v
					}
				case []any:
					for j := 0; j+1 < len(e); j += 2 {
						m[e[j].(string)] = e[j+1]
					}
				}
				if ci, _ := m["client-info"].(string); !strings.HasPrefix(ci, "id=") {
					t.Errorf("server %d RESP%d: client-info %q", i, proto, ci)
				}
				if _, ok := m["age-seconds"]; !ok {
					t.Errorf("server %d RESP%d: no age-seconds in %v", i, proto, m)
				}
				delete(m, "client-info")
				delete(m, "age-seconds")
				logs[i] = append(logs[i], m)
			}
			if n, _ := admin.Do(ctx, "ACL", "LOG", "1").Slice(); len(n) != 1 {
				t.Errorf("server %d: ACL LOG 1 returned %d entries", i, len(n))
			}
			must(t, admin.Do(ctx, "ACL", "LOG", "RESET").Err())
			if n, _ := admin.Do(ctx, "ACL", "LOG").Slice(); len(n) != 0 {
				t.Errorf("server %d: ACL LOG after RESET: %v", i, n)
			}
			must(t, admin.Do(ctx, "ACL", "DELUSER", "app").Err())
		}
		if fmt.Sprint(logs[0]) != fmt.Sprint(logs[1]) {
			t.Errorf("RESP%d ACL LOG:\n redis:  %v\n keepkv: %v", proto, logs[0], logs[1])
		}
	}
}

// TestACLCategoriesMatchRedis checks every category's commands against
// redis-server's ACL CAT, for the commands keepkv has.
func TestACLCategoriesMatchRedis(t *testing.T) {
	redisAddr := startRedis(t)
	kk := startServer(t, nil)
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rc.Close()
	kc := client(t, kk.Addr().String(), 2)
	for _, cat := range aclCatNames {
		want, err := rc.Do(ctx, "ACL", "CAT", cat).StringSlice()
		must(t, err)
		got, err := kc.Do(ctx, "ACL", "CAT", cat).StringSlice()
		must(t, err)
		var keep []string
		for _, n := range want {
			top, _, _ := strings.Cut(n, "|")
			if kk.table[top] != nil && keepkvSpecs[n].cats == 0 {
				keep = append(keep, n)
			}
		}
		sort.Strings(keep)
		got = slices.DeleteFunc(got, func(n string) bool { return keepkvSpecs[n].cats != 0 })
		sort.Strings(got)
		if strings.Join(keep, " ") != strings.Join(got, " ") {
			t.Errorf("ACL CAT %s:\n redis:  %v\n keepkv: %v", cat, keep, got)
		}
	}
	// Every command of the table is known to the ACL (keepkv's own have
	// explicit categories).
	for name, c := range kk.table {
		if _, ok := aclCommands().id[name]; !ok && c.flags&flagInternal == 0 {
			t.Errorf("command %s has no ACL categories", name)
		}
	}
}

// TestACLSessionUserConfined: a user limited to ~session:* with +@read
// +@write -@dangerous reads and writes sessions, and cannot read user:*
// through RESP, MULTI, a script (its KEYS or redis.call) or HTTP.
func TestACLSessionUserConfined(t *testing.T) {
	tok, err := NewHTTPToken("app", "app-token")
	must(t, err)
	s := startHTTP(t, func(c *Config) {
		c.HTTPTokens = []HTTPToken{tok}
		c.Users = []User{{Name: "app", Rules: []string{"on", ">pw"}}}
	})
	ctx := context.Background()
	admin := client(t, s.Addr().String(), 2)
	must(t, admin.Do(ctx, "ACL", "SETUSER", "app", "on", ">pw", "~session:*", "+@read", "+@write", "+@scripting", "+@transaction", "-@dangerous").Err())
	must(t, admin.Set(ctx, "user:1", "secret", 0).Err())
	for _, proto := range []int{2, 3} {
		app := redis.NewClient(&redis.Options{Addr: s.Addr().String(), Protocol: proto, Username: "app", Password: "pw", DisableIdentity: true, MaxRetries: -1})
		defer app.Close()
		must(t, app.Set(ctx, "session:1", "s", 0).Err())
		if v, err := app.Get(ctx, "session:1").Result(); err != nil || v != "s" {
			t.Fatalf("RESP%d session read: %q %v", proto, v, err)
		}
		if err := app.Get(ctx, "user:1").Err(); err == nil || err.Error() != errNoPermKey {
			t.Errorf("RESP%d GET user:1: %v", proto, err)
		}
		if err := app.Do(ctx, "KEYS", "*").Err(); err == nil || err.Error() != errNoPerm("keys") {
			t.Errorf("RESP%d KEYS: %v", proto, err)
		}
		pipe := app.TxPipeline()
		pipe.Get(ctx, "session:1")
		pipe.Get(ctx, "user:1")
		if _, err := pipe.Exec(ctx); err == nil || !strings.Contains(err.Error(), "EXECABORT") && !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("RESP%d MULTI reading user:1: %v", proto, err)
		}
		if err := app.Eval(ctx, "return redis.call('get', KEYS[1])", []string{"user:1"}).Err(); err == nil || err.Error() != errNoPermKey {
			t.Errorf("RESP%d EVAL with KEYS user:1: %v", proto, err)
		}
		if err := app.Eval(ctx, "return redis.call('get', 'user:1')", nil).Err(); err == nil || !strings.Contains(err.Error(), "can't access at least one of the keys") {
			t.Errorf("RESP%d script reading user:1: %v", proto, err)
		}
		if err := app.Eval(ctx, "#!lua flags=no-writes\nreturn redis.call('get', 'user:1')", nil).Err(); err == nil || !strings.Contains(err.Error(), "can't access at least one of the keys") {
			t.Errorf("RESP%d read-only script reading user:1: %v", proto, err)
		}
		if v, err := app.Eval(ctx, "return redis.call('get', 'session:1')", nil).Result(); err != nil || v != "s" {
			t.Errorf("RESP%d script reading session:1: %v %v", proto, v, err)
		}
	}
	rest := newREST(t, s)
	rest.token = "app-token"
	rest.cmd("GET", "session:1").want(t, "HTTP session read", 200, `{"result":"s"}`)
	rest.cmd("GET", "user:1").want(t, "HTTP user read", 400, `{"error":"`+errNoPermKey+`"}`)
	rest.batch("/multi-exec", []any{"GET", "session:1"}, []any{"GET", "user:1"}).
		want(t, "HTTP transaction reading user:1", 400, `{"error":"`+errNoPermKey+`"}`)

	// A changed user takes effect on its open connections; a deleted
	// user's connections are closed.
	app := redis.NewClient(&redis.Options{Addr: s.Addr().String(), Username: "app", Password: "pw", DisableIdentity: true, MaxRetries: -1, PoolSize: 1})
	defer app.Close()
	must(t, app.Get(ctx, "session:1").Err())
	must(t, admin.Do(ctx, "ACL", "SETUSER", "app", "-get").Err())
	if err := app.Get(ctx, "session:1").Err(); err == nil || err.Error() != errNoPerm("get") {
		t.Errorf("GET after -get: %v", err)
	}
	must(t, admin.Do(ctx, "ACL", "DELUSER", "app").Err())
	if err := app.Do(ctx, "PING").Err(); err == nil {
		t.Error("a deleted user's connection still runs commands")
	}
	rest.cmd("GET", "session:1").want(t, "HTTP token of a deleted user", 401, `{"error":"Unauthorized"}`)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestACLScriptsInMultiKeepTheUsersLimits: a script queued in MULTI runs
// inside the EXEC's entry with the user's ACL, not with full rights.
func TestACLScriptsInMultiKeepTheUsersLimits(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	admin := client(t, s.Addr().String(), 2)
	must(t, admin.Do(ctx, "ACL", "SETUSER", "app", "on", ">pw", "~session:*", "+@read", "+@write", "+@scripting", "+@transaction", "-@dangerous").Err())
	must(t, admin.Set(ctx, "user:1", "secret", 0).Err())
	app := redis.NewClient(&redis.Options{Addr: s.Addr().String(), Username: "app", Password: "pw", DisableIdentity: true, MaxRetries: -1})
	defer app.Close()
	pipe := app.TxPipeline()
	ok := pipe.Eval(ctx, "return redis.call('set', 'session:2', 'v')", nil)
	denied := pipe.Eval(ctx, "return redis.call('get', 'user:1')", nil)
	ro := pipe.EvalRO(ctx, "return redis.call('get', 'user:1')", nil)
	_, _ = pipe.Exec(ctx)
	if err := ok.Err(); err != nil {
		t.Errorf("script writing session:2 in MULTI: %v", err)
	}
	for _, c := range []*redis.Cmd{denied, ro} {
		if err := c.Err(); err == nil || !strings.Contains(err.Error(), "can't access at least one of the keys") {
			t.Errorf("script reading user:1 in MULTI: %v %v", c.Val(), err)
		}
	}
	// The admin's scripts in MULTI are not limited.
	pipe = admin.TxPipeline()
	full := pipe.Eval(ctx, "return redis.call('get', 'user:1')", nil)
	_, _ = pipe.Exec(ctx)
	if v, err := full.Text(); err != nil || v != "secret" {
		t.Errorf("admin script in MULTI: %q %v", v, err)
	}
}
