package storage

import (
	"encoding/binary"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// MaxStringLen bounds any string apply builds (SETRANGE, APPEND), whatever
// limit the command carries: Redis's proto-max-bulk-len default, 512 MiB.
const MaxStringLen int64 = 512 << 20

// MaxKeyLen bounds keys, hash fields and set and sorted-set members:
// each becomes (part of) a bbolt key, which bbolt limits to 32 KiB, and a
// checkpoint that met a longer one would fail on every replica. Commands
// that would store a longer one fail with ErrKeyTooLong and change nothing
// (reads simply find no such key, as nothing can be stored under it).
const MaxKeyLen = 32<<10 - 64

// NumDBs is the number of logical databases (SELECT 0..NumDBs-1).
const NumDBs = 16

// Bucket layout of the bbolt file.
//
//	db0 .. db15   hash(key) (8 bytes, big-endian) ‖ key → record
//	expiry        deadline (8 bytes) ‖ db (1 byte) ‖ key → empty
//	dead0 .. dead15  hash(key) ‖ key → 1: deletions filed for a later sweep (dead.go)
//	meta          "applied" → last applied Raft index (8 bytes)
//	              "filed<db>" → latest deadline of a record filed in dead<db>
//	              "keys<db>" → number of keys in that database (8 bytes)
//	              "keytypes" → applied index ‖ keys per database and type (keytypes.go)
//
// Keys in a database bucket are ordered by a stable 64-bit hash of the key so
// that a SCAN cursor can be a plain number (the next hash to visit), as Redis
// clients expect, and still be stable under concurrent writes.
var (
	bucketExpiry = []byte("expiry")
	bucketMeta   = []byte("meta")
	keyApplied   = []byte("applied")
	dbBuckets    [NumDBs][]byte
	countKeys    [NumDBs][]byte
)

func init() {
	for i := range dbBuckets {
		dbBuckets[i] = []byte("db" + strconv.Itoa(i))
		countKeys[i] = []byte("keys" + strconv.Itoa(i))
	}
}

// keyHash is the stable hash that orders a database bucket. It must never
// change: it is part of the on-disk format.
func keyHash(key []byte) uint64 { return xxhash.Sum64(key) }

// dataKey returns the bucket key under which key is stored.
func dataKey(key []byte) []byte {
	b := make([]byte, 8+len(key))
	binary.BigEndian.PutUint64(b, keyHash(key))
	copy(b[8:], key)
	return b
}

// indexKey returns the expiry index key for (deadline, db, key).
func indexKey(deadline int64, db uint8, key []byte) []byte {
	b := make([]byte, 9+len(key))
	binary.BigEndian.PutUint64(b, uint64(deadline))
	b[8] = db
	copy(b[9:], key)
	return b
}

// record is the decoded form of a stored value:
// type (1 byte) ‖ deadline (8 bytes, 0 = none) ‖ value.
type record struct {
	typ      Type
	deadline int64
	value    []byte
}

const recordHeader = 9

func encodeRecord(typ Type, deadline int64, value []byte) []byte {
	b := make([]byte, recordHeader+len(value))
	b[0] = byte(typ)
	binary.BigEndian.PutUint64(b[1:], uint64(deadline))
	copy(b[recordHeader:], value)
	return b
}

func decodeRecord(b []byte) (record, bool) {
	if len(b) < recordHeader {
		return record{}, false
	}
	return record{
		typ:      Type(b[0]),
		deadline: int64(binary.BigEndian.Uint64(b[1:])),
		value:    b[recordHeader:],
	}, true
}

// recordDeadline returns the deadline of an encoded record (0: none).
func recordDeadline(b []byte) int64 {
	if len(b) < recordHeader {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b[1:]))
}

// expired reports whether a deadline has passed at now. Like Redis, a key is
// expired once now is strictly past its deadline; 0 means no deadline.
func expired(deadline, now int64) bool { return deadline != 0 && now > deadline }

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
