package ttl

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
)

func TestItemsFireAfterDeadlineNeverBefore(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := int64(1_700_000_000_000)
	w := New(10, start)
	want := map[string]int64{}
	for i := range 5000 {
		// Deadlines from the past up to 3 days ahead, beyond the span.
		at := start - 1000 + rng.Int64N(3*86400*1000)
		key := fmt.Sprint(i)
		w.Schedule(0, key, at)
		want[key] = at
	}
	fired := map[string]int64{}
	for now := start; len(fired) < len(want); now += 1 + rng.Int64N(20000) {
		for _, it := range w.Advance(now) {
			if now <= it.At {
				t.Fatalf("%s fired at %d, deadline %d", it.Key, now, it.At)
			}
			if _, dup := fired[it.Key]; dup {
				t.Fatalf("%s fired twice", it.Key)
			}
			fired[it.Key] = now
		}
		if now > start+4*86400*1000 {
			t.Fatalf("only %d of %d fired", len(fired), len(want))
		}
	}
	if w.Len() != 0 {
		t.Fatalf("wheel still holds %d items", w.Len())
	}
}

func TestFiresWithinOneTickWhenAdvancedEveryTick(t *testing.T) {
	start := int64(0)
	w := New(10, start)
	deadlines := []int64{5, 9, 10, 11, 639, 640, 641, 40_959, 40_960, 2_621_439, 2_621_441, 170_000_000}
	for i, at := range deadlines {
		w.Schedule(1, fmt.Sprint(i), at)
	}
	var late []string
	n := 0
	for now := start; n < len(deadlines); now += 10 {
		for _, it := range w.Advance(now) {
			n++
			if now-it.At > 10 {
				late = append(late, fmt.Sprintf("%d fired at %d", it.At, now))
			}
		}
	}
	if len(late) > 0 {
		t.Fatalf("late: %v", late)
	}
}

func TestRescheduleAndCancel(t *testing.T) {
	w := New(10, 0)
	w.Schedule(0, "refreshed", 100)
	w.Schedule(0, "refreshed", 5000) // a session refreshed before expiry
	w.Schedule(0, "cancelled", 100)
	w.Cancel(0, "cancelled")
	w.Schedule(0, "same-key-other-db", 100)
	w.Schedule(3, "same-key-other-db", 200)
	var got []string
	for _, it := range w.Advance(1000) {
		got = append(got, fmt.Sprintf("%d/%s@%d", it.DB, it.Key, it.At))
	}
	sort.Strings(got)
	want := []string{"0/same-key-other-db@100", "3/same-key-other-db@200"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("due = %v, want %v", got, want)
	}
	if due := w.Advance(5000); len(due) != 0 {
		t.Fatalf("fired at its deadline: %v", due)
	}
	if due := w.Advance(5010); len(due) != 1 || due[0].At != 5000 {
		t.Fatalf("refreshed key: %v", due)
	}
}

func TestPastDeadlineIsDueAtOnce(t *testing.T) {
	w := New(10, 10_000)
	w.Schedule(0, "old", 5)
	if due := w.Advance(10_000); len(due) != 1 {
		t.Fatalf("past deadline not due: %v", due)
	}
}

func BenchmarkScheduleAdvance(b *testing.B) {
	w := New(10, 0)
	now := int64(0)
	for i := 0; i < b.N; i++ {
		w.Schedule(0, fmt.Sprint(i&0xffff), now+int64(i%100000))
		if i%100 == 0 {
			now += 10
			w.Advance(now)
		}
	}
}

// BenchmarkAdvanceMassExpiry advances over 100k keys sharing one deadline
// (a mass expiry): the cost per key of collecting them.
func BenchmarkAdvanceMassExpiry(b *testing.B) {
	const keys = 100_000
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("session:%d", i)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		w := New(10, 0)
		for _, k := range names {
			w.Schedule(0, k, 1000)
		}
		b.StartTimer()
		if got := len(w.Advance(1010)); got != keys {
			b.Fatalf("advance returned %d keys, want %d", got, keys)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*keys), "ns/key")
}
