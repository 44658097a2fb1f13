//go:build robustness

// Hostile commands for the robustness workload (issue 13, DESIGN.md
// promises 5 and 6): a share of the client operations are drawn from an
// edge corpus (integer overflows, ±2^63 offsets and deadlines, glob bombs,
// huge SCAN cursors, 1 MiB values, unknown commands, wrong arity, binary
// garbage, malformed protocol) and sent through random nodes while the
// nemesis runs. They use their own keys (prefix "hostile:", plus the one
// 40-character key "aaaa…" the glob bomb needs) and their own connections,
// so they never touch what the linearizability checker tracks nor the
// state of its connections. Their replies are not checked: a node must
// answer or fail only because of a fault. What is checked, at the end:
// every node is alive and never crashed (no Go panic or fatal error in any
// node's log, no apply panic that had to be recovered), and the digests
// converge, hostile keys included (DEBUG DIGEST covers the whole state).
package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// hostileShare is one in this many client operations.
const hostileShare = 20

// hostileState is the workload's record of hostile commands; the zero
// value is ready.
type hostileState struct {
	sent     atomic.Int64
	answered atomic.Int64 // a reply, an error reply, or the node closing a bad connection
	mu       sync.Mutex
	failed   map[string]int           // kind → operations the network failed (faults, timeouts)
	clients  map[string]*redis.Client // node id → a pool only hostile commands use
}

