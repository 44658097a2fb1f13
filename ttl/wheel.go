// Package ttl is a hierarchical timing wheel for key deadlines. It only
// schedules: the caller owns the clock (every method takes the time as an
// argument) and decides what to do with due items. It uses the standard
// library only and knows nothing of storage or Raft.
//
// A Wheel is meant to hold the near future only: its owner schedules the
// deadlines that fall within a horizon and refills from durable storage as
// time moves on, so memory does not grow with far-future deadlines.
package ttl

const (
	slotBits = 6
	slots    = 1 << slotBits // slots per level
	levels   = 4
)

// Item is a scheduled deadline: key in database DB is due once the clock is
// strictly past At (Unix milliseconds).
type Item struct {
	DB  uint8
	Key string
	At  int64
}

type itemID struct {
	db  uint8
	key string
}

type entry struct {
	item Item
	due  int64 // first tick at which the item is due
}

// Wheel is a hierarchical timing wheel with levels of 64 slots. Level 0
// slots are one tick wide; each level up is 64 times wider. It is not safe
// for concurrent use.
type Wheel struct {
	tick  int64 // milliseconds per tick
	cur   int64 // current tick: every entry with due <= cur has been returned
	slot  [levels][slots][]*entry
	items map[itemID]*entry
	ready []*entry
}

// New returns a wheel with the given tick (milliseconds) whose clock starts
// at now (Unix milliseconds).
func New(tickMs int64, now int64) *Wheel {
	if tickMs <= 0 {
		tickMs = 10
	}
	return &Wheel{tick: tickMs, cur: now / tickMs, items: make(map[itemID]*entry)}
}

// Len returns the number of scheduled items.
func (w *Wheel) Len() int { return len(w.items) }

// Schedule schedules key to be due after at, replacing any earlier schedule
// of the same key.
func (w *Wheel) Schedule(db uint8, key string, at int64) {
	id := itemID{db, key}
	if old, ok := w.items[id]; ok && old.item.At == at {
		return
	}
	e := &entry{item: Item{DB: db, Key: key, At: at}, due: at/w.tick + 1}
	w.items[id] = e
	w.place(e)
}

// Cancel removes key's schedule, if any.
func (w *Wheel) Cancel(db uint8, key string) {
	delete(w.items, itemID{db, key})
}

func (w *Wheel) place(e *entry) {
	diff := e.due - w.cur
	if diff <= 0 {
		w.ready = append(w.ready, e)
		return
	}
	for l := 0; l < levels; l++ {
		if diff < 1<<(slotBits*(l+1)) {
			idx := (e.due >> (slotBits * l)) & (slots - 1)
			w.slot[l][idx] = append(w.slot[l][idx], e)
			return
		}
	}
	// Beyond the span: park in the top level's slot visited last.
	top := levels - 1
	idx := ((w.cur >> (slotBits * top)) - 1) & (slots - 1)
	w.slot[top][idx] = append(w.slot[top][idx], e)
}

// Advance moves the clock to now and returns the items that became due,
// in no particular order. Each scheduled item is returned once.
func (w *Wheel) Advance(now int64) []Item {
	target := now / w.tick
	if len(w.items) == 0 && target > w.cur {
		w.cur = target
	}
	for w.cur < target {
		w.cur++
		w.cascade()
		idx := w.cur & (slots - 1)
		for _, e := range w.slot[0][idx] {
			w.place(e)
		}
		w.slot[0][idx] = nil
	}
	return w.collect()
}

// cascade re-places the entries of every higher-level slot whose period
// starts at the current tick.
func (w *Wheel) cascade() {
	for l := 1; l < levels; l++ {
		mask := int64(1)<<(slotBits*l) - 1
		if w.cur&mask != 0 {
			return
		}
		idx := (w.cur >> (slotBits * l)) & (slots - 1)
		moving := w.slot[l][idx]
		w.slot[l][idx] = nil
		for _, e := range moving {
			w.place(e)
		}
	}
}

func (w *Wheel) collect() []Item {
	out := make([]Item, 0, len(w.ready))
	for _, e := range w.ready {
		id := itemID{e.item.DB, e.item.Key}
		if w.items[id] != e {
			continue // cancelled or rescheduled
		}
		delete(w.items, id)
		out = append(out, e.item)
	}
	clear(w.ready) // the entries are garbage now: the array must not keep them
	w.ready = w.ready[:0]
	return out
}
