package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"
	"github.com/redis/go-redis/v9"
)

// The performance issue asks, for every target missed, what bounds it: a
// CPU profile split by component, fdatasyncs per write, commands per Raft
// entry and entries per log append. The matrix measures them in the same
// run as the ratios: the counters around every counted repetition, and a
// CPU profile in one extra repetition per cell that is not counted (a
// profile costs a little CPU of its own).

// writeCounters is what INFO persistence and /proc say about a keepkv
// system, summed over its nodes where that is what costs (CPU).
type writeCounters struct {
	cpuTicks                        int64 // user+system CPU of every node, in clock ticks
	logAppends, logEntries          int64 // the benchmarked node's Raft log appends and the entries they held
	appliedEntries, appliedCommands int64
	logFsyncs, checkpointFsyncs     int64
	requests                        int64 // redis-benchmark requests over the counted runs
	profiled                        bool
	split                           []float64 // share of profiled CPU per component (components order)
	profileRPS                      float64
}

// clockTicks is Linux's USER_HZ, the unit of /proc/<pid>/stat's times: 100
// on every architecture keepkv builds for.
const clockTicks = 100

// cpuTicks returns the process's user+system CPU so far (fields 14 and 15
// of /proc/<pid>/stat), in clock ticks.
func (s *server) cpuTicks() int64 { return s.statField(14) + s.statField(15) }

// readCounters reads a keepkv system's counters: CPU of every node, the
// write path's totals from the benchmarked node's INFO persistence.
func readCounters(ctx context.Context, s system) (writeCounters, error) {
	var w writeCounters
	for _, n := range s.nodes {
		w.cpuTicks += n.cpuTicks()
	}
	c := redis.NewClient(&redis.Options{Addr: s.nodes[0].addr()})
	defer c.Close()
	info, err := c.Info(ctx, "persistence").Result()
	if err != nil {
		return w, fmt.Errorf("%s: INFO persistence: %w", s.name, err)
	}
	fields := map[string]*int64{
		"keepkv_log_appends": &w.logAppends, "keepkv_log_entries": &w.logEntries,
		"keepkv_applied_entries": &w.appliedEntries, "keepkv_applied_commands": &w.appliedCommands,
		"keepkv_log_fsyncs": &w.logFsyncs, "keepkv_checkpoint_fsyncs": &w.checkpointFsyncs,
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	found := 0
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if dst := fields[k]; ok && dst != nil {
			if *dst, err = strconv.ParseInt(v, 10, 64); err != nil {
				return w, fmt.Errorf("%s: INFO persistence %s: %q", s.name, k, v)
			}
			found++
		}
	}
	if found != len(fields) {
		return w, fmt.Errorf("%s: INFO persistence lacks the write path's counters (found %d of %d): %q", s.name, found, len(fields), info)
	}
	return w, nil
}

// add accumulates the difference after−before into w.
func (w *writeCounters) add(before, after writeCounters, requests int) {
	w.cpuTicks += after.cpuTicks - before.cpuTicks
	w.logAppends += after.logAppends - before.logAppends
	w.logEntries += after.logEntries - before.logEntries
	w.appliedEntries += after.appliedEntries - before.appliedEntries
	w.appliedCommands += after.appliedCommands - before.appliedCommands
	w.logFsyncs += after.logFsyncs - before.logFsyncs
	w.checkpointFsyncs += after.checkpointFsyncs - before.checkpointFsyncs
	w.requests += int64(requests)
}

