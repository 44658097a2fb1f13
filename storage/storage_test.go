package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// mustOpen opens a fresh DB. The first DB a test opens files every
// deletion of a record with a deadline for a later sweep (dead.go), however
// few a checkpoint holds; the second deletes records in place; and so on
// alternately: single-DB tests run the filed deletions' paths, and tests
// that compare replicas compare the two ways.
func mustOpen(t testing.TB) *DB {
	t.Helper()
	fileAt := 1
	opened.Lock()
	if opened.n[t.Name()]++; opened.n[t.Name()]%2 == 0 {
		fileAt = -1
	}
	opened.Unlock()
	db, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{InitialMmapSize: 1 << 24, FileDeletionsAt: fileAt})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var opened = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

func entry(now int64, cmds ...Cmd) []byte {
	e := Entry{Now: now, Cmds: cmds}
	return e.Encode()
}

func set(key, val string, deadline int64) Cmd {
	return Cmd{Op: OpSet, Keys: [][]byte{[]byte(key)}, Vals: [][]byte{[]byte(val)}, Deadline: deadline}
}

func incr(key string, by int64) Cmd {
	return Cmd{Op: OpIncrBy, Keys: [][]byte{[]byte(key)}, Int: by}
}

// snapshotOf streams a snapshot of db, as a leader sends it to a follower.
func snapshotOf(t testing.TB, db *DB) *bytes.Buffer {
	t.Helper()
	snap, err := db.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func mustApply(t testing.TB, db *DB, entries ...LogEntry) Applied {
	t.Helper()
	out, err := db.ApplyBatch(entries)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func get(t testing.TB, db *DB, key string, now int64) (string, bool) {
	t.Helper()
	var v string
	var ok bool
	err := db.View(func(r *Reader) error {
		val, found := r.Get(0, []byte(key), now)
		v, ok = string(val.Data), found
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v, ok
}

func digestOf(t testing.TB, db *DB) string {
	t.Helper()
	d, err := db.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestApplySkipsReplayAtOrBelowApplied(t *testing.T) {
	db := mustOpen(t)
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1000, incr("n", 1))}, LogEntry{Index: 2, Data: entry(1000, incr("n", 1))})
	// A replay of 1..2 plus one new entry: only index 3 may take effect.
	out := mustApply(t, db,
		LogEntry{Index: 1, Data: entry(1000, incr("n", 1))},
		LogEntry{Index: 2, Data: entry(1000, incr("n", 1))},
		LogEntry{Index: 3, Data: entry(1000, incr("n", 1))})
	if out.Results[0] != nil || out.Results[1] != nil {
		t.Fatalf("replayed entries produced results: %+v", out.Results)
	}
	if got := out.Results[2][0].Int; got != 3 {
		t.Fatalf("INCR result = %d, want 3", got)
	}
	// A batch entirely at or below the applied index changes nothing.
	mustApply(t, db, LogEntry{Index: 3, Data: entry(1000, incr("n", 100))})
	if v, _ := get(t, db, "n", 1000); v != "3" {
		t.Fatalf("n = %q, want 3", v)
	}
	if db.AppliedIndex() != 3 {
		t.Fatalf("applied = %d", db.AppliedIndex())
	}
}

func TestApplySetNXNotReappliedAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	nx := set("k", "first", 0)
	nx.Flags = FlagNX
	mustApply(t, db, LogEntry{Index: 5, Data: entry(1, nx)})
	mustApply(t, db, LogEntry{Index: 6, Data: entry(1, Cmd{Op: OpDel, Keys: [][]byte{[]byte("k")}})})
	db.Close()
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.AppliedIndex() != 6 {
		t.Fatalf("applied after reopen = %d, want 6", db.AppliedIndex())
	}
	// Raft replays 5 and 6 after a restart: the SET NX must not come back.
	mustApply(t, db, LogEntry{Index: 5, Data: entry(1, nx)}, LogEntry{Index: 6, Data: entry(1, Cmd{Op: OpDel, Keys: [][]byte{[]byte("k")}})})
	if _, ok := get(t, db, "k", 1); ok {
		t.Fatal("replayed SET NX resurrected a deleted key")
	}
}

func TestConfigEntriesAdvanceIndex(t *testing.T) {
	db := mustOpen(t)
	out := mustApply(t, db, LogEntry{Index: 1, Data: entry(1, set("a", "1", 0))}, LogEntry{Index: 2, Data: nil})
	if out.Results[1] != nil {
		t.Fatalf("config entry has results: %v", out.Results[1])
	}
	if db.AppliedIndex() != 2 {
		t.Fatalf("applied = %d, want 2", db.AppliedIndex())
	}
	mustApply(t, db, LogEntry{Index: 3, Data: nil})
	if db.AppliedIndex() != 3 {
		t.Fatalf("applied = %d, want 3", db.AppliedIndex())
	}
}

func TestMalformedEntryIsAResultNotAFailure(t *testing.T) {
	db := mustOpen(t)
	out := mustApply(t, db, LogEntry{Index: 1, Data: []byte{9, 9, 9}}, LogEntry{Index: 2, Data: entry(1, set("a", "1", 0))})
	if r := out.Results[0]; len(r) != 1 || !errors.Is(r[0].Err, ErrBadEntry) {
		t.Fatalf("malformed entry result = %+v", r)
	}
	if v, ok := get(t, db, "a", 1); !ok || v != "1" {
		t.Fatalf("entry after a malformed one not applied: %q %v", v, ok)
	}
}

func randomLog(seed uint64, n int) []LogEntry {
	rng := rand.New(rand.NewPCG(seed, seed))
	var log []LogEntry
	now := int64(1_700_000_000_000)
	for i := 1; i <= n; i++ {
		now += rng.Int64N(50)
		key := fmt.Sprintf("k%d", rng.IntN(20))
		var c Cmd
		switch rng.IntN(8) {
		case 0:
			c = set(key, fmt.Sprint(rng.IntN(100)), 0)
		case 1:
			c = set(key, "v", now+rng.Int64N(200))
		case 2:
			c = incr(key, rng.Int64N(10))
		case 3:
			c = Cmd{Op: OpDel, Keys: [][]byte{[]byte(key)}}
		case 4:
			c = Cmd{Op: OpExpire, Keys: [][]byte{[]byte(key)}, Deadline: now + rng.Int64N(200) - 50}
		case 5:
			c = Cmd{Op: OpAppend, Keys: [][]byte{[]byte(key)}, Vals: [][]byte{[]byte("x")}}
		case 6:
			c = Cmd{Op: OpExpireIf, Keys: [][]byte{[]byte(key)}, Deadline: now - rng.Int64N(100)}
		case 7:
			c = set(key, "v", 0)
			if rng.IntN(40) == 0 {
				c = Cmd{Op: OpFlushDB}
			}
		}
		c.DB = uint8(rng.IntN(2))
		var data []byte
		if rng.IntN(10) > 0 {
			data = entry(now, c)
		}
		log = append(log, LogEntry{Index: uint64(i), Data: data})
	}
	return log
}

func TestDeterminism(t *testing.T) {
	log := randomLog(42, 2000)
	a, b := mustOpen(t), mustOpen(t)
	// Same log, different batch boundaries and a replayed overlap on b.
	for i := 0; i < len(log); i += 64 {
		mustApply(t, a, log[i:min(i+64, len(log))]...)
	}
	for i := 0; i < len(log); i += 7 {
		mustApply(t, b, log[max(0, i-5):min(i+7, len(log))]...)
	}
	if da, db := digestOf(t, a), digestOf(t, b); da != db {
		t.Fatalf("digests differ: %s vs %s", da, db)
	}
	if a.AppliedIndex() != uint64(len(log)) || b.AppliedIndex() != uint64(len(log)) {
		t.Fatalf("applied = %d, %d", a.AppliedIndex(), b.AppliedIndex())
	}
	for i := range NumDBs {
		if a.KeyCount(uint8(i)) != b.KeyCount(uint8(i)) {
			t.Fatalf("key counts differ")
		}
	}
	c := mustOpen(t)
	mustApply(t, c, randomLog(43, 2000)...)
	if digestOf(t, a) == digestOf(t, c) {
		t.Fatal("different logs gave the same digest")
	}
}

func TestCheckpointBoundariesDoNotChangeState(t *testing.T) {
	log := randomLog(99, 3000)
	eager, lazy := mustOpen(t), mustOpen(t)
	for i := 0; i < len(log); i += 10 {
		batch := log[i:min(i+10, len(log))]
		mustApply(t, eager, batch...)
		if err := eager.Flush(); err != nil {
			t.Fatal(err)
		}
		mustApply(t, lazy, batch...)
		// Reads see applied writes whether or not they are checkpointed.
		for k := range 20 {
			a, okA := get(t, eager, fmt.Sprintf("k%d", k), 1_800_000_000_000)
			b, okB := get(t, lazy, fmt.Sprintf("k%d", k), 1_800_000_000_000)
			if a != b || okA != okB {
				t.Fatalf("after entry %d, k%d reads %q/%v checkpointed, %q/%v not", i, k, a, okA, b, okB)
			}
		}
	}
	if digestOf(t, eager) != digestOf(t, lazy) {
		t.Fatal("checkpointing at different points gave different states")
	}
	for i := range NumDBs {
		if eager.KeyCount(uint8(i)) != lazy.KeyCount(uint8(i)) || eager.ExpiresCount(uint8(i)) != lazy.ExpiresCount(uint8(i)) {
			t.Fatalf("db %d counters differ", i)
		}
	}
}

func TestUncheckpointedStateSurvivesCleanClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := randomLog(5, 500)
	mustApply(t, db, log...)
	mustApply(t, db, LogEntry{Index: 501, Data: entry(1, incr("last", 1))})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.AppliedIndex() != 501 || db.DurableIndex() != 501 {
		t.Fatalf("after reopen: applied %d, durable %d; want 501", db.AppliedIndex(), db.DurableIndex())
	}
	if v, _ := get(t, db, "last", 1); v != "1" {
		t.Fatalf("write applied just before Close is gone: %q", v)
	}
}

