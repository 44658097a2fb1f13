package storage

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// The sys bucket holds replicated state that is not a key: settings that
// every node must agree on (notify-keyspace-events), loaded scripts, and
// the modification indexes WATCH is decided from. It changes only in apply,
// travels through the same layers and checkpoints as the keys, and is part
// of a snapshot, so every node holds the same sys state at the same index.
//
//	"c" ‖ name    → a replicated setting's value
//	"m" ‖ bucket  → the last log index that modified a key of that bucket
//	"s" ‖ sha1    → a loaded script's body
//	"u" ‖ name    → an ACL user's rules (opaque to storage; see server/acl.go)
var bucketSys = []byte("sys")

// Sys key prefixes.
const (
	sysConfig = 'c'
	sysMod    = 'm'
	sysScript = 's'
	sysUser   = 'u'
)

// modBuckets is the number of modification-index buckets. A key's WATCH is
// decided by its bucket's index, so a write to another key of the same
// bucket between WATCH and EXEC aborts the EXEC too (a spurious abort,
// which optimistic clients retry); more buckets make that rarer and a
// checkpoint of a busy store write more of them.
const modBuckets = 1 << 14

func modKey(db uint8, key []byte) string {
	h := keyHash(key) ^ uint64(db)*0x9E3779B97F4A7C15
	return modKeys[h%modBuckets]
}

// modKeys holds every bucket's sys key, built once: a write touches one,
// and building it per write was an allocation per key written.
var modKeys = func() (ks [modBuckets]string) {
	for b := range ks {
		ks[b] = string([]byte{sysMod, byte(b >> 8), byte(b)})
	}
	return ks
}()

// lookupSys finds a sys value in layers (newest first), falling back to bbolt.
func lookupSys(layers []*memLayer, bv *boltView, key string) []byte {
	for _, l := range layers {
		if v, ok := l.sys[key]; ok {
			return v
		}
	}
	return bv.sys().Get([]byte(key))
}

// setSys writes a sys value (nil: deleted) to the active layer.
func (a *applier) setSys(key string, val []byte) {
	if len(key) > 0 && key[0] == sysUser {
		a.out.Users = true
	}
	old, had := a.layer.sys[key]
	a.journal = append(a.journal, change{kind: changeSys, key: key, had: had, rec: old})
	a.layer.sys[key] = val
	a.layer.size += int64(len(key) + len(val) + 48)
}

func (a *applier) sys(key string) []byte { return lookupSys(a.layers, &a.bv, key) }