func per(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// cpuPerRequest is the system's CPU per request in µs.
func (w writeCounters) cpuPerRequest() float64 {
	return per(w.cpuTicks*(1e6/clockTicks), w.requests)
}

// components split a CPU profile by what the time was spent on. A
// sample goes to the first component one of whose frames it holds; so a
// bbolt write under the Raft log store counts as the log store, one under
// the checkpointer as the checkpoint, and a socket read in a client's
// goroutine as socket I/O.
var components = []struct {
	name  string
	match []string // prefixes of function names
}{
	{"GC", []string{"runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.bgscavenge", "runtime._GC"}},
	{"Raft log store", []string{"github.com/hashicorp/raft-boltdb", "github.com/hashicorp/raft-wal"}},
	{"checkpoint", []string{"github.com/keepkv/keepkv/storage.(*DB).checkpointer"}},
	{"apply", []string{"github.com/keepkv/keepkv/replication.(*fsm).Apply"}},
	{"socket I/O", []string{"internal/poll.(*FD).", "syscall.read", "syscall.write"}},
	{"Raft", []string{"github.com/hashicorp/raft."}},
	{"commands", []string{"github.com/keepkv/keepkv/", "github.com/tidwall/redcon."}},
	{"runtime", []string{"runtime.", "internal/runtime/"}},
}

// componentNames lists the columns of the split: the components, then
// "other".
func componentNames() []string {
	var names []string
	for _, c := range components {
		names = append(names, c.name)
	}
	return append(names, "other")
}

// classify returns the component index of a sample's stack (leaf first).
func classify(fns []string) int {
	for ci, c := range components {
		for _, fn := range fns {
			for _, m := range c.match {
				if strings.HasPrefix(fn, m) {
					return ci
				}
			}
		}
	}
	return len(components)
}

// splitProfile returns each component's share of a CPU profile's samples.
func splitProfile(p *profile.Profile) (shares []float64, samples int64) {
	vi := len(p.SampleType) - 1 // cpu nanoseconds, after the sample count
	counts := make([]float64, len(components)+1)
	var total float64
	for _, s := range p.Sample {
		var fns []string
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				if l.Function != nil {
					fns = append(fns, l.Function.Name)
				}
			}
		}
		v := float64(s.Value[vi])
		counts[classify(fns)] += v
		total += v
		samples += s.Value[0]
	}
	if total > 0 {
		for i := range counts {
			counts[i] /= total
		}
	}
	return counts, samples
}

// profileRun runs one uncounted redis-benchmark while the node serving it
// records a CPU profile for about as long as the run should last (from
// the counted runs' median), and returns the run and the profile's split.
func profileRun(ctx context.Context, n *server, c cell, expect time.Duration) (sample, []float64, int64, error) {
	secs := max(int(expect.Seconds()), 1)
	type got struct {
		p   *profile.Profile
		err error
	}
	ch := make(chan got, 1)
	go func() {
		p, err := fetchProfile(ctx, n.pprof, secs)
		ch <- got{p, err}
	}()
	if cmd, ok := ownCommand[c.test]; ok {
		c.cmd = cmd
	}
	r, err := runCell(ctx, n.port, c)
	g := <-ch
	if err != nil {
		return sample{}, nil, 0, err
	}
	if g.err != nil {
		return sample{}, nil, 0, g.err
	}
	shares, samples := splitProfile(g.p)
	return r, shares, samples, nil
}

// ownCommand is, for a redis-benchmark test that first runs another to
// fill its keys, the test's own command, for the profiled run: the counted
// runs have filled the keys, and a profile of the fill would not say what
// bounds the test. redis-benchmark's lrange_100 fills "mylist" with LPUSH.
var ownCommand = map[string][]string{"lrange_100": {"LRANGE", "mylist", "0", "99"}}

// fetchProfile asks a keepkv node's --pprof-addr for a CPU profile.
func fetchProfile(ctx context.Context, addr string, secs int) (*profile.Profile, error) {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("CPU profile: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("CPU profile from %s: %s: %v %s", url, resp.Status, err, body)
	}
	return profile.ParseData(body)
}

