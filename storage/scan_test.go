package storage

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// scanPages runs a whole Scan of db 0 with the given count and returns each
// page's keys. It fails the test if a cursor is not below MaxCursor, or if
// the scan does not end within limit pages.
func scanPages(t *testing.T, db *DB, count, limit int) [][]string {
	t.Helper()
	var pages [][]string
	cursor := uint64(0)
	for range limit {
		var res ScanResult
		if err := db.View(func(r *Reader) error {
			res = r.Scan(0, cursor, count, 1, func([]byte, Value) bool { return true })
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var page []string
		for _, k := range res.Keys {
			page = append(page, string(k))
		}
		pages = append(pages, page)
		if res.Cursor >= MaxCursor {
			t.Fatalf("Scan returned cursor %d, not below 2^53", res.Cursor)
		}
		if res.Cursor == 0 {
			return pages
		}
		if res.Cursor <= cursor {
			t.Fatalf("cursor went from %d to %d", cursor, res.Cursor)
		}
		cursor = res.Cursor
	}
	t.Fatalf("scan with COUNT %d did not end within %d pages", count, limit)
	return nil
}

// checkOnce fails the test unless the pages hold every key in want exactly
// once and nothing else.
func checkOnce(t *testing.T, pages [][]string, want map[string]bool) {
	t.Helper()
	seen := map[string]int{}
	for _, page := range pages {
		for _, k := range page {
			seen[k]++
		}
	}
	for k := range want {
		if seen[k] != 1 {
			t.Fatalf("key %q returned %d times", k, seen[k])
		}
	}
	for k, n := range seen {
		if !want[k] {
			t.Fatalf("key %q returned %d times but never stored", k, n)
		}
	}
}

// TestScanCursorsBelow2To53 stores a few thousand keys through apply and
// scans them with small counts: every cursor must stay below 2^53 (the
// cursors used to be 64-bit hashes, which JavaScript clients round) and
// every key must come back exactly once.
func TestScanCursorsBelow2To53(t *testing.T) {
	db := mustOpen(t)
	want := map[string]bool{}
	var cmds []Cmd
	for i := range 3000 {
		k := fmt.Sprintf("session:%d", i)
		want[k] = true
		cmds = append(cmds, set(k, "v", 0))
	}
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1, cmds...)})
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, count := range []int{1, 2, 10, 50, 1000, 5000} {
		pages := scanPages(t, db, count, 4000)
		checkOnce(t, pages, want)
		if count <= 50 && len(pages) < 3000/count {
			t.Fatalf("COUNT %d: only %d pages for 3000 keys", count, len(pages))
		}
	}
}

// TestScanNeverSplitsACursorPrefix forces what xxhash makes vanishingly rare
// (two keys in 2^53 share a cursor): it writes records straight into the
// bucket under chosen hashes, in groups that share their top 53 bits (and
// some the whole 64), including the lowest and highest possible cursors.
// Scan must never stop inside a group, since the next page would start at
// the group's first key again: each key comes back exactly once, and each
// group on one page.
func TestScanNeverSplitsACursorPrefix(t *testing.T) {
	db := mustOpen(t)
	r := rand.New(rand.NewPCG(53, 11))
	want := map[string]bool{}
	groupOf := map[string]int{}
	prefixes := []uint64{0, 1, 2, 1 << 20, 1<<52 + 7, MaxCursor - 2, MaxCursor - 1}
	for range 40 {
		prefixes = append(prefixes, r.Uint64N(MaxCursor))
	}
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(dbBuckets[0])
		put := func(hash uint64, key string, group int) error {
			k := make([]byte, 8+len(key))
			binary.BigEndian.PutUint64(k, hash)
			copy(k[8:], key)
			want[key] = true
			groupOf[key] = group
			return b.Put(k, encodeRecord(TypeString, 0, []byte("v")))
		}
		for g, p := range prefixes {
			n := 1 + r.IntN(12)
			for j := range n {
				low := r.Uint64N(1 << cursorShift)
				if j%3 == 2 {
					low = 0 // some keys share the whole hash too
				}
				if err := put(p<<cursorShift|low, fmt.Sprintf("g%d-%d", g, j), g); err != nil {
					return err
				}
			}
		}
		// Ordinary keys between the groups, one group each.
		for i := range 500 {
			key := fmt.Sprintf("plain%d", i)
			if err := put(keyHash([]byte(key)), key, len(prefixes)+i); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, count := range []int{1, 2, 3, 5, 8, 100} {
		pages := scanPages(t, db, count, 10000)
		checkOnce(t, pages, want)
		pageOf := map[int]int{}
		for i, page := range pages {
			for _, k := range page {
				g := groupOf[k]
				if p, ok := pageOf[g]; ok && p != i {
					t.Fatalf("COUNT %d: group %d split between pages %d and %d", count, g, p, i)
				}
				pageOf[g] = i
			}
		}
	}
}

// TestScanCursorPastTheEnd: a cursor Scan never returns (>= 2^53, e.g. a
// client's made-up one or an old 64-bit cursor) ends the scan at once
// instead of wrapping around, and a count below 1 still makes progress.
func TestScanCursorPastTheEnd(t *testing.T) {
	db := mustOpen(t)
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1, set("a", "v", 0), set("b", "v", 0), set("c", "v", 0))})
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	db.View(func(r *Reader) error {
		for _, cur := range []uint64{MaxCursor, MaxCursor + 1, 1 << 63, ^uint64(0)} {
			res := r.Scan(0, cur, 10, 1, func([]byte, Value) bool { return true })
			if res.Cursor != 0 || len(res.Keys) != 0 {
				t.Errorf("Scan from %d = %d keys, cursor %d; want none, 0", cur, len(res.Keys), res.Cursor)
			}
		}
		for _, count := range []int{0, -1} {
			res := r.Scan(0, 0, count, 1, func([]byte, Value) bool { return true })
			if len(res.Keys) != 1 || res.Cursor == 0 {
				t.Errorf("Scan COUNT %d = %d keys, cursor %d; want 1 key and a cursor", count, len(res.Keys), res.Cursor)
			}
		}
		return nil
	})
}
