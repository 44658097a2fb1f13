package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodeScripts is where the JavaScript client scripts and their pinned
// packages live (server/testdata/node, installed with npm ci).
var nodeScripts = filepath.Join("..", "..", "server", "testdata", "node")

// nodeBinary returns node after making sure nodeScripts' packages are
// installed; a missing node or npm fails the test (the rate limiters are
// a compatibility target; a skip would hide that CI never ran them).
func nodeBinary(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: install Node.js (Debian's nodejs and npm packages)")
	}
	if _, err := os.Stat(filepath.Join(nodeScripts, "node_modules", "rate-limiter-flexible", "package.json")); err == nil {
		return node
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("npm not found, and the node packages are not installed: install Debian's npm package")
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = nodeScripts
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	return node
}

type limitRecord struct {
	Kind     string `json:"kind"`
	Key      string `json:"key"`
	Send     int64  `json:"send"`
	Recv     int64  `json:"recv"`
	OK       bool   `json:"ok"`
	Error    string `json:"error"`
	Consumed int64  `json:"consumed"`
	Ms       int64  `json:"ms"`  // fixed: milliseconds before the window ends
	Now      int64  `json:"now"` // sliding: the server's time of the request
}

type limitResult struct {
	Fixed   struct{ Points, Duration int64 } `json:"fixed"`
	Sliding struct {
		Limit    int64 `json:"limit"`
		WindowMs int64 `json:"windowMs"`
	} `json:"sliding"`
	Records []limitRecord `json:"records"`
}

// limiterRun is ratelimit.mjs running: its progress, then its result.
type limiterRun struct {
	mu       sync.Mutex
	requests int64
	allowed  int64
	errors   int64
	result   chan limitResult
}

func (r *limiterRun) progress() (requests, allowed, errors int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, r.allowed, r.errors
}

// waitAllowed waits until the limiters allowed n more requests than now.
func (r *limiterRun) waitAllowed(t *testing.T, more int64) {
	t.Helper()
	_, start, _ := r.progress()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, a, _ := r.progress(); a >= start+more {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rate limiters allowed fewer than %d requests in a minute", more)
		}
		time.Sleep(20 * time.Millisecond) // the node process's progress: poll it
	}
}

func startLimiters(t *testing.T, nodes []*clusterNode, run time.Duration) *limiterRun {
	node := nodeBinary(t)
	var ports []string
	for _, n := range nodes {
		ports = append(ports, strconv.Itoa(n.port))
	}
	cmd := exec.Command(node, "ratelimit.mjs", strings.Join(ports, ","), strconv.FormatInt(run.Milliseconds(), 10))
	cmd.Dir = nodeScripts
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r := &limiterRun{result: make(chan limitResult, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 256<<20)
		for sc.Scan() {
			line := sc.Text()
			if p, ok := strings.CutPrefix(line, "progress "); ok {
				f := strings.Fields(p)
				if len(f) == 3 {
					r.mu.Lock()
					r.requests, _ = strconv.ParseInt(f[0], 10, 64)
					r.allowed, _ = strconv.ParseInt(f[1], 10, 64)
					r.errors, _ = strconv.ParseInt(f[2], 10, 64)
					r.mu.Unlock()
				}
			} else if j, ok := strings.CutPrefix(line, "result "); ok {
				var res limitResult
				if err := json.Unmarshal([]byte(j), &res); err != nil {
					t.Errorf("ratelimit.mjs result: %v", err)
				}
				r.result <- res
			}
		}
		close(r.result)
	}()
	return r
}

// TestRateLimitersAcrossLeaderKill: rate-limiter-flexible's fixed window
// and a ZSET sliding-window log run through all three nodes of a cluster,
// nine ioredis clients, while the leader is SIGKILLed and later restarted.
// No window may allow more requests than its limit: the limiters' scripts
// run atomically in apply, and no acknowledged count is lost by the kill.
func TestRateLimitersAcrossLeaderKill(t *testing.T) {
	nodes := startCluster(t, 3)
	run := startLimiters(t, nodes, 25*time.Second)
	run.waitAllowed(t, 60)
	leader := leaderOf(t, nodes, nodes[0])
	leader.p.kill()
	var rest []*clusterNode
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	leaderOf(t, rest, rest[0])
	run.waitAllowed(t, 60)
	leader.restart(t)
	run.waitAllowed(t, 60)
	res, ok := <-run.result
	if !ok {
		t.Fatal("ratelimit.mjs ended without a result")
	}
	for _, check := range []func(limitResult) (string, []string){checkFixedWindows, checkSlidingWindows} {
		summary, violations := check(res)
		t.Log(summary)
		for _, v := range violations {
			t.Error(v)
		}
	}
}

