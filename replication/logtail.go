package replication

import (
	"math"

	"github.com/hashicorp/raft"
)

// minTrailing is the fewest entries a byte bound leaves after a snapshot:
// a follower a few entries behind should catch up from the log, not by
// receiving the whole state, however large the entries are.
const minTrailing = 64

// maxTailRing bounds the memory logTail uses (4 bytes per entry); beyond
// it the sizes of older entries are estimated from the recorded ones.
const maxTailRing = 1 << 20

// logTail bounds in bytes the Raft log kept after a snapshot. Raft counts
// what it keeps (TrailingLogs) in entries, and an entry may be a few
// bytes (one SET), up to 64 KiB (a group commit round) or up to 4 MiB (a
// long pipeline's writes), so 10,240 entries may be anything from a
// megabyte to gigabytes on disk, where raft-boltdb's file never shrinks
// below its high-water mark.
// The FSM records the size of every entry it applies; before each
// snapshot it sets TrailingLogs to the number of the newest entries whose
// sizes add up to at most the byte bound (at least minTrailing, at most
// the configured count). Raft compacts right after the snapshot, with the
// TrailingLogs then in force. Only the FSM goroutine uses a logTail.
type logTail struct {
	maxBytes   uint64
	maxEntries uint64
	sizes      []uint32 // sizes[i%len(sizes)]: entry i's size, for first <= i <= last
	first      uint64   // 0: nothing recorded
	last       uint64
}

func newLogTail(maxBytes, maxEntries uint64) *logTail {
	return &logTail{maxBytes: maxBytes, maxEntries: maxEntries, sizes: make([]uint32, min(maxEntries, maxTailRing))}
}

// add records entry index's size. Entries Raft applies without the FSM
// (no-ops) leave gaps, recorded as empty.
func (t *logTail) add(index uint64, size int) {
	ring := uint64(len(t.sizes))
	if ring == 0 {
		return
	}
	if t.first == 0 || index <= t.last || index-t.last > ring {
		t.first = index
	} else {
		for i := t.last + 1; i < index; i++ {
			t.sizes[i%ring] = 0
		}
	}
	t.sizes[index%ring] = uint32(min(size, math.MaxUint32))
	t.last = index
	if t.last-t.first >= ring {
		t.first = t.last - ring + 1
	}
}

// reset forgets every size: a restored snapshot replaced the state, and
// the entries before it were never seen here.
func (t *logTail) reset() { t.first, t.last = 0, 0 }

// trailing returns how many entries to keep after a snapshot taken at
// index upto.
func (t *logTail) trailing(upto uint64) uint64 {
	if t.first == 0 || upto < t.first {
		return t.maxEntries
	}
	upto = min(upto, t.last)
	ring := uint64(len(t.sizes))
	var sum, n uint64
	for i := upto; i >= t.first && n < t.maxEntries; i-- {
		s := uint64(t.sizes[i%ring])
		if sum+s > t.maxBytes {
			return min(max(n, minTrailing), t.maxEntries)
		}
		sum += s
		n++
	}
	if n == t.maxEntries || sum == 0 {
		return t.maxEntries
	}
	// The older entries were applied before this process started (or
	// beyond the ring): assume they are as large as the recorded ones.
	more := float64(t.maxBytes-sum) / (float64(sum) / float64(n))
	return min(n+uint64(min(more, float64(t.maxEntries))), t.maxEntries)
}

// apply sets r's TrailingLogs for a snapshot taken at index upto.
func (t *logTail) apply(r *raft.Raft, upto uint64) error {
	want := t.trailing(upto)
	rc := r.ReloadableConfig()
	if rc.TrailingLogs == want {
		return nil
	}
	rc.TrailingLogs = want
	return r.ReloadConfig(rc)
}