func TestCountsMatchContents(t *testing.T) {
	db := mustOpen(t)
	mustApply(t, db, randomLog(7, 3000)...)
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	var keys, withTTL, counted, countedTTL int64
	db.View(func(r *Reader) error {
		for i := range NumDBs {
			counted += db.KeyCount(uint8(i))
			countedTTL += db.ExpiresCount(uint8(i))
			r.bv.tx.Bucket(dbBuckets[i]).ForEach(func(k, v []byte) error {
				if r.bv.isDead(uint8(i), k, v) {
					return nil // deleted, its deletion filed (dead.go)
				}
				keys++
				if rec, _ := decodeRecord(v); rec.deadline != 0 {
					withTTL++
				}
				return nil
			})
		}
		return nil
	})
	if keys != counted || withTTL != countedTTL {
		t.Fatalf("counts: stored %d/%d, counters %d/%d", keys, withTTL, counted, countedTTL)
	}
	var idx int64
	db.View(func(r *Reader) error {
		return r.bv.expiry().ForEach(func(k, v []byte) error { idx++; return nil })
	})
	if idx != withTTL {
		t.Fatalf("expiry index has %d entries, %d keys have deadlines", idx, withTTL)
	}
	// Each index entry names a stored key with that deadline (OpExpireIf
	// decides from the index alone).
	db.View(func(r *Reader) error {
		return r.bv.expiry().ForEach(func(k, _ []byte) error {
			deadline, n, key := int64(binary.BigEndian.Uint64(k)), k[8], k[9:]
			rec, ok := decodeRecord(r.bv.tx.Bucket(dbBuckets[n]).Get(dataKey(key)))
			if !ok || rec.deadline != deadline {
				t.Errorf("index has %q in db %d at %d; its record: found %v, deadline %d", key, n, deadline, ok, rec.deadline)
			}
			return nil
		})
	})
}

