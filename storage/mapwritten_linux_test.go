package storage

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// mappedPages returns how many of the bbolt file's pages (up to its
// high-water mark) are mapped into this process, from /proc/self/pagemap
// (bit 63 of a virtual page's entry: present).
func mappedPages(t *testing.T, db *DB) (mapped, total int) {
	t.Helper()
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		t.Fatalf("this test needs /proc/self/pagemap: %v", err)
	}
	defer f.Close()
	ps := os.Getpagesize()
	err = db.bolt.View(func(tx *bolt.Tx) error {
		total = int(tx.Size()) / ps
		buf := make([]byte, 8*total)
		if _, err := f.ReadAt(buf, int64(db.bolt.Info().Data/uintptr(ps))*8); err != nil {
			return err
		}
		for i := range total {
			if binary.LittleEndian.Uint64(buf[8*i:])&(1<<63) != 0 {
				mapped++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return mapped, total
}

// writeSessionsFile writes 20,000 sessions of 500 bytes (deadline 0: none)
// into a new file at path, opened with opts, and closes it (checkpointing
// everything): a file of several thousand pages.
func writeSessionsFile(t *testing.T, path string, opts Options, deadline int64) {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	value := strings.Repeat("v", 500)
	cmds := make([]Cmd, 20_000)
	for i := range cmds {
		cmds[i] = set(fmt.Sprintf("session:%d", i), value, deadline)
	}
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1, cmds...)})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// A checkpoint's pages reach the file by pwrite, unmapped: the
// checkpointer reads them back so that they are mapped (mapWritten), and
// the next checkpoint or read finds them without a fault, let alone a
// disk read. Only what the checkpointer itself does maps them here: the
// test reads no key.
func TestCheckpointerMapsThePagesItWrote(t *testing.T) {
	ckpts := make(chan struct{}, 8)
	db, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{InitialMmapSize: 1 << 26, CheckpointInterval: time.Millisecond, CheckpointMaxInterval: time.Millisecond,
		OnCheckpoint: func(time.Duration, int64) { ckpts <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	value := strings.Repeat("v", 500)
	cmds := make([]Cmd, 20_000)
	for i := range cmds {
		cmds[i] = set(fmt.Sprintf("session:%d", i), value, 0)
	}
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1, cmds...)})
	<-ckpts
	// The checkpointer maps what it wrote before it takes the next
	// checkpoint: once that one is done, the first one's pages are mapped.
	mustApply(t, db, LogEntry{Index: 2, Data: entry(1, set("other", "v", 0))})
	<-ckpts
	mapped, total := mappedPages(t, db)
	t.Logf("%d of the file's %d pages mapped", mapped, total)
	if total < 2500 {
		t.Fatalf("the file has %d pages; 20k keys of 500 bytes need more: the test is not testing", total)
	}
	if mapped < total*3/4 {
		t.Fatalf("%d of the file's %d pages are mapped after the checkpointer wrote them; want at least 3/4", mapped, total)
	}
}
