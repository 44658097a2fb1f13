package server

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// What keepkv's scripting does beyond (or differently from) Redis: the
// deterministic budget, the bounded memory, the read-only environment,
// scripts inside MULTI, and their events.

const testBudget = 2_000_000

func budgetServer(t *testing.T) *Server {
	return startServer(t, func(c *Config) { c.ScriptBudget = testBudget })
}

// TestScriptBudgetAbortsRunawayScript: an infinite loop stops at the
// budget with an error, its writes rolled back, while other clients are
// answered during the run and served after it.
func TestScriptBudgetAbortsRunawayScript(t *testing.T) {
	s := budgetServer(t)
	a := client(t, s.Addr().String(), 2)
	b := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	if err := a.Set(ctx, "k", "original", 0).Err(); err != nil {
		t.Fatal(err)
	}
	type result struct {
		err     error
		elapsed time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		err := a.Eval(ctx, "redis.call('set', KEYS[1], 'changed') redis.call('incr', 'counter') local i = 0 while true do i = i + 1 end", []string{"k"}).Err()
		done <- result{err, time.Since(start)}
	}()
	// Wait (polling the engine, not sleeping) until the script runs in
	// apply; then another client must be answered while it still runs.
	for s.scripts.inApply.Load() == 0 {
		select {
		case r := <-done:
			t.Fatalf("the script ended before it was seen running: %v", r.err)
		default:
			runtime.Gosched()
		}
	}
	if got, err := b.Ping(ctx).Result(); err != nil || got != "PONG" {
		t.Fatalf("PING during the script: %q %v", got, err)
	}
	during := s.scripts.inApply.Load() == 1
	r := <-done
	if r.err == nil || !strings.Contains(r.err.Error(), "budget") || !strings.Contains(r.err.Error(), "script: ") {
		t.Fatalf("runaway script: %v", r.err)
	}
	if !during {
		t.Log("the PING was answered after the script ended (a slow machine); it still shows the node serving")
	}
	t.Logf("budget of %d instructions exhausted in %v (%.1fM instructions/s): %v", testBudget, r.elapsed, testBudget/r.elapsed.Seconds()/1e6, r.err)
	if got, _ := b.Get(ctx, "k").Result(); got != "original" {
		t.Fatalf("k = %q after the aborted script: its write was not rolled back", got)
	}
	if n, err := b.Exists(ctx, "counter").Result(); err != nil || n != 0 {
		t.Fatalf("counter exists (%d, %v) after the aborted script", n, err)
	}
	if err := b.Set(ctx, "after", "1", 0).Err(); err != nil {
		t.Fatalf("write after the script: %v", err)
	}
}

// TestScriptBudgetCannotBeCaught: a pcall does not catch an exhausted
// budget, and nothing after it runs.
func TestScriptBudgetCannotBeCaught(t *testing.T) {
	s := budgetServer(t)
	c := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	scripts := []string{
		"pcall(function() while true do end end) redis.call('set', 'x', '1') return 1",
		"for i = 1, 10 do pcall(function() while true do end end) end redis.call('set', 'x', '1') return 1",
		"xpcall(function() while true do end end, function(e) redis.call('set', 'x', '1') return e end) redis.call('set', 'x', '2') return 1",
		"local co = coroutine.wrap(function() while true do end end) pcall(co) redis.call('set', 'x', '3') return 1",
		"local co = coroutine.create(function() while true do end end) coroutine.resume(co) redis.call('set', 'x', '4') return 1",
		"local t = {} setmetatable(t, {__index = function(t, k) while true do end end}) local v = t.x redis.call('set', 'x', '5')",
		"table.sort({3, 2, 1, 5, 4}, function(a, b) while true do end end) redis.call('set', 'x', '6')",
		"string.gsub('abc', '%w', function(c) while true do end end) redis.call('set', 'x', '7')",
		"string.find(string.rep('a', 80), '.-.-.-.-.-b') redis.call('set', 'x', '8')",
		"for w in string.gmatch(string.rep('a', 80), '.-.-.-.-.-b') do end redis.call('set', 'x', '9')",
		"string.gsub(string.rep('a', 80), '.-.-.-.-.-b', 'x') redis.call('set', 'x', '10')",
	}
	for _, src := range scripts {
		err := c.Eval(ctx, src, nil).Err()
		if err == nil || !strings.Contains(err.Error(), "budget") {
			t.Errorf("%s: %v", src, err)
		}
		if n, _ := c.Exists(ctx, "x").Result(); n != 0 {
			t.Fatalf("%s: a write after the exhausted budget stayed", src)
		}
	}
}