func (l *memLayer) writeSys(tx *bolt.Tx) error {
	b := tx.Bucket(bucketSys)
	keys := make([]string, 0, len(l.sys))
	for k := range l.sys {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y string) int { return cmp.Compare(x, y) })
	for _, k := range keys {
		var err error
		if v := l.sys[k]; v == nil {
			err = b.Delete([]byte(k))
		} else {
			err = b.Put([]byte(k), v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// touch records that the command being applied modified key: its bucket's
// modification index becomes this entry's index (WATCH), and clients
// tracking it learn of it (Applied.Touched). A key that expires is not
// touched: its logical state does not change when its delete applies.
func (a *applier) touch(db uint8, key []byte) {
	// Already touched by this command (its record write, then its event)?
	// The last few are enough: a command touches a key, then notifies.
	t := a.out.Touched
	for i := len(t) - 1; i >= max(a.touchedBefore, len(t)-4); i-- {
		if t[i].DB == db && bytes.Equal(t[i].Key, key) {
			return
		}
	}
	a.setSys(modKey(db, key), a.indexBytes)
	a.out.Touched = append(a.out.Touched, KeyRef{DB: db, Key: clone(key), Origin: a.origin})
}

// modIndex returns the last log index that modified a key of key's bucket.
func (a *applier) modIndex(db uint8, key []byte) uint64 {
	v := a.sys(modKey(db, key))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// WatchMark is what WATCH remembers of a key: the applied index it was
// read at and whether the key was live then. EXEC is aborted if a key of
// the key's modification bucket changed after Index, or if the key was live
// and no longer is (it expired, or the database was flushed).
type WatchMark struct {
	DB    uint8
	Key   []byte
	Index uint64
	Live  bool
}

// Watch returns key's WatchMark as of this view.
func (r *Reader) Watch(db uint8, key []byte, now int64) WatchMark {
	_, live := r.Get(db, key, now)
	return WatchMark{DB: db, Key: clone(key), Index: r.applied, Live: live}
}

// Applied returns the applied index this view shows.
func (r *Reader) Applied() uint64 { return r.applied }

// EncodeWatchMarks packs marks into one value of an OpExec command; their
// keys travel as the command's Keys.
func EncodeWatchMarks(marks []WatchMark) (keys [][]byte, val []byte) {
	for _, m := range marks {
		keys = append(keys, m.Key)
		val = append(val, m.DB)
		val = binary.AppendUvarint(val, m.Index)
		live := byte(0)
		if m.Live {
			live = 1
		}
		val = append(val, live)
	}
	return keys, val
}

func decodeWatchMarks(keys [][]byte, val []byte) ([]WatchMark, bool) {
	marks := make([]WatchMark, 0, len(keys))
	for _, k := range keys {
		if len(val) < 3 {
			return nil, false
		}
		m := WatchMark{DB: val[0], Key: k}
		idx, n := binary.Uvarint(val[1:])
		if n <= 0 || len(val) < 1+n+1 || m.DB >= NumDBs {
			return nil, false
		}
		m.Index, m.Live = idx, val[1+n] == 1
		val = val[2+n:]
		marks = append(marks, m)
	}
	return marks, len(val) == 0
}

// watchHolds reports whether no watched key changed since its mark.
func (a *applier) watchHolds(marks []WatchMark) bool {
	for _, m := range marks {
		if a.modIndex(m.DB, m.Key) > m.Index {
			return false
		}
		if m.Live && !a.live(m.DB, m.Key) {
			return false
		}
	}
	return true
}

// live reports whether key holds a value that has not expired at now,
// without deleting an expired one.
func (a *applier) live(db uint8, key []byte) bool {
	rec, ok := decodeRecord(a.raw(db, key))
	return ok && !expired(rec.deadline, a.now)
}

// Keyspace notification classes: Redis's notify-keyspace-events letters.
const (
	ClassGeneric = 'g'
	ClassString  = '$'
	ClassList    = 'l'
	ClassSet     = 's'
	ClassHash    = 'h'
	ClassZSet    = 'z'
	ClassExpired = 'x'
	ClassEvicted = 'e'
	ClassStream  = 't'
	ClassKeyMiss = 'm'
	ClassModule  = 'd'
	ClassNew     = 'n'
)

// NotifyFlags is a parsed notify-keyspace-events value.
type NotifyFlags uint16

// Notify flag bits.
const (
	NotifyKeyspace NotifyFlags = 1 << iota // K
	NotifyKeyevent                         // E
	notifyGeneric
	notifyString
	notifyList
	notifySet
	notifyHash
	notifyZSet
	notifyExpired
	notifyEvicted
	notifyStream
	notifyKeyMiss
	notifyModule
	notifyNew
)

const notifyAll = notifyGeneric | notifyString | notifyList | notifySet | notifyHash | notifyZSet | notifyExpired | notifyEvicted | notifyStream | notifyModule

var classFlags = map[byte]NotifyFlags{
	'K': NotifyKeyspace, 'E': NotifyKeyevent, 'g': notifyGeneric, '$': notifyString,
	'l': notifyList, 's': notifySet, 'h': notifyHash, 'z': notifyZSet, 'x': notifyExpired,
	'e': notifyEvicted, 't': notifyStream, 'm': notifyKeyMiss, 'd': notifyModule, 'n': notifyNew,
}

// ParseNotifyFlags parses a notify-keyspace-events value as Redis does;
// false for a character Redis refuses.
func ParseNotifyFlags(s string) (NotifyFlags, bool) {
	var f NotifyFlags
	for i := 0; i < len(s); i++ {
		if s[i] == 'A' {
			f |= notifyAll
			continue
		}
		bit, ok := classFlags[s[i]]
		if !ok {
			return 0, false
		}
		f |= bit
	}
	return f, true
}

// String returns the flags as Redis prints them (CONFIG GET).
func (f NotifyFlags) String() string {
	var b strings.Builder
	if f&notifyAll == notifyAll {
		b.WriteByte('A')
	} else {
		for _, c := range []byte("g$lshzxetd") {
			if f&classFlags[c] != 0 {
				b.WriteByte(c)
			}
		}
	}
	for _, c := range []byte("mnKE") {
		if f&classFlags[c] != 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (f NotifyFlags) has(class byte) bool {
	return f&(NotifyKeyspace|NotifyKeyevent) != 0 && f&classFlags[class] != 0
}

// ConfigNotify is the replicated setting that holds notify-keyspace-events.
const ConfigNotify = "notify-keyspace-events"

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	// EventKey: Name happened to Key of DB (a keyspace notification of
	// Class). Only classes enabled by notify-keyspace-events are reported.
	EventKey EventKind = iota + 1
	// EventPublish: PUBLISH of Payload to channel Key.
	EventPublish
)

// Event is something subscribers hear of, in log order.
type Event struct {
	Kind    EventKind
	DB      uint8
	Class   byte
	Name    string
	Key     []byte
	Payload []byte
	Flags   NotifyFlags // EventKey: the notify-keyspace-events in force
}

// notifyFlags returns notify-keyspace-events as of this point of apply.
func (a *applier) notifyFlags() NotifyFlags {
	if !a.notifyLoaded {
		a.notifyLoaded = true
		a.notifyCfg, _ = ParseNotifyFlags(string(a.sys(string(sysConfig) + ConfigNotify)))
	}
	return a.notifyCfg
}

// notify reports that the command being applied did name to key (Redis's
// notifyKeyspaceEvent): the key is touched, and subscribers hear of it if
// its class is enabled.
func (a *applier) notify(class byte, name string, db uint8, key []byte) {
	if class != ClassExpired && class != ClassEvicted {
		a.touch(db, key)
	}
	if f := a.notifyFlags(); f.has(class) {
		a.out.Events = append(a.out.Events, Event{Kind: EventKey, DB: db, Class: class, Name: name, Key: clone(key), Flags: f})
	}
}

// expiredKey reports that key's delete after its deadline applied.
func (a *applier) expiredKey(db uint8, key []byte) {
	a.out.Touched = append(a.out.Touched, KeyRef{DB: db, Key: clone(key)})
	a.notify(ClassExpired, "expired", db, key)
}

// setConfig applies a replicated setting.
func (a *applier) setConfig(name string, val []byte) {
	a.setSys(string(sysConfig)+name, bytes.Clone(val))
	if name == ConfigNotify {
		a.notifyLoaded = false
	}
}

// Config returns a replicated setting's value as applied, or nil.
func (r *Reader) Config(name string) []byte {
	return bytes.Clone(lookupSys(r.layers, &r.bv, string(sysConfig)+name))
}

// SysPrefix returns every sys entry whose key starts with prefix, in key
// order, as applied in this view.
func (r *Reader) SysPrefix(prefix byte) (keys []string, vals [][]byte) {
	seen := map[string]bool{}
	for _, l := range r.layers {
		for k := range l.sys {
			if len(k) > 0 && k[0] == prefix {
				seen[k] = true
			}
		}
	}
	c := r.bv.sys().Cursor()
	for k, _ := c.Seek([]byte{prefix}); k != nil && k[0] == prefix; k, _ = c.Next() {
		seen[string(k)] = true
	}
	for k := range seen {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := keys[:0]
	for _, k := range keys {
		if v := lookupSys(r.layers, &r.bv, k); v != nil {
			out = append(out, k)
			vals = append(vals, clone(v))
		}
	}
	return out, vals
}