// evidenceMarkdown is the results' section on what bounds each cell.
func (r report) evidenceMarkdown() string {
	if r.evidence == nil {
		return ""
	}
	var b strings.Builder
	names := componentNames()
	b.WriteString("\nWhat bounds keepkv in each cell, measured in the same run: process CPU per request (all of a system's nodes, over the counted repetitions, whose requests include those of a test's fill: LRANGE_100's LPUSHes), the benchmarked node's Raft commands per log entry, entries per log append and fdatasyncs (Raft log and checkpoints) per applied command, from `INFO persistence`; and the CPU profile of the benchmarked node in one extra, uncounted repetition (its req/s beside it; LRANGE_100's runs `LRANGE mylist 0 99` alone, without the fill), split by component (share of the profile's CPU; a sample counts for the first component one of its frames belongs to, in the order of the columns):\n\n")
	b.WriteString("| benchmark | system | CPU µs/req | cmds/entry | entries/append | fsyncs/cmd | profiled req/s |")
	for _, n := range names {
		fmt.Fprintf(&b, " %s |", n)
	}
	b.WriteString("\n|---|---|---|---|---|---|---|" + strings.Repeat("---|", len(names)) + "\n")
	for ci, c := range r.cells {
		for si, s := range r.systems {
			w := r.evidence[ci][si]
			if w == nil {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %.1f | %.1f | %.2f | %.3f |", c, s.name, w.cpuPerRequest(),
				per(w.appliedCommands, w.appliedEntries), per(w.logEntries, w.logAppends),
				per(w.logFsyncs+w.checkpointFsyncs, w.appliedCommands))
			if !w.profiled {
				b.WriteString(" – |" + strings.Repeat(" – |", len(names)) + "\n")
				continue
			}
			fmt.Fprintf(&b, " %.0f |", w.profileRPS)
			for _, sh := range w.split {
				fmt.Fprintf(&b, " %.0f %% |", 100*sh)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// targetsMarkdown is the results' table of the targets, each with
// what bounds it beside it when the run measured that: the raft-wal
// node's same ratio, the write path's counters, and the three largest
// components of the profiled CPU.
func (r report) targetsMarkdown() string {
	var b strings.Builder
	b.WriteString("\nTargets (issue 18)")
	if r.evidence != nil {
		b.WriteString(", with what bounds each (the raft-wal node's same ratio; CPU per request, commands per Raft entry, entries per log append, fdatasyncs per command and the largest shares of the profiled CPU, as in the table below)")
	}
	b.WriteString(":\n\n| target | measured | goal | met |")
	if r.evidence != nil {
		b.WriteString(" raft-wal node | CPU µs/req | cmds/entry | entries/append | fsyncs/cmd | largest shares of the profiled CPU |")
	}
	b.WriteString("\n|---|---|---|---|")
	if r.evidence != nil {
		b.WriteString(strings.Repeat("---|", 6))
	}
	b.WriteString("\n")
	names := componentNames()
	for _, t := range r.targets() {
		met := "no"
		if t.ok() {
			met = "yes"
		}
		fmt.Fprintf(&b, "| %s | %.2f | %s %g | %s |", t.what, t.got, t.cmp, t.goal, met)
		if r.evidence != nil {
			wal := "–"
			if t.wal >= 0 {
				wal = fmt.Sprintf("%.2f", t.wal)
			}
			w := r.evidence[t.cell][t.sys]
			fmt.Fprintf(&b, " %s | %.1f | %.1f | %.2f | %.3f | %s |", wal, w.cpuPerRequest(),
				per(w.appliedCommands, w.appliedEntries), per(w.logEntries, w.logAppends),
				per(w.logFsyncs+w.checkpointFsyncs, w.appliedCommands), w.largest(names, 3))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// largest names the k components with the largest shares of the profile.
func (w *writeCounters) largest(names []string, k int) string {
	if !w.profiled {
		return "–"
	}
	idx := make([]int, len(w.split))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(w.split[b], w.split[a]) })
	var parts []string
	for _, i := range idx[:min(k, len(idx))] {
		parts = append(parts, fmt.Sprintf("%s %.0f %%", names[i], 100*w.split[i]))
	}
	return strings.Join(parts, ", ")
}
