package storage

import (
	"encoding/binary"
	"fmt"
)

// A group is one Raft log entry's data holding several encoded entries:
// replication's group commit proposes the entries of a round that way, so
// that the log store encodes and stores one log entry per round, and Raft
// tracks, applies and answers one, instead of one per pipeline. Each part
// applies exactly as if it were a log entry of its own at the group's
// index (its own clock, origin and request ids), in order; results come
// back per part (Applied.Parts). A group is entryGroup, the number of
// parts, then each part's length and bytes.
const entryGroup = 4

// EncodeGroup returns the data of one log entry holding the encoded
// entries parts, at least two.
func EncodeGroup(parts [][]byte) []byte {
	n := 1 + binary.MaxVarintLen64
	for _, p := range parts {
		n += binary.MaxVarintLen64 + len(p)
	}
	b := make([]byte, 0, n)
	b = append(b, entryGroup)
	return appendList(b, parts)
}

// groupParts returns the parts of a group's data (aliasing it), or nil and
// false if data is not a group.
func groupParts(data []byte) (parts [][]byte, group bool, err error) {
	if len(data) == 0 || data[0] != entryGroup {
		return nil, false, nil
	}
	d := decoder{b: data[1:]}
	parts = d.list()
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes after a group", ErrBadEntry, len(d.b))
	}
	if d.err == nil && len(parts) < 2 {
		d.err = fmt.Errorf("%w: a group of %d", ErrBadEntry, len(parts))
	}
	if d.err != nil {
		return nil, true, d.err
	}
	return parts, true, nil
}
