package replication

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keepkv/keepkv/storage"
)

func setEntry(key, value string) []byte {
	e := storage.Entry{Now: 1, Cmds: []storage.Cmd{{Op: storage.OpSet, Keys: [][]byte{[]byte(key)}, Vals: [][]byte{[]byte(value)}}}}
	return e.Encode()
}

// A restart whose state file is behind the log (a crash before the
// checkpoint) reads the records of the entries it will replay ahead, and
// applies none of them until they are read.
func TestReplayWaitsForReadAhead(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	d := startDiskNode(t, dir, nil)
	if _, err := d.node.Apply(ctx, setEntry("k0", "v0")); err != nil {
		t.Fatal(err)
	}
	d.stop(t)
	state := filepath.Join(dir, "state.db")
	old, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	d = startDiskNode(t, dir, nil)
	for i := 1; i <= 50; i++ {
		if _, err := d.node.Apply(ctx, setEntry(fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	d.stop(t)
	// The crash: the state file as it was before the 50 entries.
	if err := os.WriteFile(state, old, 0o600); err != nil {
		t.Fatal(err)
	}

	reached, release := make(chan struct{}), make(chan struct{})
	readAheadHook = func() {
		close(reached)
		<-release
	}
	t.Cleanup(func() { readAheadHook = nil })
	d = startDiskNode(t, dir, nil)
	defer d.stop(t)
	var released sync.Once
	releaseAhead := func() { released.Do(func() { close(release) }) }
	defer releaseAhead() // before stop: Close waits for the read-ahead
	<-reached
	before := d.db.AppliedIndex()
	// While the read-ahead is held, the node elects itself and commits the
	// replayed entries, but must not apply them: a read barrier (which
	// waits for them) cannot complete. The window is how long the test
	// gives a wrong FSM to apply them; the right one never does.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err = d.node.ReadBarrier(short)
	cancel()
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read barrier while the read-ahead is held: %v, want the deadline to pass (applied index %d, was %d)", err, d.db.AppliedIndex(), before)
	}
	if got := d.db.AppliedIndex(); got != before {
		t.Fatalf("applied index %d while the read-ahead is held, was %d", got, before)
	}
	releaseAhead()
	if err := d.node.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	if got := d.db.PrefetchedKeys(); got != 50 {
		t.Errorf("%d keys read ahead, want the 50 the replayed entries name", got)
	}
	for _, i := range []int{0, 1, 50} {
		if v := readKey(t, d.db, fmt.Sprintf("k%d", i)); v != fmt.Sprintf("v%d", i) {
			t.Errorf("k%d = %q after the replay", i, v)
		}
	}
}
