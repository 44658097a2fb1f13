package storage

import (
	"encoding/binary"
	"fmt"
)

// Op is a log command's operation.
type Op uint8

// The operations a log command can carry. Times in a Cmd are absolute Unix
// milliseconds decided by the leader; Entry.Now is the leader's clock.
const (
	// OpSet stores Vals[0] under Keys[0] with Deadline (0 = none).
	// Flags: NX, XX, KeepTTL, Get.
	OpSet Op = iota + 1
	// OpDel deletes Keys; result: number deleted.
	OpDel
	// OpIncrBy adds Int to the integer at Keys[0].
	OpIncrBy
	// OpIncrByFloat adds the float in Vals[0] to the value at Keys[0].
	OpIncrByFloat
	// OpAppend appends Vals[0] to Keys[0]; Limit caps the result's size.
	OpAppend
	// OpSetRange overwrites Keys[0] at offset Int with Vals[0]; Limit caps the size.
	OpSetRange
	// OpExpire sets Keys[0]'s deadline to Deadline. Flags: NX, XX, GT, LT.
	// A deadline at or before Now deletes the key.
	OpExpire
	// OpPersist removes Keys[0]'s deadline.
	OpPersist
	// OpRename renames Keys[0] to Keys[1]. Flags: NX.
	OpRename
	// OpMSet stores Vals[i] under Keys[i]. Flags: NX (MSETNX: all or nothing).
	OpMSet
	// OpGetDel returns and deletes Keys[0].
	OpGetDel
	// OpGetEx returns Keys[0] and sets its deadline to Deadline, or removes
	// it with Flags Persist.
	OpGetEx
	// OpFlushDB deletes every key of DB.
	OpFlushDB
	// OpFlushAll deletes every key of every database.
	OpFlushAll
	// OpExpireIf deletes Keys[0] only if its stored deadline is still
	// Deadline and has passed at Now. The expiry driver proposes it.
	OpExpireIf
	// OpGC removes up to Int element records of the oldest released
	// collection (see DB.GarbageCount). The leader proposes it.
	OpGC
	opStringMax
)

// The collection families' ops each have a range and a file of their own
// (hash.go, set.go, zset.go, list.go, bits.go, keyops.go) that defines the
// ops, applies them, checks their shape and names them; see families.
const (
	opHashBase Op = 32
	opSetBase  Op = 48
	opZSetBase Op = 64
	opListBase Op = 96
	opBitBase  Op = 128
	opKeyBase  Op = 144
	opTxnBase  Op = 160
	opMax      Op = 176
)

// family is one range of ops.
type family struct {
	base, end Op
	apply     func(a *applier, c *Cmd) Result
	shape     func(c *Cmd) bool // Keys and Vals as the op requires
	name      func(o Op) string // "" for an op the family does not define
}

var families = [...]family{
	{opHashBase, opSetBase, (*applier).hashCmd, hashShape, hashOpName},
	{opSetBase, opZSetBase, (*applier).setCmd, setShape, setOpName},
	{opZSetBase, opListBase, (*applier).zsetCmd, zsetShape, zsetOpName},
	{opListBase, opBitBase, (*applier).listCmd, listShape, listOpName},
	{opBitBase, opKeyBase, (*applier).bitCmd, bitShape, bitOpName},
	{opKeyBase, opTxnBase, (*applier).keyCmd, keyShape, keyOpName},
	{opTxnBase, opMax, (*applier).txnCmd, txnShape, txnOpName},
}

func familyOf(o Op) *family {
	for i := range families {
		if o >= families[i].base && o < families[i].end {
			return &families[i]
		}
	}
	return nil
}

var opNames = [opStringMax]string{
	OpSet: "SET", OpDel: "DEL", OpIncrBy: "INCRBY", OpIncrByFloat: "INCRBYFLOAT",
	OpAppend: "APPEND", OpSetRange: "SETRANGE", OpExpire: "EXPIRE", OpPersist: "PERSIST",
	OpRename: "RENAME", OpMSet: "MSET", OpGetDel: "GETDEL", OpGetEx: "GETEX",
	OpFlushDB: "FLUSHDB", OpFlushAll: "FLUSHALL", OpExpireIf: "EXPIREIF", OpGC: "GC",
}