// OpExpireIf deletes exactly the keys whose record still has the given,
// passed deadline, in the checkpointed file and in the layers above it.
func TestExpireIfAgreesWithRecords(t *testing.T) {
	for _, flush := range []bool{false, true} {
		db := mustOpen(t)
		log := randomLog(11, 2000)
		mustApply(t, db, log...)
		if flush {
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		// The records' own view, read before any expire.
		deadlines := map[string]int64{}
		db.View(func(r *Reader) error {
			for i := range 20 {
				key := fmt.Sprintf("k%d", i)
				if rec, ok := decodeRecord(lookupLayers(r.layers, r.cache, &r.bv, 0, []byte(key))); ok {
					deadlines[key] = rec.deadline
				}
			}
			return nil
		})
		idx := uint64(len(log))
		later := int64(1 << 62)
		for i := range 20 {
			key := fmt.Sprintf("k%d", i)
			d, exists := deadlines[key]
			for _, try := range []int64{d + 1, d - 1, d} {
				idx++
				out := mustApply(t, db, LogEntry{Index: idx, Data: entry(later, Cmd{Op: OpExpireIf, Keys: [][]byte{[]byte(key)}, Deadline: try})})
				want := int64(0)
				if exists && d != 0 && try == d {
					want = 1
				}
				if got := out.Results[0][0].Int; got != want {
					t.Fatalf("flushed=%v: EXPIREIF %s at %d (record: exists %v, deadline %d) = %d, want %d", flush, key, try, exists, d, got, want)
				}
			}
		}
		var left int64
		for _, d := range deadlines {
			if d == 0 {
				left++
			}
		}
		if db.KeyCount(0) != left || db.ExpiresCount(0) != 0 {
			t.Fatalf("flushed=%v: %d keys, %d with deadlines left; want %d, 0", flush, db.KeyCount(0), db.ExpiresCount(0), left)
		}
	}
}

func TestExpiredKeysReadAsAbsentAndExpireIfIsConditional(t *testing.T) {
	db := mustOpen(t)
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1000, set("s", "v", 2000))})
	if _, ok := get(t, db, "s", 2000); !ok {
		t.Fatal("key absent at its deadline (Redis expires strictly after)")
	}
	if _, ok := get(t, db, "s", 2001); ok {
		t.Fatal("expired key was read")
	}
	// Refreshed before the expire-delete commits: the stale delete must miss.
	mustApply(t, db, LogEntry{Index: 2, Data: entry(1500, set("s", "v2", 9000))})
	out := mustApply(t, db, LogEntry{Index: 3, Data: entry(2001, Cmd{Op: OpExpireIf, Keys: [][]byte{[]byte("s")}, Deadline: 2000})})
	if out.Results[0][0].Int != 0 {
		t.Fatal("stale expire deleted a refreshed key")
	}
	if v, ok := get(t, db, "s", 2001); !ok || v != "v2" {
		t.Fatalf("refreshed key = %q %v", v, ok)
	}
	out = mustApply(t, db, LogEntry{Index: 4, Data: entry(9001, Cmd{Op: OpExpireIf, Keys: [][]byte{[]byte("s")}, Deadline: 9000})})
	if out.Results[0][0].Int != 1 || db.KeyCount(0) != 0 {
		t.Fatalf("due expire did not delete: %+v, count %d", out.Results, db.KeyCount(0))
	}
}

