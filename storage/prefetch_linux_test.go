package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Prefetch maps the pages that applying its entries will read: in a
// freshly opened file (nothing mapped, as after a restart), applying
// entries that overwrite 2,000 of 20,000 records maps about a page per
// record; after Prefetch of the same entries it maps almost nothing new.
// Entries at or below the applied index are not read.
func TestPrefetchMapsWhatApplyingWillRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	// No background checkpoints: only Prefetch and apply map pages here.
	// No read cache: its fill (fill.go) would read every record.
	opts := Options{InitialMmapSize: 1 << 26, CheckpointInterval: time.Hour, CheckpointMaxInterval: time.Hour, ReadCacheBytes: -1}
	writeSessionsFile(t, path, opts, 1<<50)
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// Every tenth session overwritten, 100 per entry; one entry already
	// applied.
	var entries []LogEntry
	for e := range 20 {
		var c []Cmd
		for i := range 100 {
			c = append(c, set(fmt.Sprintf("session:%d", (e*100+i)*10), "new", 0))
		}
		entries = append(entries, LogEntry{Index: uint64(e + 2), Data: entry(1, c...)})
	}
	stale := LogEntry{Index: 1, Data: entry(1, set("session:5", "old", 0), set("session:15", "old", 0))}

	applyMaps := func(prefetch bool) (byPrefetch, byApply int) {
		path := filepath.Join(t.TempDir(), "state.db") // a copy: the same state each time
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		before, total := mappedPages(t, db)
		if total < 2500 {
			t.Fatalf("the file has %d pages; 20k records of 500 bytes need more: the test is not testing", total)
		}
		procs := runtime.GOMAXPROCS(0)
		if prefetch {
			db.Prefetch(append([]LogEntry{stale}, entries...))
			if got := db.PrefetchedKeys(); got != 2000 {
				t.Errorf("Prefetch read %d keys, want the 2000 of the entries after the applied index", got)
			}
			if p := runtime.GOMAXPROCS(0); p != procs {
				t.Errorf("GOMAXPROCS %d after Prefetch, was %d", p, procs)
			}
		}
		prefetched, _ := mappedPages(t, db)
		mustApply(t, db, entries...)
		applied, _ := mappedPages(t, db)
		if v, ok := get(t, db, "session:1990", 1); !ok || v != "new" {
			t.Fatalf("session:1990 = %q, %v after the entries; want new", v, ok)
		}
		return prefetched - before, applied - prefetched
	}
	_, cold := applyMaps(false)
	byPrefetch, afterPrefetch := applyMaps(true)
	t.Logf("applying mapped %d pages in a fresh mapping; Prefetch mapped %d, then applying %d", cold, byPrefetch, afterPrefetch)
	if cold < 1000 {
		t.Fatalf("applying 2000 scattered overwrites mapped only %d pages of a fresh mapping: the test is not testing", cold)
	}
	if afterPrefetch > cold/20 {
		t.Fatalf("after Prefetch, applying still mapped %d pages (%d without Prefetch)", afterPrefetch, cold)
	}
}
