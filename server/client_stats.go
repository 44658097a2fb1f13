package server

import (
	"crypto/rand"
	"encoding/hex"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// INFO commandstats: for each command (each known subcommand of a
// container, "client|kill"), the calls that ran and the calls refused
// before running (wrong arity, NOAUTH, NOPERM, a monitor's keyspace
// command), as Redis's calls and rejected_calls. keepkv does not time
// commands nor tell failed calls apart, so Redis's usec, usec_per_call and
// failed_calls are left out. A command counts when it is dispatched; the
// commands of a MULTI count when EXEC runs them (also when WATCH aborts
// the transaction, unlike Redis).

// commandStats are the node's counters, created on first use.
type commandStats struct {
	m sync.Map // *command, or a subcommand's full name → *cmdCounter
}

type cmdCounter struct{ calls, rejected atomic.Int64 }

// count records one command.
func (cs *commandStats) count(cmd *command, args [][]byte, v verdict) {
	if cmd == nil || v == verdictUnknown {
		return
	}
	var key any = cmd
	if cmd.local != nil {
		if _, ok := containerSubs[cmd.name]; ok {
			name := fullName(cmd, args)
			if name == "" {
				return // an unknown subcommand: Redis finds no command
			}
			key = name
		}
	}
	c, ok := cs.m.Load(key)
	if !ok {
		c, _ = cs.m.LoadOrStore(key, new(cmdCounter))
	}
	if v == verdictRejected {
		c.(*cmdCounter).rejected.Add(1)
	} else {
		c.(*cmdCounter).calls.Add(1)
	}
}

// lines returns INFO commandstats's lines, by name.
func (cs *commandStats) lines() [][2]string {
	var out [][2]string
	cs.m.Range(func(k, v any) bool {
		c := v.(*cmdCounter)
		calls, rej := c.calls.Load(), c.rejected.Load()
		name, ok := k.(string)
		if !ok {
			name = k.(*command).name
		}
		if calls+rej > 0 {
			out = append(out, [2]string{"cmdstat_" + name, "calls=" + strconv.FormatInt(calls, 10) + ",rejected_calls=" + strconv.FormatInt(rej, 10)})
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

func (cs *commandStats) reset() {
	cs.m.Range(func(_, v any) bool {
		c := v.(*cmdCounter)
		c.calls.Store(0)
		c.rejected.Store(0)
		return true
	})
}

// opsRate is INFO's instantaneous_ops_per_sec: the commands per second
// since the previous sample, sampled when INFO asks, at most every 100 ms
// (Redis averages samples taken every 100 ms over 1.6 s; keepkv runs no
// sampler, so the window is the time between two INFOs, or since the
// start for the first).
type opsRate struct {
	mu   sync.Mutex
	at   time.Time
	n    int64
	last int64
}

func (o *opsRate) rate(now time.Time, total int64, start time.Time) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.at.IsZero() {
		o.at = start
	}
	if d := now.Sub(o.at); d >= 100*time.Millisecond {
		o.last = max(total-o.n, 0) * int64(time.Second) / int64(d)
		o.at, o.n = now, total
	}
	return o.last
}

func (o *opsRate) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.at, o.n, o.last = time.Now(), 0, 0
}

// runIDValue is INFO's run_id: random, new each time the process starts.
func (a *adminState) runIDValue() string {
	a.runOnce.Do(func() {
		b := make([]byte, 20)
		rand.Read(b)
		a.runID = hex.EncodeToString(b)
	})
	return a.runID
}
