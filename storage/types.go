package storage

import "encoding/binary"

// Type is the type of the value a key holds. It is the first byte of the
// key's record and part of the on-disk format.
type Type byte

// The value types. A string keeps its value in the key's record; the
// collections keep a small header there (collMeta) and one element record
// per field, member or list element in the elements bucket.
const (
	TypeString Type = 's'
	TypeHash   Type = 'h'
	TypeSet    Type = 't'
	TypeZSet   Type = 'z'
	TypeList   Type = 'l'
)

// String returns the type's name as TYPE reports it.
func (t Type) String() string {
	switch t {
	case TypeString:
		return "string"
	case TypeHash:
		return "hash"
	case TypeSet:
		return "set"
	case TypeZSet:
		return "zset"
	case TypeList:
		return "list"
	}
	return "none"
}

// IsCollection reports whether values of t live in element records.
func (t Type) IsCollection() bool {
	return t == TypeHash || t == TypeSet || t == TypeZSet || t == TypeList
}

// collMeta is the record value of a collection:
// oid (8) ‖ count (8) ‖ head (8, lists only).
//
// oid names the collection's element records. It is unique for the life
// of the store (a counter in apply), so a collection that is deleted and
// created again never sees the old elements, RENAME and MOVE move only this
// header, and the old elements can be removed later (see garbage).
type collMeta struct {
	oid   uint64
	count int64
	head  int64 // lists: the position of the first element
}

const collMetaLen = 24

func (m collMeta) encode() []byte {
	b := make([]byte, collMetaLen)
	binary.BigEndian.PutUint64(b, m.oid)
	binary.BigEndian.PutUint64(b[8:], uint64(m.count))
	binary.BigEndian.PutUint64(b[16:], uint64(m.head))
	return b
}

func decodeMeta(v []byte) (collMeta, bool) {
	if len(v) != collMetaLen {
		return collMeta{}, false
	}
	return collMeta{
		oid:   binary.BigEndian.Uint64(v),
		count: int64(binary.BigEndian.Uint64(v[8:])),
		head:  int64(binary.BigEndian.Uint64(v[16:])),
	}, true
}