// TestRateLimitCheckersDetectViolations: the checks above fail on a window
// that allowed one request too many, on overlapping fixed windows, and on
// a limiter that never limited.
func TestRateLimitCheckersDetectViolations(t *testing.T) {
	var res limitResult
	res.Fixed.Points, res.Fixed.Duration = 2, 3
	res.Sliding.Limit, res.Sliding.WindowMs = 2, 3000
	fixed := func(send, ms int64) limitRecord {
		return limitRecord{Kind: "fixed", Key: "k", Send: send, Recv: send + 5, OK: true, Ms: ms}
	}
	sliding := func(now int64) limitRecord { return limitRecord{Kind: "sliding", Key: "k", OK: true, Now: now} }
	cases := []struct {
		name  string
		check func(limitResult) (string, []string)
		recs  []limitRecord
		want  int
	}{
		{"fixed ok", checkFixedWindows, []limitRecord{fixed(0, 3000), fixed(10, 2990), {Kind: "fixed", Key: "k"}, fixed(3100, 3000)}, 0},
		{"fixed over", checkFixedWindows, []limitRecord{fixed(0, 3000), fixed(10, 2990), fixed(20, 2980), {Kind: "fixed", Key: "k"}}, 1},
		{"fixed overlap", checkFixedWindows, []limitRecord{fixed(0, 3000), fixed(1000, 3000), {Kind: "fixed", Key: "k"}}, 1},
		{"fixed never limits", checkFixedWindows, []limitRecord{fixed(0, 3000)}, 1},
		{"sliding ok", checkSlidingWindows, []limitRecord{sliding(0), sliding(10), {Kind: "sliding", Key: "k"}, sliding(3000)}, 0},
		{"sliding over", checkSlidingWindows, []limitRecord{sliding(0), sliding(10), sliding(2999), {Kind: "sliding", Key: "k"}}, 1},
		{"sliding same millisecond", checkSlidingWindows, []limitRecord{sliding(5), sliding(5), sliding(5), {Kind: "sliding", Key: "k"}}, 1},
	}
	for _, c := range cases {
		res.Records = c.recs
		_, v := c.check(res)
		if (len(v) > 0) != (c.want > 0) {
			t.Errorf("%s: violations %q", c.name, v)
		}
	}
}

// checkFixedWindows groups each key's allowed requests into windows by
// the window's end, which every response tells (msBeforeNext) up to the
// request's round trip: requests whose possible ends overlap are of one
// window. A window may allow at most Points requests, and windows may not
// overlap (a lost counter would start a new window inside the old one).
// Requests that took longer than a third of a window are too imprecise to
// place; they are checked in the total instead.
func checkFixedWindows(res limitResult) (summary string, violations []string) {
	limit, dur := res.Fixed.Points, res.Fixed.Duration*1000
	slowest := dur / 3
	byKey := map[string][]limitRecord{}
	var total, allowed, rejected, errs, slow int
	for _, r := range res.Records {
		if r.Kind != "fixed" {
			continue
		}
		total++
		switch {
		case r.Error != "":
			errs++
		case !r.OK:
			rejected++
		case r.Recv-r.Send > slowest:
			allowed++
			slow++
		default:
			allowed++
			byKey[r.Key] = append(byKey[r.Key], r)
		}
	}
	if rejected == 0 {
		violations = append(violations, "the fixed window limiter rejected nothing: the test did not reach the limit")
	}
	var perWindow []int
	for key, recs := range byKey {
		slices.SortFunc(recs, func(a, b limitRecord) int { return int((a.Send + a.Ms) - (b.Send + b.Ms)) })
		type window struct {
			lo, hi int64
			n      int
		}
		var ws []window
		for _, r := range recs {
			lo, hi := r.Send+r.Ms, r.Recv+r.Ms
			if len(ws) > 0 && lo <= ws[len(ws)-1].hi {
				w := &ws[len(ws)-1]
				w.lo, w.hi = max(w.lo, lo), min(w.hi, hi)
				w.n++
				continue
			}
			ws = append(ws, window{lo, hi, 1})
		}
		for i, w := range ws {
			perWindow = append(perWindow, w.n)
			if int64(w.n) > limit {
				violations = append(violations, fmt.Sprintf("fixed window %s ending about %d allowed %d requests, limit %d", key, w.lo, w.n, limit))
			}
			if i > 0 && w.lo-ws[i-1].hi < dur-2*slowest {
				violations = append(violations, fmt.Sprintf("fixed windows of %s overlap: one ends by %d, the next by %d (windows last %d ms)", key, ws[i-1].hi, w.lo, dur))
			}
		}
	}
	summary = fmt.Sprintf("fixed window (rate-limiter-flexible, %d per %d ms): %d requests, %d allowed, %d rejected, %d failed (node killed / no leader), %d too slow to place; allowed per window: %v (limit %d)",
		limit, dur, total, allowed, rejected, errs, slow, perWindow, limit)
	return summary, violations
}

// checkSlidingWindows checks the sliding-window log exactly: every allowed
// request carries the server's time, and no window of WindowMs ending at
// an allowed request may hold more than Limit allowed requests.
func checkSlidingWindows(res limitResult) (summary string, violations []string) {
	limit, w := res.Sliding.Limit, res.Sliding.WindowMs
	byKey := map[string][]int64{}
	var total, allowed, rejected, errs int
	for _, r := range res.Records {
		if r.Kind != "sliding" {
			continue
		}
		total++
		switch {
		case r.Error != "":
			errs++
		case r.OK:
			allowed++
			byKey[r.Key] = append(byKey[r.Key], r.Now)
		default:
			rejected++
		}
	}
	if rejected == 0 {
		violations = append(violations, "the sliding window limiter rejected nothing: the test did not reach the limit")
	}
	most := 0
	for key, times := range byKey {
		slices.Sort(times)
		for i, end := range times {
			n := 0
			for j := i; j >= 0 && times[j] > end-w; j-- {
				n++
			}
			for j := i + 1; j < len(times) && times[j] == end; j++ {
				n++ // requests of the same millisecond
			}
			most = max(most, n)
			if int64(n) > limit {
				violations = append(violations, fmt.Sprintf("sliding window %s ending at %d allowed %d requests, limit %d", key, end, n, limit))
			}
		}
	}
	summary = fmt.Sprintf("sliding window (ZSET log, %d per %d ms): %d requests, %d allowed, %d rejected, %d failed; most allowed in any window: %d (limit %d)",
		limit, w, total, allowed, rejected, errs, most, limit)
	return summary, violations
}
