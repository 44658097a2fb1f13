package replication

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// keptLog returns how many entries the node's log store holds and their
// total size.
func keptLog(t *testing.T, d *diskNode) (n int, size int) {
	t.Helper()
	first, err := d.node.logStore.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := d.node.logStore.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	for i := first; i <= last && i > 0; i++ {
		var l raft.Log
		if err := d.node.logStore.GetLog(i, &l); err != nil {
			t.Fatalf("log %d of [%d, %d]: %v", i, first, last, err)
		}
		n++
		size += len(l.Data)
	}
	return n, size
}

// The log kept after a snapshot is bounded by --trailing-log-bytes as
// well as by the --trailing-logs count: large entries keep few, small
// entries keep up to the count, and after a restart (the sizes of the
// entries before it unknown) the bound is estimated from the entries
// applied since.
func TestTrailingLogBytesBoundTheKeptLog(t *testing.T) {
	for _, kind := range []string{"bolt", "wal"} {
		t.Run(kind, func(t *testing.T) { testTrailingLogBytes(t, kind) })
	}
}

func testTrailingLogBytes(t *testing.T, kind string) {
	const bound = 1 << 20
	dir := t.TempDir()
	tweak := func(c *Config) {
		c.LogStoreKind = kind
		c.TrailingLogs = 1000
		c.TrailingLogBytes = bound
		c.SnapshotThreshold = 1 << 30 // snapshots only when the test takes one
	}
	d := startDiskNode(t, dir, tweak)
	ctx := context.Background()
	big := strings.Repeat("v", 8<<10)
	apply := func(n int, prefix, value string) {
		t.Helper()
		for i := range n {
			if _, err := d.node.Apply(ctx, setEntry(fmt.Sprintf("%s%d", prefix, i), value)); err != nil {
				t.Fatal(err)
			}
		}
	}
	snapshot := func() (int, int) {
		t.Helper()
		if err := d.node.Raft().Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
		return keptLog(t, d)
	}

	// 300 entries of 8 KiB (2.4 MiB): about 128 of them fit in 1 MiB.
	apply(300, "big", big)
	n, size := snapshot()
	if size > bound || n < 120 {
		t.Fatalf("after 300 8 KiB entries the log keeps %d entries, %d bytes; want about 128, at most %d bytes", n, size, bound)
	}
	if st := d.node.Status(); st.TrailingLogs != uint64(n) || st.LastIndex-st.FirstIndex+1 != uint64(n) {
		t.Fatalf("status: trailing logs %d, first index %d, last %d; the log keeps %d", st.TrailingLogs, st.FirstIndex, st.LastIndex, n)
	}

	// Small entries: the count bounds what is kept, not the bytes.
	apply(1500, "small", "x")
	n, size = snapshot()
	if n != 1000 || size > bound {
		t.Fatalf("after 1500 small entries the log keeps %d entries, %d bytes; want 1000", n, size)
	}

	// One entry larger than the bound still leaves minTrailing entries.
	apply(1, "huge", strings.Repeat("h", 2*bound))
	if n, _ = snapshot(); n != minTrailing {
		t.Fatalf("after an entry larger than the bound the log keeps %d entries; want %d", n, minTrailing)
	}
	apply(300, "big2-", big)
	if n, size = snapshot(); size > bound || n < 120 {
		t.Fatalf("after 300 more 8 KiB entries the log keeps %d entries, %d bytes", n, size)
	}
	d.stop(t)

	// After a restart the sizes of the entries before the last snapshot
	// are unknown: 20 new 8 KiB entries stand for them, so again about
	// 128 entries are kept, not the ~128 old ones and the 20 new ones.
	d = startDiskNode(t, dir, tweak)
	defer d.stop(t)
	if err := d.node.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	apply(20, "big3-", big)
	n, size = snapshot()
	if size > bound+8<<10+200 || n < 120 || n > 140 {
		t.Fatalf("after a restart the log keeps %d entries, %d bytes; want about 128, about %d bytes", n, size, bound)
	}
}

// logTail's ring: gaps count as empty entries, a jump beyond the ring or
// back restarts it, and older entries than the ring holds are estimated.
func TestLogTailRing(t *testing.T) {
	tail := newLogTail(100_000, 200)
	if got := tail.trailing(5); got != 200 {
		t.Fatalf("with nothing recorded: %d, want the count (200)", got)
	}
	for i := uint64(1); i <= 200; i++ {
		tail.add(i, 1000)
	}
	tail.add(250, 1000) // 201..249: no-ops, empty (their slots held 1..49)
	if got := tail.trailing(250); got != 149 {
		// 250, 249..201 (empty), 200..102: 100 entries of 1000 bytes.
		t.Fatalf("with gaps: %d, want 149", got)
	}
	big := newLogTail(10_000, 1000)
	for i := uint64(1); i <= 50; i++ {
		big.add(i, 100)
	}
	if got := big.trailing(50); got != 100 {
		t.Fatalf("50 entries of 100 bytes under a 10,000-byte bound: %d, want 100 (50 seen, 50 estimated)", got)
	}
	big.add(3000, 10) // beyond the ring: starts over
	if got := big.trailing(3000); got != 1000 {
		t.Fatalf("one 10-byte entry: %d, want the count (1000)", got)
	}
	big.reset()
	for i := uint64(1); i <= 2000; i++ {
		big.add(i, 20)
	}
	if got := big.trailing(2000); got != 500 {
		t.Fatalf("2000 entries of 20 bytes under 10,000: %d, want 500", got)
	}
}
