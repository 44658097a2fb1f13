package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sys/unix"
)

const (
	sessionSize = 512
	baseKeys    = 100_000 // the small store the large one's GETs are compared with
)

// sessionKey matches redis-benchmark's __rand_int__ (12 digits), so its GETs
// hit loaded sessions.
func sessionKey(i int) string { return fmt.Sprintf("session:%012d", i) }

func sessionValue(i int) string {
	v := fmt.Sprintf(`{"user":%d,"csrf":"%x","cart":[`, i, i*2654435761)
	return v + strings.Repeat("0", sessionSize-len(v)-2) + "]}"
}

// load writes sessions [from, to) (or the keys key(i) with args) from
// several pipelined connections and returns the rate.
func load(ctx context.Context, addr string, from, to int, key func(int) string, val func(int) string, args ...any) (float64, error) {
	const conns, batch = 8, 500
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	began := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
			defer c.Close()
			for {
				lo := int(next.Add(batch)) - batch
				if lo >= to || ctx.Err() != nil {
					return
				}
				p := c.Pipeline()
				for i := lo; i < min(lo+batch, to); i++ {
					p.Do(ctx, append([]any{"SET", key(i), val(i)}, args...)...)
				}
				if _, err := p.Exec(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(to-from) / time.Since(began).Seconds(), ctx.Err()
}

// diskUse sums the blocks actually allocated under dir, per top-level entry.
func diskUse(dir string) (total int64, parts map[string]int64) {
	parts = map[string]int64{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		top := strings.SplitN(rel, string(filepath.Separator), 2)[0]
		parts[top] += st.Blocks * 512
		total += st.Blocks * 512
		return nil
	})
	return total, parts
}

// timeRestart starts n again and measures until a known session reads back.
func timeRestart(ctx context.Context, n *server, want int) (time.Duration, error) {
	began := time.Now()
	if err := n.launch(); err != nil {
		return 0, err
	}
	c := redis.NewClient(&redis.Options{Addr: n.addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	for {
		v, err := c.Get(ctx, sessionKey(want)).Result()
		if err == nil {
			if v != sessionValue(want) {
				return 0, fmt.Errorf("after restart %s = %.40q…, want %.40q…", sessionKey(want), v, sessionValue(want))
			}
			return time.Since(began), nil
		}
		if time.Since(began) > 5*time.Minute || ctx.Err() != nil {
			return 0, fmt.Errorf("not serving 5 minutes after restart: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // another process's progress
	}
}

func getBenchmark(ctx context.Context, port, keys int) (sample, error) {
	c := cell{test: "get", pipe: 16, size: sessionSize, c: *flagClients, n: *flagN, keyspace: keys}
	return redisBenchmark(ctx, port, c, "GET", "session:__rand_int__")
}

func runScale(ctx context.Context, bin, dir string) error {
	n := keepkvNode(bin, dir, *flagPort)
	if err := n.start(ctx); err != nil {
		return err
	}
	defer func() { n.stop(syscall.SIGTERM) }()
	total := *flagSessions
	if total < baseKeys {
		return fmt.Errorf("-sessions must be at least %d", baseKeys)
	}
	out := &strings.Builder{}
	report := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		fmt.Fprintln(os.Stderr, line)
		fmt.Fprintln(out, line)
	}
	report("Scale run %s, `go run ./bench -scale -sessions %d -expiring %d`:\n", time.Now().UTC().Format("2006-01-02"), total, *flagExpiring)

	ttl := []any{"EX", 7 * 24 * 3600}
	if _, err := load(ctx, n.addr(), 0, baseKeys, sessionKey, sessionValue, ttl...); err != nil {
		return err
	}
	var small sample
	var smallFaults int64
	if !*flagDrainOnly {
		faults := n.majorFaults()
		var err error
		if small, err = getBenchmark(ctx, n.port, baseKeys); err != nil {
			return err
		}
		smallFaults = n.majorFaults() - faults
	}
	rate, err := load(ctx, n.addr(), baseKeys, total, sessionKey, sessionValue, ttl...)
	if err != nil {
		return err
	}
	report("- loaded %d sessions of %d bytes (EX 7 days) at %.0f SET/s (8 connections, pipelines of 500)", total, sessionSize, rate)
	if !*flagDrainOnly {
		if err := reportSize(ctx, n, dir, total, small, smallFaults, report); err != nil {
			return err
		}
	}
	for range *flagDrains {
		if err := drainExpiry(ctx, n, rate, report); err != nil {
			return err
		}
	}
	if *flagDrainOnly {
		return nil
	}

	n.stop(syscall.SIGTERM)
	d, err := timeRestart(ctx, n, total-1)
	if err != nil {
		return err
	}
	report("- restart after a clean stop (SIGTERM) to the first GET served: %v (goal < 2 s)", d.Round(time.Millisecond))
	// Writes just before the kill leave work for the restart to replay.
	if _, err := load(ctx, n.addr(), 0, 20_000, sessionKey, sessionValue, ttl...); err != nil {
		return err
	}
	n.stop(syscall.SIGKILL)
	d, err = timeRestart(ctx, n, total-1)
	if err != nil {
		return err
	}
	report("- restart after SIGKILL (20k SETs just before) to the first GET served: %v (goal < 2 s)", d.Round(time.Millisecond))
	// The same as after a machine restart: nothing of the data dir cached.
	if _, err := load(ctx, n.addr(), 20_000, 40_000, sessionKey, sessionValue, ttl...); err != nil {
		return err
	}
	n.stop(syscall.SIGKILL)
	if err := dropFromPageCache(filepath.Join(dir, "data")); err != nil {
		return err
	}
	d, err = timeRestart(ctx, n, total-1)
	if err != nil {
		return err
	}
	report("- restart after SIGKILL (20k other SETs just before) with the data dir dropped from the page cache, as after a reboot, to the first GET served: %v (goal < 2 s)", d.Round(time.Millisecond))
	if err := n.awaitWritable(ctx, time.Minute); err != nil {
		return err
	}
	c := redis.NewClient(&redis.Options{Addr: n.addr()})
	defer c.Close()
	if got, err := c.DBSize(ctx).Result(); err != nil || got != int64(total)+1 { // +1: the harness's bench:ping key
		return fmt.Errorf("after the restarts DBSIZE = %d (%v), want %d", got, err, total+1)
	}
	return os.WriteFile(filepath.Join(*flagOut, "scale.md"), []byte(out.String()), 0o644)
}

// reportSize reports GET over all the sessions against GET over the first
// baseKeys (small, measured before the load), the disk used and the RSS.
func reportSize(ctx context.Context, n *server, dir string, total int, small sample, smallFaults int64, report func(string, ...any)) error {
	faults := n.majorFaults()
	large, err := getBenchmark(ctx, n.port, total)
	if err != nil {
		return err
	}
	report("- GET -P 16 -c %d: %.0f req/s (p99 %.2f ms, %d major page faults) over %d sessions vs %.0f req/s (p99 %.2f ms, %d major page faults) over %d: ratio %.2f (goal ≥ 0.8)",
		*flagClients, large.rps, large.p99, n.majorFaults()-faults, total, small.rps, small.p99, smallFaults, baseKeys, large.rps/small.rps)
	raw := int64(total) * int64(len(sessionKey(0))+sessionSize)
	used, parts := diskUse(filepath.Join(dir, "data"))
	names := make([]string, 0, len(parts))
	for k := range parts {
		names = append(names, k)
	}
	slices.Sort(names)
	var partList []string
	for _, k := range names {
		partList = append(partList, fmt.Sprintf("%s %.2f GiB", k, float64(parts[k])/(1<<30)))
	}
	report("- disk: %.2f GiB for %.2f GiB of keys and values: ratio %.2f (goal ≤ 2.0); %s", float64(used)/(1<<30), float64(raw)/(1<<30), float64(used)/float64(raw), strings.Join(partList, ", "))
	report("- RSS: %.2f GiB", float64(n.rss())/(1<<30))
	return nil
}

// drainExpiry loads keys sharing one deadline next to the sessions, then
// measures how long after the deadline the last is physically gone while
// probe clients keep writing.
func drainExpiry(ctx context.Context, n *server, rate float64, report func(string, ...any)) error {
	c := redis.NewClient(&redis.Options{Addr: n.addr()})
	defer c.Close()
	before, err := c.DBSize(ctx).Result()
	if err != nil {
		return err
	}
	count := *flagExpiring
	deadline := time.Now().Add(time.Duration(2*float64(count)/rate*float64(time.Second)) + 10*time.Second).Truncate(time.Second)
	expKey := func(i int) string { return fmt.Sprintf("exp:%09d", i) }
	if _, err := load(ctx, n.addr(), 0, count, expKey, func(int) string { return "x" }, "PXAT", deadline.UnixMilli()); err != nil {
		return err
	}
	if time.Until(deadline) < time.Second {
		return fmt.Errorf("loading %d expiring keys ran past their deadline; the estimate from the session load rate was too low", count)
	}

	// Probes: 4 clients writing in db 1 from 1 s before the deadline.
	probeCtx, stopProbes := context.WithCancel(ctx)
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	time.Sleep(time.Until(deadline) - time.Second)
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pc := redis.NewClient(&redis.Options{Addr: n.addr(), DB: 1, PoolSize: 1})
			defer pc.Close()
			for i := 0; probeCtx.Err() == nil; i++ {
				t := time.Now()
				if err := pc.Set(probeCtx, fmt.Sprintf("probe:%d:%d", p, i%1000), "x", 0).Err(); err != nil {
					return
				}
				mu.Lock()
				lat = append(lat, time.Since(t))
				mu.Unlock()
			}
		}()
	}
	var drained time.Duration
	for {
		size, err := c.DBSize(ctx).Result()
		if err != nil {
			stopProbes()
			return err
		}
		if size <= before && time.Now().After(deadline) {
			drained = time.Since(deadline)
			break
		}
		if time.Since(deadline) > 5*time.Minute {
			stopProbes()
			return fmt.Errorf("%d keys still present 5 minutes after their deadline", size-before)
		}
		time.Sleep(10 * time.Millisecond) // the server's progress: poll
	}
	stopProbes()
	wg.Wait()
	slices.Sort(lat)
	if len(lat) == 0 {
		return fmt.Errorf("no probe SET completed during the drain")
	}
	report("- %d keys with one deadline: all physically gone %v after it (goal ≤ 10 s); meanwhile %d probe SETs from 4 clients: p50 %v, p99 %v (goal < 5 ms), max %v",
		count, drained.Round(time.Millisecond), len(lat), lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	return nil
}

// dropFromPageCache asks the kernel to drop the cached pages of every file
// under dir (posix_fadvise DONTNEED; clean pages only, which is all of
// them once their writer is dead and they have been synced).
func dropFromPageCache(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := f.Sync(); err != nil {
			return err
		}
		return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	})
}