func TestDueBetweenPages(t *testing.T) {
	db := mustOpen(t)
	var cmds []Cmd
	for i := range 250 {
		cmds = append(cmds, set(fmt.Sprintf("k%03d", i), "v", 5000))
	}
	cmds = append(cmds, set("late", "v", 9000))
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1, cmds...)})
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var from []byte
	for {
		var page []Due
		db.View(func(r *Reader) error { page, from = r.DueBetween(from, 6000, 100); return nil })
		if len(page) == 0 {
			break
		}
		for _, d := range page {
			if seen[string(d.Key)] || d.At != 5000 {
				t.Fatalf("bad page entry %+v (dup %v)", d, seen[string(d.Key)])
			}
			seen[string(d.Key)] = true
		}
	}
	if len(seen) != 250 {
		t.Fatalf("paged %d due keys, want 250", len(seen))
	}
}

func TestScanVisitsEveryKeyOnceUnderWrites(t *testing.T) {
	db := mustOpen(t)
	var cmds []Cmd
	for i := range 1000 {
		cmds = append(cmds, set(fmt.Sprintf("stable%d", i), "v", 0))
	}
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1, cmds...)})
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	cursor, idx := uint64(0), uint64(2)
	for {
		var res ScanResult
		db.View(func(r *Reader) error {
			res = r.Scan(0, cursor, 37, 1, func([]byte, Value) bool { return true })
			return nil
		})
		for _, k := range res.Keys {
			seen[string(k)]++
		}
		// Concurrent churn between pages.
		mustApply(t, db, LogEntry{Index: idx, Data: entry(1, set(fmt.Sprintf("churn%d", idx), "v", 0))})
		idx++
		if cursor = res.Cursor; cursor == 0 {
			break
		}
	}
	for i := range 1000 {
		if n := seen[fmt.Sprintf("stable%d", i)]; n != 1 {
			t.Fatalf("stable%d seen %d times", i, n)
		}
	}
}

