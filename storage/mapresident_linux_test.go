package storage

import (
	"path/filepath"
	"testing"
	"time"
)

// A reopened file is mapped afresh: none of its pages is mapped into the
// process, though the page cache holds them all (the test just wrote
// them). The fill a restarted node starts maps them (mapResident), so
// that reads find them without a fault.
func TestFillMapsTheCachedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	opts := Options{CheckpointInterval: time.Hour, ReadCacheBytes: -1}
	writeSessionsFile(t, path, opts, 0)
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	before, total := mappedPages(t, db)
	if total < 2000 {
		t.Fatalf("the file has %d pages, want a few thousand", total)
	}
	if before > total/10 {
		t.Fatalf("%d of %d pages mapped right after open, want few", before, total)
	}
	db.Fill()
	waitFill(db)
	after, _ := mappedPages(t, db)
	if after < total*9/10 {
		t.Fatalf("after the fill %d of %d pages are mapped (%d before), want nearly all", after, total, before)
	}
	if got := db.mapResident(); got < after*9/10 {
		t.Fatalf("mapResident reports %d pages, %d are mapped", got, after)
	}
	t.Logf("mapped: %d of %d pages before the fill, %d after", before, total, after)
}

// bbolt's mapping is 64 GiB of address space unless the process may not
// have that much: then a quarter of its limit, never less than 1 GiB.
func TestMmapSizeUnderAnAddressSpaceLimit(t *testing.T) {
	for _, c := range []struct {
		limit uint64
		want  int
	}{
		{0, 64 << 30},
		{1 << 40, 64 << 30},
		{16 << 30, 4 << 30},
		{2 << 30, 1 << 30},
		{100 << 20, 1 << 30},
	} {
		if got := mmapSizeFor(c.limit); got != c.want {
			t.Errorf("limit %d: mapping of %d bytes, want %d", c.limit, got, c.want)
		}
	}
}