var (
	globBomb     = strings.Repeat("a*", 20) + "b"
	globBombKey  = strings.Repeat("a", 40)
	hostileMiB   = strings.Repeat("x", 1<<20)
	hostileInts  = []string{"0", "-1", "1", "2147483648", "-2147483648", "9007199254740992", "9223372036854775807", "-9223372036854775807", "-9223372036854775808", "9223372036854775808", "18446744073709551616", "16777216"}
	hostileNums  = []string{"", "nan", "inf", "-inf", "1e400", "0x10", " 1", "1 ", "+1", "01", "1e4000", "-0", "\x00", "\xff\xfe"}
	hostileEdges = append(append([]string{}, hostileInts...), hostileNums...)
	hostileRaw   = []string{"*99999999999\r\n", "*1\r\n$999999999999\r\n", "\x00\xff\r\n", "*-1\r\n", "*2\r\n$3\r\nGET\r\n$-1\r\n", "*1\r\n:1\r\n", "GET \"unterminated\r\n", "*3\r\n$3\r\nSET\r\n$12\r\nhostile:raw\r\n$5\r\nab\r\n", "$5\r\nhello\r\n", "*0\r\n*1\r\n$0\r\n\r\n"}
	hostileKinds = []func(id, i int, rng *rand.Rand) (string, []any){
		func(id, _ int, _ *rand.Rand) (string, []any) {
			return "setrange-max", []any{"SETRANGE", hkey("sr", id), "9223372036854775807", "A"}
		},
		func(id, _ int, _ *rand.Rand) (string, []any) {
			return "setrange-max-1", []any{"SETRANGE", hkey("sr", id), "9223372036854775806", "AB"}
		},
		func(id, _ int, rng *rand.Rand) (string, []any) {
			return "setrange-edge", []any{"SETRANGE", hkey("sr", id), pick(rng, hostileInts), pick(rng, []string{"", "x", "\x00\r\n"})}
		},
		func(id, _ int, rng *rand.Rand) (string, []any) {
			return "incrby-overflow", []any{"INCRBY", hkey("num", id), pick(rng, []string{"9223372036854775807", "-9223372036854775808", "4611686018427387904"})}
		},
		func(id, _ int, rng *rand.Rand) (string, []any) {
			return "decrby-edge", []any{"DECRBY", hkey("num", id), pick(rng, hostileEdges)}
		},
		func(id, _ int, rng *rand.Rand) (string, []any) {
			return "incrbyfloat-edge", []any{"INCRBYFLOAT", hkey("f", id), pick(rng, append([]string{"1e308", "1.7976931348623157e308", "-1e-400"}, hostileNums...))}
		},
		func(_, _ int, rng *rand.Rand) (string, []any) {
			return "getrange-edge", []any{"GETRANGE", "hostile:str", pick(rng, hostileInts), pick(rng, hostileInts)}
		},
		func(id, _ int, rng *rand.Rand) (string, []any) {
			cmd := pick(rng, []string{"EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"})
			args := []any{cmd, hkey("exp", id), pick(rng, hostileEdges)}
			if rng.IntN(2) == 0 {
				args = append(args, pick(rng, []string{"GT", "LT", "NX", "XX", "gt", "bogus"}))
			}
			return "expire-edge", args
		},
		func(id, _ int, rng *rand.Rand) (string, []any) {
			args := []any{"SET", hkey("exp", id), "v"}
			if rng.IntN(4) > 0 {
				args = append(args, pick(rng, []string{"EX", "PX", "EXAT", "PXAT"}), pick(rng, hostileInts))
			}
			if rng.IntN(3) == 0 {
				args = append(args, pick(rng, []string{"KEEPTTL", "GET", "NX", "XX", "EX"}))
			}
			return "set-expiry-edge", args
		},
		func(id, _ int, rng *rand.Rand) (string, []any) {
			return "setex-edge", []any{pick(rng, []string{"SETEX", "PSETEX"}), hkey("exp", id), pick(rng, hostileInts), "v"}
		},
		func(_, _ int, rng *rand.Rand) (string, []any) {
			if rng.IntN(3) == 0 {
				return "getex-edge", []any{"GETEX", "hostile:str", "PERSIST"}
			}
			return "getex-edge", []any{"GETEX", "hostile:str", pick(rng, []string{"EX", "PX", "EXAT", "PXAT"}), pick(rng, hostileInts)}
		},
		func(_, _ int, rng *rand.Rand) (string, []any) {
			return "keys-glob-bomb", []any{"KEYS", pick(rng, []string{globBomb, "hostile:" + globBomb, "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*[", "[[[[[[[[[[\\"})}
		},
		func(_, _ int, rng *rand.Rand) (string, []any) {
			args := []any{"SCAN", pick(rng, []string{"18446744073709551615", "9223372036854775808", "9007199254740993", "-1", "0", "abc", ""})}
			if rng.IntN(2) == 0 {
				args = append(args, "MATCH", pick(rng, []string{globBomb, "hostile:" + globBomb, "[\\"}))
			}
			if rng.IntN(2) == 0 {
				args = append(args, "COUNT", pick(rng, []string{"0", "-1", "1", "9223372036854775807", "1000"}))
			}
			if rng.IntN(4) == 0 {
				args = append(args, "TYPE", pick(rng, []string{"string", "\x00", "bogus"}))
			}
			return "scan-edge", args
		},
		func(id, i int, _ *rand.Rand) (string, []any) {
			return "append-1mib", []any{"APPEND", fmt.Sprintf("hostile:app:%d:%d", id, i), hostileMiB}
		},
		func(_, _ int, rng *rand.Rand) (string, []any) {
			return "unknown-command", []any{pick(rng, []string{"HOSTILE", "\x00\xff", "SETRANGEX", "", "GET\r\n", "FWD"}), "hostile:k"}
		},
		func(_, _ int, rng *rand.Rand) (string, []any) {
			arity := [][]any{{"GET"}, {"SET", "hostile:k"}, {"SETRANGE", "hostile:k", "1"}, {"EXPIRE"}, {"GETRANGE", "hostile:k", "1"},
				{"INCRBY", "hostile:k"}, {"MSET", "hostile:k"}, {"MSET", "hostile:a", "1", "hostile:b"}, {"RENAME", "hostile:k"}, {"GETEX"}, {"KEYS"}, {"SCAN"}}
			return "wrong-arity", arity[rng.IntN(len(arity))]
		},
		func(id, i int, rng *rand.Rand) (string, []any) {
			key := "hostile:bin:" + garbage(rng, 16)
			if i%4 == 0 { // bound the keys garbage leaves behind
				key = fmt.Sprintf("hostile:bin:%d", id)
			}
			return "binary-garbage", []any{pick(rng, []string{"SET", "APPEND", "GETSET", "SETNX", "INCRBYFLOAT", "INCRBY"}), key, garbage(rng, 64)}
		},
		func(id, _ int, rng *rand.Rand) (string, []any) {
			a, b := hkey("mset", id), hkey("mset", id)+":b"
			return "mset-duplicates", []any{pick(rng, []string{"MSET", "MSETNX"}), a, "1", a, "2", b, garbage(rng, 8), a, "3"}
		},
		func(id, _ int, rng *rand.Rand) (string, []any) {
			a := hkey("ren", id)
			switch rng.IntN(3) {
			case 0:
				return "rename-self", []any{"RENAME", "hostile:str", "hostile:str"}
			case 1:
				return "rename-self", []any{"RENAMENX", a, a}
			}
			return "rename-self", []any{"RENAME", a + ":missing", a}
		},
		func(_, _ int, rng *rand.Rand) (string, []any) {
			args := []any{pick(rng, []string{"MGET", "EXISTS", "DEL"})}
			for j := range 5000 {
				args = append(args, fmt.Sprintf("hostile:many:%d", j%64))
			}
			return "many-args", args
		},
	}
)

func hkey(kind string, id int) string { return fmt.Sprintf("hostile:%s:%d", kind, id) }

func pick(rng *rand.Rand, from []string) string { return from[rng.IntN(len(from))] }

func garbage(rng *rand.Rand, max int) string {
	b := make([]byte, rng.IntN(max+1))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return string(b)
}