func TestSnapshotRestore(t *testing.T) {
	src, dst := mustOpen(t), mustOpen(t)
	mustApply(t, src, randomLog(1, 500)...)
	mustApply(t, dst, randomLog(2, 100)...)
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes continue while the snapshot streams; it stays at its point.
	mustApply(t, src, LogEntry{Index: 501, Data: entry(1, set("after", "x", 0))})
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if idx, err := ReadSnapshotHeader(bytes.NewReader(buf.Bytes())); err != nil || idx != 500 {
		t.Fatalf("header index = %d, %v", idx, err)
	}
	if err := dst.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if dst.AppliedIndex() != 500 {
		t.Fatalf("applied after restore = %d", dst.AppliedIndex())
	}
	if _, ok := get(t, dst, "after", 1); ok {
		t.Fatal("snapshot contains a write made after it began")
	}
	mustApply(t, dst, LogEntry{Index: 501, Data: entry(1, set("after", "x", 0))})
	if digestOf(t, src) != digestOf(t, dst) {
		t.Fatal("restored store diverges from its source")
	}
	if err := dst.Restore(bytes.NewReader([]byte("garbage garbage garbage"))); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("restore of garbage: %v", err)
	}
	if digestOf(t, src) != digestOf(t, dst) {
		t.Fatal("failed restore changed the state")
	}
}

func TestParseIntMatchesRedis(t *testing.T) {
	good := map[string]int64{"0": 0, "-1": -1, "9223372036854775807": 1<<63 - 1, "-9223372036854775808": -1 << 63}
	for s, want := range good {
		if v, ok := ParseInt([]byte(s)); !ok || v != want {
			t.Errorf("ParseInt(%q) = %d, %v", s, v, ok)
		}
	}
	for _, s := range []string{"", "-", "01", "+1", " 1", "1 ", "-0", "9223372036854775808", "1.0", "abc", "99999999999999999999"} {
		if _, ok := ParseInt([]byte(s)); ok {
			t.Errorf("ParseInt(%q) accepted", s)
		}
	}
}

func TestFloatFormatMatchesRedis(t *testing.T) {
	// Expected strings were produced by redis-server 7.0 INCRBYFLOAT.
	cases := []struct{ a, b, want string }{
		{"10.50", "0.1", "10.6"},
		{"0.1", "0.2", "0.3"},
		{"5.0e3", "2.0e2", "5200"},
		{"3", "1.5", "4.5"},
		{"0", "-0", "0"},
		{"1", "-1.5", "-0.5"},
	}
	for _, c := range cases {
		a, _ := ParseFloat([]byte(c.a))
		b, _ := ParseFloat([]byte(c.b))
		sum, ok := addFloat(a, b)
		if !ok || FormatFloat(sum) != c.want {
			t.Errorf("%s + %s = %s, want %s", c.a, c.b, FormatFloat(sum), c.want)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(entry(1, set("k", "v", 5)))
	f.Add(entry(2, Cmd{Op: OpMSet, Keys: [][]byte{[]byte("a"), []byte("b")}, Vals: [][]byte{[]byte("1"), []byte("2")}}))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 15})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEntry(data)
		if err != nil {
			return
		}
		// Whatever decodes round-trips through Encode and applies without panic.
		again, err := DecodeEntry(e.Encode())
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, e, again)
		}
		db := mustOpen(t)
		if _, err := db.ApplyBatch([]LogEntry{{Index: 1, Data: data}}); err != nil {
			t.Fatal(err)
		}
	})
}