// TestScriptMemoryIsBounded: scripts that would allocate without bound in
// a few instructions are stopped by the budget before they allocate.
func TestScriptMemoryIsBounded(t *testing.T) {
	s := startServer(t, func(c *Config) { c.ScriptBudget = 2_000_000 })
	c := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	bombs := []string{
		"return string.rep('x', 1e9)",
		"local s = 'x' for i = 1, 64 do s = s .. s end return #s",
		"local t = {} t[60000000] = 1 return 1",
		"local t = {} for i = 1, 20 do t[i * 3000000] = 1 end return 1",
		"local t = {} rawset(t, 60000000, 1) return 1",
		"local t = {} table.insert(t, 60000000, 1) return 1",
		"local s = string.rep('x', 1e6) local t = {} for i = 1, 1e5 do t[i] = s end return #table.concat(t)",
		"local t = {} for i = 1, 1e9 do t[i] = {} end",
		"local t = {} for i = 1, 1e9 do t['k' .. i] = i end",
		"local s = string.rep('x', 1e6) local t = {} for i = 1, 1e5 do t[i] = s:upper() end",
		"local s = string.rep('%99d', 1000) local a = {} for i = 1, 1000 do a[i] = i end local t = {} for i = 1, 1e6 do t[i] = string.format(s, unpack(a)) end",
		"local t = {} for i = 1, 1e5 do t[i] = 'x' end local s = table.concat(t) local u = {} for i = 1, 1e4 do u[i] = s end return cjson.encode(u)",
		"local t = {} for i = 1, 1e5 do t[i] = 'x' end local s = table.concat(t) local u = {} for i = 1, 1e4 do u[i] = s end return cmsgpack.pack(u)",
		"local t = {} for i = 1, 1e9 do t[i] = coroutine.create(function() end) end",
		"local s = string.rep('x', 1e6) local t = {} for i = 1, 1e4 do t[i] = s end return t",
		"local t = {} t[1] = t return t",
		"local t = {} for i = 1, 40 do t = {t, t} end return t",
		"return loadstring(string.rep('x = 1 ', 1e6))",
		"return string.find(string.rep('a', 6000), string.rep('a?', 6000))",
		"local s = string.rep('x', 1e5) return string.gsub(s, '', s)",
	}
	for _, src := range bombs {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		err := c.Eval(ctx, src, nil).Err()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		t.Logf("%.60s: %v in %v (heap %+d MiB)", src, err, time.Since(start), grew>>20)
		if err == nil && !strings.Contains(src, "t[1] = t") {
			t.Errorf("%s: no error", src)
		}
		if grew > 256<<20 {
			t.Errorf("%s: the heap grew by %d MiB", src, grew>>20)
		}
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestScriptCompileIsBounded: sources that would make the compiler
// recurse deeper than the Go stack allows, or take time quadratic in
// their size, are refused as Lua 5.1 refuses them, at once.
func TestScriptCompileIsBounded(t *testing.T) {
	s := startServer(t, nil)
	c := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	n := 1 << 19
	for _, src := range []string{
		"return " + strings.Repeat("{", n/2) + strings.Repeat("}", n/2),
		"return " + strings.Repeat("(", n/2) + "1" + strings.Repeat(")", n/2),
		"return 'a'" + strings.Repeat("..'a'", n/5),
		"return 2" + strings.Repeat("^2", n/2),
		strings.Repeat("do ", n/4) + strings.Repeat("end ", n/4),
		strings.Repeat("local function f() ", n/20) + strings.Repeat("end ", n/20),
		"local x = 1 if x == 1 then x = 2" + strings.Repeat(" elseif x == 2 then x = 3", n/30) + " end",
		"return loadstring('return ' .. string.rep('(', 100000) .. '1' .. string.rep(')', 100000))",
		strings.Repeat("x", 2<<20),
	} {
		start := time.Now()
		err := c.Eval(ctx, src, nil).Err()
		if err == nil {
			t.Errorf("%.40s: compiled", src)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%.40s: refused after %v", src, d)
		}
		t.Logf("%.40s: %.100v", src, err)
	}
	if err := c.Eval(ctx, "return "+strings.Repeat("(", 150)+"1"+strings.Repeat(")", 150), nil).Err(); err != nil {
		t.Fatalf("150 parentheses: %v", err)
	}
}

// TestScriptEnvironmentIsReadOnly: a script cannot change the libraries or
// the globals, so the next script (on any node) starts from the same
// environment.
func TestScriptEnvironmentIsReadOnly(t *testing.T) {
	s := startServer(t, nil)
	c := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	for _, src := range []string{
		"string.x = 1", "string.rep = nil", "rawset(string, 'rep', nil)", "rawset(_G, 'x', 1)",
		"setmetatable(_G, nil)", "getmetatable('').__index = {}", "redis.call = nil", "cjson.encode = nil",
		"table.insert(string, 1)", "table.sort(math)", "_G.redis = nil", "math.random = nil", "KEYS = {}",
		"local mt = getmetatable(_G) mt.__index = nil",
	} {
		err := c.Eval(ctx, src, nil).Err()
		if err == nil || !strings.Contains(err.Error(), "readonly table") {
			t.Errorf("%s: %v", src, err)
		}
	}
	got, err := c.Eval(ctx, "return {type(string.rep), type(redis.call), type(rawget(string, 'x')), type(math.random), tostring(pcall(function() return y end))}", nil).Result()
	want := []any{"function", "function", "nil", "function", "false"}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("environment after the attempts: %v %v", got, err)
	}
}

// TestScriptTostringIsDeterministic: tostring of a table names it by a
// counter of the run, not an address, so a script that stores it writes
// the same on every node.
func TestScriptTostringIsDeterministic(t *testing.T) {
	s := startServer(t, nil)
	c := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	src := "local a, b = {}, function() end return {tostring(a), tostring(b), tostring(a), tostring(coroutine.create(b)), collectgarbage('count'), gcinfo()}"
	first, err := c.Eval(ctx, src, nil).Result()
	if err != nil {
		t.Fatal(err)
	}
	second, _ := c.Eval(ctx, src, nil).Result()
	if fmt.Sprint(first) != fmt.Sprint(second) {
		t.Fatalf("tostring differs between runs: %v, %v", first, second)
	}
	t.Logf("%v", first)
}

// TestScriptInMulti: EVAL and EVALSHA queued in MULTI run inside the
// EXEC's entry, in order with the other commands.
func TestScriptInMulti(t *testing.T) {
	s := startServer(t, nil)
	c := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	sha, err := c.ScriptLoad(ctx, "return redis.call('incrby', KEYS[1], ARGV[1])").Result()
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "n", "1", 0)
		p.Eval(ctx, "return redis.call('incr', KEYS[1])", []string{"n"})
		p.EvalSha(ctx, sha, []string{"n"}, 10)
		p.EvalRO(ctx, "return redis.call('get', KEYS[1])", []string{"n"})
		p.Eval(ctx, "return redis.call('incr', 'n') + nil", nil)
		p.Get(ctx, "n")
		return nil
	})
	if err == nil {
		t.Fatal("the script error inside EXEC was not reported")
	}
	var got []string
	for _, cmd := range cmds {
		args := cmd.Args()
		switch c := cmd.(type) {
		case *redis.StatusCmd:
			got = append(got, c.Val())
		case *redis.StringCmd:
			got = append(got, c.Val())
		case *redis.Cmd:
			got = append(got, fmt.Sprint(c.Val()))
		default:
			t.Fatalf("%v: %T", args, cmd)
		}
	}
	if want := []string{"OK", "2", "12", "12", "<nil>", "13"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("MULTI replies %v, want %v", got, want)
	}
}