// hostileClient returns a connection pool to n that only hostile commands
// use: whatever they do to a connection never reaches the checked workload.
func (w *workload) hostileClient(n *rigNode) *redis.Client {
	h := &w.hostile
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.clients == nil {
		h.clients = map[string]*redis.Client{}
	}
	c, ok := h.clients[n.id]
	if !ok {
		c = redis.NewClient(&redis.Options{Addr: n.addr(), MaxRetries: -1, DialTimeout: 500 * time.Millisecond,
			ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second, PoolSize: 4})
		h.clients[n.id] = c
	}
	return c
}

// hostileOp sends one hostile command to n. Only the transport's outcome
// is recorded.
func (w *workload) hostileOp(n *rigNode, id, i int, rng *rand.Rand) {
	h := &w.hostile
	h.sent.Add(1)
	k := rng.IntN(len(hostileKinds) + 1)
	if k == len(hostileKinds) {
		w.noteHostile("malformed-protocol", hostileRawOp(n, pick(rng, hostileRaw)))
		return
	}
	kind, args := hostileKinds[k](id, i, rng)
	c := w.hostileClient(n)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := c.Do(ctx, args...).Err()
	if kind == "append-1mib" && answered(err) {
		c.Del(ctx, args[1].(string)) // keep the store small; its outcome does not matter
	}
	w.noteHostile(kind, err)
}

// hostileRawOp writes malformed protocol on a connection of its own and
// reads whatever comes back.
func hostileRawOp(n *rigNode, raw string) error {
	conn, err := net.DialTimeout("tcp", n.addr(), 500*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte(raw)); err != nil {
		return err
	}
	// A reply, the node closing a connection it cannot parse, or the node
	// waiting for the rest of an incomplete command: all fine here; the
	// node is checked for life at the end.
	conn.Read(make([]byte, 4096))
	return nil
}

// answered reports whether the node answered: with a value, nil, or an
// error reply. Anything else is the network's failure.
func answered(err error) bool {
	var re redis.Error
	return err == nil || errors.Is(err, redis.Nil) || errors.As(err, &re)
}

func (w *workload) noteHostile(kind string, err error) {
	if answered(err) {
		w.hostile.answered.Add(1)
		return
	}
	h := &w.hostile
	h.mu.Lock()
	if h.failed == nil {
		h.failed = map[string]int{}
	}
	h.failed[kind]++
	h.mu.Unlock()
}

// hostileSummary is the log line about hostile commands.
func (w *workload) hostileSummary() string {
	h := &w.hostile
	h.mu.Lock()
	defer h.mu.Unlock()
	kinds := make([]string, 0, len(h.failed))
	for k, v := range h.failed {
		kinds = append(kinds, k+":"+strconv.Itoa(v))
	}
	sort.Strings(kinds)
	return fmt.Sprintf("hostile commands: sent %d, answered %d, failed by the network %v", h.sent.Load(), h.answered.Load(), kinds)
}

// seedHostile stores the keys hostile commands aim at: the 40-character
// subject of the glob bomb and a few strings.
func (w *workload) seedHostile(t *testing.T) {
	seeds := [][2]string{{globBombKey, "1"}, {"hostile:" + globBombKey, "1"}, {"hostile:str", "hello"}}
	deadline := time.Now().Add(30 * time.Second)
	for _, kv := range seeds {
		for {
			var err error
			if l := w.r.leader(); l != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				err = w.r.client(l).Set(ctx, kv[0], kv[1], 0).Err()
				cancel()
			} else {
				err = errors.New("no leader")
			}
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cannot seed %q: %v", kv[0], err)
			}
			time.Sleep(100 * time.Millisecond) // another process's state: poll
		}
	}
}

func (w *workload) closeHostile() {
	h := &w.hostile
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.clients {
		c.Close()
	}
}

// crashLine matches what the Go runtime writes when a process dies of a
// panic or a fatal error, and the line a node logs when apply recovered
// from a panic (a command validation should have refused).
var crashLine = regexp.MustCompile(`(?m)^(panic: |fatal error: )|command panicked in apply`)

// checkSurvival checks that no node died or needed its last line of
// defence: every member's process still runs and answers PING, and no
// node's log (removed nodes' included) shows a crash.
func checkSurvival(t *testing.T, r *rig, art string) int {
	violations := 0
	for _, n := range r.members() {
		select {
		case <-n.p.done:
			violation(t, "node %s is not running at the end", n.id)
			violations++
			continue
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := r.client(n).Ping(ctx).Err()
		cancel()
		if err != nil {
			violation(t, "node %s does not answer PING at the end: %v", n.id, err)
			violations++
		}
	}
	logs, _ := filepath.Glob(filepath.Join(art, "*.log"))
	for _, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if loc := crashLine.FindIndex(b); loc != nil {
			end := min(loc[0]+300, len(b))
			violation(t, "%s shows a crash: %q", filepath.Base(path), b[loc[0]:end])
			violations++
		}
	}
	return violations
}