// An apply that takes the backlog past MaxPending returns once the
// checkpointer has caught up, without waiting out CheckpointInterval, and
// Backlogged/CheckpointEnd let background work wait before it gets there.
func TestBacklogOverMaxPendingWaitsForCheckpointer(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "state.db"),
		Options{CheckpointInterval: time.Hour, MaxPending: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	value := strings.Repeat("v", 1000)
	batch := func(idx uint64, n int) LogEntry {
		cmds := make([]Cmd, n)
		for i := range cmds {
			cmds[i] = set(fmt.Sprintf("k:%d:%d", idx, i), value, 0)
		}
		return LogEntry{Index: idx, Data: entry(1, cmds...)}
	}
	// The first checkpoint is not paced; every later one would wait an hour.
	mustApply(t, db, batch(1, 1))
	<-db.CheckpointEnd()
	if db.DurableIndex() != 1 {
		t.Fatalf("durable %d after the first checkpoint, want 1", db.DurableIndex())
	}

	// Under the bound: applied, not waited for, and counted as backlog once
	// past half of it.
	mustApply(t, db, batch(2, 40))
	if db.DurableIndex() != 1 || db.BacklogWaits() != 0 {
		t.Fatalf("40 KB under a 64 KiB bound: durable %d, waits %d; want 1, 0", db.DurableIndex(), db.BacklogWaits())
	}
	if !db.Backlogged() {
		t.Fatalf("%d bytes pending of 64 KiB: want Backlogged", db.PendingBytes())
	}

	for idx := uint64(3); idx <= 5; idx++ {
		done := make(chan error, 1)
		go func() { _, err := db.ApplyBatch([]LogEntry{batch(idx, 40)}); done <- err }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("apply %d over MaxPending still waiting after a minute: the checkpointer kept its pacing", idx)
		}
		if p := db.PendingBytes(); p > 64<<10 {
			t.Fatalf("apply %d returned with %d bytes pending, over the 64 KiB bound", idx, p)
		}
	}
	if db.BacklogWaits() == 0 {
		t.Fatal("applies went over MaxPending but none was counted as waiting")
	}
	if v, _ := get(t, db, "k:5:39", 1); v != value {
		t.Fatalf("k:5:39 = %.10q…, want the value", v)
	}
}

// Past CheckpointInterval, a background checkpoint waits for
// CheckpointBytes of changes (or CheckpointMaxInterval): a small write
// stays in memory, a large one is checkpointed at once, and somebody
// waiting for a checkpoint gets one whatever is pending.
func TestCheckpointWaitsForBytesOrMaxInterval(t *testing.T) {
	var done atomic.Int64
	ended := make(chan struct{}, 16)
	db, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{InitialMmapSize: 1 << 24,
		CheckpointInterval: time.Millisecond, CheckpointBytes: 1 << 20, CheckpointMaxInterval: time.Hour,
		OnCheckpoint: func(time.Duration, int64) { done.Add(1); ended <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustApply(t, db, LogEntry{Index: 1, Data: entry(1, set("small", "v", 0))})
	// An observation window, not a synchronisation: without the wait for
	// bytes, the checkpointer runs within a millisecond of the apply.
	time.Sleep(300 * time.Millisecond)
	if n := done.Load(); n != 0 || db.PendingBytes() == 0 {
		t.Fatalf("after a small write: %d checkpoints, %d bytes pending; want none and some", n, db.PendingBytes())
	}
	big := make([]Cmd, 0, 2048)
	for i := range cap(big) {
		big = append(big, set(fmt.Sprintf("big%d", i), strings.Repeat("x", 1024), 0))
	}
	mustApply(t, db, LogEntry{Index: 2, Data: entry(1, big...)})
	select {
	case <-ended:
	case <-time.After(time.Minute):
		t.Fatal("no checkpoint after 2 MiB of writes")
	}
	mustApply(t, db, LogEntry{Index: 3, Data: entry(1, set("small2", "v", 0))})
	// The checkpoint of the big write may still be ending: the channel is
	// then that one's, and the next urged one takes small2.
	for i := 0; db.PendingBytes() != 0; i++ {
		if i == 3 {
			t.Fatalf("%d bytes still pending after 3 urged checkpoints", db.PendingBytes())
		}
		select {
		case <-db.CheckpointEnd():
		case <-time.After(time.Minute):
			t.Fatal("an urged checkpoint did not run")
		}
	}
}
