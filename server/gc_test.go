package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A deleted big hash answers DEL at once; the leader's driver then drains
// its element records through OpGC entries until nothing is pending, and
// the key, recreated meanwhile, never sees an old field.
func TestDeletedBigCollectionIsCollected(t *testing.T) {
	s := startServer(t, nil)
	c := client(t, s.Addr().String(), 2)
	ctx := context.Background()
	pipe := c.Pipeline()
	for i := range 20_000 {
		pipe.HSet(ctx, "big", fmt.Sprintf("f%05d", i), "v")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if n := c.HLen(ctx, "big").Val(); n != 20_000 {
		t.Fatalf("HLEN %d", n)
	}
	if n := c.Del(ctx, "big").Val(); n != 1 {
		t.Fatalf("DEL %d", n)
	}
	if err := c.HSet(ctx, "big", "new", "1").Err(); err != nil {
		t.Fatal(err)
	}
	pending := func() string {
		for _, l := range strings.Split(c.Info(ctx, "persistence").Val(), "\r\n") {
			if v, ok := strings.CutPrefix(l, "keepkv_gc_pending_collections:"); ok {
				return v
			}
		}
		return "missing"
	}
	deadline := time.Now().Add(30 * time.Second)
	for pending() != "0" {
		if time.Now().After(deadline) {
			t.Fatalf("garbage still pending after 30s: %s", pending())
		}
		time.Sleep(20 * time.Millisecond) // the driver's progress: poll INFO
	}
	if got := c.HGetAll(ctx, "big").Val(); len(got) != 1 || got["new"] != "1" {
		t.Fatalf("recreated hash = %v", got)
	}
	if s.DB().GarbageCount() != 0 {
		t.Fatal("garbage count")
	}
}
