//go:build robustness

// Collections in the robustness workload (issue 14): a share of the unique
// writes add an element to a per-client hash, set, sorted set or list
// instead of setting a key. Every acknowledged element must be on every
// member at the end, read from the member's own state.

package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// collState holds the acknowledged elements: key → element → value.
type collState struct {
	mu    sync.Mutex
	acked map[string]map[string]string
}

// collOp adds element i to one of client id's collections, by i's kind.
// It reports false for the plain-SET share, which uniqueOp keeps.
func (w *workload) collOp(c *redis.Client, id, i int) bool {
	kind := i % 5
	if kind == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	elem, val := "e"+strconv.Itoa(i), strconv.Itoa(i)
	var key string
	var err error
	switch kind {
	case 1:
		key = fmt.Sprintf("uh:%d", id)
		err = c.HSet(ctx, key, elem, val).Err()
	case 2:
		key, val = fmt.Sprintf("us:%d", id), ""
		err = c.SAdd(ctx, key, elem).Err()
	case 3:
		key = fmt.Sprintf("uz:%d", id)
		err = c.ZAdd(ctx, key, redis.Z{Score: float64(i), Member: elem}).Err()
	case 4:
		key, val = fmt.Sprintf("ul:%d", id), ""
		err = c.RPush(ctx, key, elem).Err()
	}
	if err == nil {
		w.coll.mu.Lock()
		if w.coll.acked == nil {
			w.coll.acked = map[string]map[string]string{}
		}
		if w.coll.acked[key] == nil {
			w.coll.acked[key] = map[string]string{}
		}
		w.coll.acked[key][elem] = val
		w.coll.mu.Unlock()
		w.acked.Add(1)
	}
	return true
}

// auditColls reads every acknowledged element from n's own state.
func auditColls(n *rigNode, w *workload) (int, string) {
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: n.addr(), ReadTimeout: 10 * time.Second,
		OnConnect: func(ctx context.Context, cn *redis.Conn) error { return cn.ReadOnly(ctx).Err() }})
	defer c.Close()
	w.coll.mu.Lock()
	defer w.coll.mu.Unlock()
	for key, elems := range w.coll.acked {
		have := map[string]string{}
		var err error
		switch key[:2] {
		case "uh":
			have, err = c.HGetAll(ctx, key).Result()
		case "us":
			var ms []string
			ms, err = c.SMembers(ctx, key).Result()
			for _, m := range ms {
				have[m] = ""
			}
		case "uz":
			var zs []redis.Z
			zs, err = c.ZRangeWithScores(ctx, key, 0, -1).Result()
			for _, z := range zs {
				have[z.Member.(string)] = strconv.FormatFloat(z.Score, 'f', -1, 64)
			}
		case "ul":
			var ls []string
			ls, err = c.LRange(ctx, key, 0, -1).Result()
			for _, e := range ls {
				have[e] = ""
			}
		}
		if err != nil {
			return 1, fmt.Sprintf("cannot audit %s on %s: %v", key, n.id, err)
		}
		for e, v := range elems {
			if got, ok := have[e]; !ok || got != v {
				return 1, fmt.Sprintf("lost ack: element %s of %s on %s = %q (present %v), want %q", e, key, n.id, got, ok, v)
			}
		}
	}
	return 0, ""
}
