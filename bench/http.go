package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The HTTP mode (go run ./bench -http) measures keepkv's Upstash REST
// front end beside its RESP front end, on one node in the same run:
// SET and GET of 3-byte values over random keys, -c concurrent clients,
// one request at a time each. RESP is driven by redis-benchmark; HTTP by
// a Go load generator with keep-alive connections that sends what
// @upstash/redis sends (POST / with a JSON command, Upstash-Encoding:
// base64). Repetitions are interleaved and medians reported.

func runHTTP(ctx context.Context, bin, work string) error {
	port, hport := *flagPort, *flagPort+1
	node := keepkvNode(bin, filepath.Join(work, "http"), port, "--http-addr", fmt.Sprintf("127.0.0.1:%d", hport))
	if err := os.MkdirAll(node.dir, 0o755); err != nil {
		return err
	}
	if err := node.start(ctx); err != nil {
		return err
	}
	defer node.stop(syscall.SIGTERM)
	c, n, r := *flagClients, *flagN/4, *flagKeyspace
	type row struct {
		name string
		runs []sample
	}
	rows := []*row{{name: "RESP SET"}, {name: "HTTP SET"}, {name: "RESP GET"}, {name: "HTTP GET"}}
	for rep := range *flagReps {
		for i, test := range []string{"set", "set", "get", "get"} {
			var s sample
			var err error
			if i%2 == 0 {
				s, err = redisBenchmark(ctx, port, cell{test: test, pipe: 1, size: 3, c: c, n: n, keyspace: r})
			} else {
				s, err = httpLoad(ctx, hport, test, c, n, r)
			}
			if err != nil {
				return err
			}
			rows[i].runs = append(rows[i].runs, s)
			fmt.Fprintf(os.Stderr, "rep %d %-8s %9.0f req/s  p50 %.2f ms  p99 %.2f ms\n", rep+1, rows[i].name, s.rps, s.p50, s.p99)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "One keepkv node, %d clients, %d requests per run, 3-byte values, random keys out of %d, median of %d interleaved runs (%s, %d CPUs).\n\n",
		c, n, r, *flagReps, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU())
	b.WriteString("| front end | req/s | p50 ms | p99 ms |\n| --- | ---: | ---: | ---: |\n")
	for _, rw := range rows {
		m := median(rw.runs)
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.2f |\n", rw.name, m.rps, m.p50, m.p99)
	}
	fmt.Print(b.String())
	if err := os.MkdirAll(*flagOut, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*flagOut, "http.md"), []byte(b.String()), 0o644)
}

// httpLoad sends n requests from c keep-alive clients, one at a time each,
// and reports throughput and latency percentiles.
func httpLoad(ctx context.Context, port int, test string, c, n, keyspace int) (sample, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	lat := make([][]time.Duration, c)
	errs := make(chan error, c)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += c {
				key := fmt.Sprintf("key:%012d", rand.IntN(keyspace))
				body := `["GET","` + key + `"]`
				if test == "set" {
					body = `["SET","` + key + `","xxx"]`
				}
				req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader([]byte(body)))
				if err != nil {
					errs <- err
					return
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Upstash-Encoding", "base64")
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					errs <- fmt.Errorf("HTTP %s: status %d, %v", test, resp.StatusCode, err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return sample{}, err
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))]) / float64(time.Millisecond)
	}
	return sample{rps: float64(len(all)) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99)}, nil
}