// String returns the op's name, for logs.
func (o Op) String() string {
	if o < opStringMax && opNames[o] != "" {
		return opNames[o]
	}
	if f := familyOf(o); f != nil && f.name(o) != "" {
		return f.name(o)
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Flag modifies a Cmd.
type Flag uint16

// Command flags.
const (
	FlagNX Flag = 1 << iota
	FlagXX
	FlagGT
	FlagLT
	FlagKeepTTL
	FlagGet
	FlagPersist
	// FlagQuickPick: OpSPop picks by elemSpan.randomElem's quick draws.
	// A new flag rather than a new pick for every SPOP, so that an entry
	// logged by an older keepkv pops the same members when replayed.
	FlagQuickPick
)

// Cmd is one write command as it travels through the Raft log.
type Cmd struct {
	Op       Op
	DB       uint8
	Flags    Flag
	Keys     [][]byte
	Vals     [][]byte
	Int      int64
	Deadline int64
	Limit    int64
}

// Entry is the payload of one Raft log entry: a batch of commands stamped
// with the leader's clock. All commands of an entry are applied in order in
// one transaction.
type Entry struct {
	Now  int64
	Cmds []Cmd
	// Origin names the client whose commands these are (opaque to
	// storage); it comes back with the keys they touched, so a client
	// tracking keys with NOLOOP is not told of its own writes.
	Origin []byte
	// Reqs, if not nil, holds a request id per command (empty: none): a
	// command whose id was applied before is not applied again, and its
	// stored result is returned (dedupe.go).
	Reqs [][]byte
}

// Entry format versions: 2 adds Origin after Now, 3 adds Reqs after it.
const (
	entryVersion       = 1
	entryVersionOrigin = 2
	entryVersionReqs   = 3
)

// Encode returns the binary form of e.
func (e *Entry) Encode() []byte {
	n := 16
	for i := range e.Cmds {
		n += 32
		for _, k := range e.Cmds[i].Keys {
			n += len(k) + 5
		}
		for _, v := range e.Cmds[i].Vals {
			n += len(v) + 5
		}
	}
	b := make([]byte, 0, n+len(e.Origin))
	switch {
	case e.Reqs != nil:
		b = append(b, entryVersionReqs)
		b = binary.BigEndian.AppendUint64(b, uint64(e.Now))
		b = binary.AppendUvarint(b, uint64(len(e.Origin)))
		b = append(b, e.Origin...)
		b = appendList(b, e.Reqs)
	case e.Origin != nil:
		b = append(b, entryVersionOrigin)
		b = binary.BigEndian.AppendUint64(b, uint64(e.Now))
		b = binary.AppendUvarint(b, uint64(len(e.Origin)))
		b = append(b, e.Origin...)
	default:
		b = append(b, entryVersion)
		b = binary.BigEndian.AppendUint64(b, uint64(e.Now))
	}
	b = binary.AppendUvarint(b, uint64(len(e.Cmds)))
	for i := range e.Cmds {
		b = e.Cmds[i].append(b)
	}
	return b
}

func (c *Cmd) append(b []byte) []byte {
	b = append(b, byte(c.Op), c.DB)
	b = binary.AppendUvarint(b, uint64(c.Flags))
	b = binary.AppendVarint(b, c.Int)
	b = binary.AppendVarint(b, c.Deadline)
	b = binary.AppendVarint(b, c.Limit)
	b = appendList(b, c.Keys)
	return appendList(b, c.Vals)
}

func appendList(b []byte, list [][]byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(list)))
	for _, x := range list {
		b = binary.AppendUvarint(b, uint64(len(x)))
		b = append(b, x...)
	}
	return b
}

// DecodeEntry parses an encoded Entry. The returned byte slices alias data.
func DecodeEntry(data []byte) (Entry, error) {
	d := decoder{b: data}
	v := d.byte()
	if v < entryVersion || v > entryVersionReqs {
		return Entry{}, fmt.Errorf("%w: version %d", ErrBadEntry, v)
	}
	e := Entry{Now: int64(d.u64())}
	if v >= entryVersionOrigin {
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			return Entry{}, fmt.Errorf("%w: origin length %d", ErrBadEntry, n)
		}
		e.Origin = d.b[:n:n]
		d.b = d.b[n:]
	}
	if v >= entryVersionReqs {
		e.Reqs = d.list()
	}
	n := d.uvarint()
	if n > uint64(len(data)) {
		return Entry{}, fmt.Errorf("%w: %d commands", ErrBadEntry, n)
	}
	e.Cmds = make([]Cmd, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		e.Cmds = append(e.Cmds, d.cmd())
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrBadEntry, len(d.b))
	}
	if d.err == nil && e.Reqs != nil && len(e.Reqs) != len(e.Cmds) {
		d.err = fmt.Errorf("%w: %d request ids for %d commands", ErrBadEntry, len(e.Reqs), len(e.Cmds))
	}
	if d.err != nil {
		return Entry{}, d.err
	}
	return e, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrBadEntry, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail("u64")
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) list() [][]byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("list length")
		return nil
	}
	list := make([][]byte, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		l := d.uvarint()
		if l > uint64(len(d.b)) {
			d.fail("string length")
			return nil
		}
		list = append(list, d.b[:l:l])
		d.b = d.b[l:]
	}
	return list
}

func (d *decoder) cmd() Cmd {
	c := Cmd{Op: Op(d.byte()), DB: d.byte()}
	c.Flags = Flag(d.uvarint())
	c.Int = d.varint()
	c.Deadline = d.varint()
	c.Limit = d.varint()
	c.Keys = d.list()
	c.Vals = d.list()
	if d.err == nil {
		if err := c.Validate(); err != nil {
			d.err = err
		}
	}
	return c
}

// Validate checks the shape a command's op requires, so that apply can index
// Keys and Vals without checking.
func (c *Cmd) Validate() error {
	f := familyOf(c.Op)
	if c.Op == 0 || (c.Op >= opStringMax && (f == nil || f.name(c.Op) == "")) {
		return fmt.Errorf("%w: op %d", ErrBadEntry, c.Op)
	}
	if c.DB >= NumDBs {
		return fmt.Errorf("%w: db %d", ErrBadEntry, c.DB)
	}
	nk, nv := len(c.Keys), len(c.Vals)
	ok := true
	switch {
	case f != nil:
		ok = f.shape(c)
	}
	switch c.Op {
	case OpSet, OpIncrByFloat, OpAppend, OpSetRange:
		ok = nk == 1 && nv == 1
	case OpDel:
		ok = nk >= 1 && nv == 0
	case OpIncrBy, OpExpire, OpPersist, OpGetDel, OpGetEx, OpExpireIf:
		ok = nk == 1 && nv == 0
	case OpRename:
		ok = nk == 2 && nv == 0
	case OpMSet:
		ok = nk >= 1 && nk == nv
	case OpFlushDB, OpFlushAll, OpGC:
		ok = nk == 0 && nv == 0
	}
	if !ok {
		return fmt.Errorf("%w: op %d with %d keys and %d values", ErrBadEntry, c.Op, nk, nv)
	}
	return nil
}