// TestScriptWritesNotify: a script's writes produce keyspace events.
func TestScriptWritesNotify(t *testing.T) {
	s := startServer(t, nil)
	c := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	if err := c.ConfigSet(ctx, "notify-keyspace-events", "KEA").Err(); err != nil {
		t.Fatal(err)
	}
	sub := c.PSubscribe(ctx, "__keyevent@0__:*")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Eval(ctx, "redis.call('set', KEYS[1], 'v') redis.call('expire', KEYS[1], 100) return 1", []string{"sess"}).Err(); err != nil {
		t.Fatal(err)
	}
	ch := sub.Channel()
	for _, want := range []string{"__keyevent@0__:set", "__keyevent@0__:expire"} {
		select {
		case m := <-ch:
			if m.Channel != want || m.Payload != "sess" {
				t.Fatalf("event %s %s, want %s sess", m.Channel, m.Payload, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event", want)
		}
	}
}

// TestScriptRefusesIteration: KEYS and SCAN cannot run inside apply.
func TestScriptRefusesIteration(t *testing.T) {
	s := startServer(t, nil)
	c := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	for _, src := range []string{"return redis.call('keys', '*')", "return redis.call('scan', 0)", "return redis.call('randomkey')"} {
		err := c.Eval(ctx, src, nil).Err()
		if err == nil || !strings.Contains(err.Error(), "cannot run inside a script") {
			t.Errorf("%s: %v", src, err)
		}
	}
}

// TestScriptKill: SCRIPT KILL stops a read-only script; a script in apply
// is left to its budget.
func TestScriptKill(t *testing.T) {
	s := startServer(t, nil)
	a := client(t, s.Addr().String(), 2)
	b := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- a.EvalRO(ctx, "while true do end", nil).Err() }()
	for {
		err := b.Do(ctx, "SCRIPT", "KILL").Err()
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "NOTBUSY") {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("the script ended before it was killed: %v", err)
		default:
			runtime.Gosched()
		}
	}
	err := <-done
	var rerr redis.Error
	if !errors.As(err, &rerr) || !strings.Contains(err.Error(), "Script killed by user with SCRIPT KILL") {
		t.Fatalf("killed script: %v", err)
	}
}
