package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

func setBit(key string, off int64, on byte, limit int64) Cmd {
	return Cmd{Op: OpSetBit, Keys: [][]byte{[]byte(key)}, Vals: [][]byte{{on}}, Int: off, Limit: limit}
}

func bitOp(op int64, keys ...string) Cmd {
	c := keyCmd(OpBitOp, keys...)
	c.Int = op
	c.Limit = 1 << 20
	return c
}

func bitField(key string, limit int64, ops ...Bitfield) Cmd {
	c := Cmd{Op: OpBitField, Keys: [][]byte{[]byte(key)}, Limit: limit}
	for _, op := range ops {
		c.Vals = append(c.Vals, EncodeBitfieldOp(op))
	}
	return c
}

func ints(r Result) string {
	if r.Kind == ResultErr {
		return "err: " + r.Err.Error()
	}
	var out []string
	for _, e := range r.Elems {
		if e.Kind == ResultNil {
			out = append(out, "nil")
		} else {
			out = append(out, fmt.Sprint(e.Int))
		}
	}
	return fmt.Sprint(out)
}

func TestSetBitAndBitOpApply(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	r := l.apply(1, setBit("b", 7, '1', 100), setBit("b", 7, '1', 100), setBit("b", 0, '1', 100), setBit("b", 7, '0', 100), setBit("b", 20, '1', 100))
	if fmt.Sprint(r[0].Int, r[1].Int, r[2].Int, r[3].Int, r[4].Int) != "0 1 0 1 0" {
		t.Fatalf("SETBIT results %+v", r)
	}
	if v, _ := get(t, db, "b", 1); v != "\x80\x00\x08" {
		t.Fatalf("b = %q", v)
	}
	// Past the limit, negative, past 2^32-1, or with no limit past
	// MaxStringLen: refused before any allocation, nothing changes.
	for _, c := range []Cmd{setBit("b", 800, '1', 100), setBit("b", -1, '1', 100), setBit("b", math.MinInt64, '1', 0),
		setBit("b", MaxBitOffset+1, '1', 0), setBit("b", math.MaxInt64, '1', 0), setBit("new", 100*8, '1', 100)} {
		if r := l.apply(2, c); !errors.Is(r[0].Err, ErrTooLarge) {
			t.Fatalf("SETBIT %d limit %d: %+v", c.Int, c.Limit, r[0])
		}
	}
	if v, _ := get(t, db, "b", 2); v != "\x80\x00\x08" || db.KeyCount(0) != 1 {
		t.Fatalf("b = %q, keys %d after refused SETBITs", v, db.KeyCount(0))
	}
	// The last byte the limit allows; TTL kept.
	l.apply(3, set("t", "", 1000), setBit("t", 99*8+7, '1', 100))
	if v, _ := get(t, db, "t", 3); len(v) != 100 || v[99] != 1 {
		t.Fatalf("t = %q", v)
	}
	if r := l.apply(4, Cmd{Op: OpPersist, Keys: [][]byte{[]byte("t")}}); r[0].Int != 1 {
		t.Fatal("SETBIT dropped the TTL")
	}
	// WRONGTYPE changes nothing.
	l.apply(5, hset("h", "f", "v"))
	for _, c := range []Cmd{setBit("h", 1, '1', 100), bitOp(BitOr, "d", "b", "h"), bitField("h", 100, Bitfield{Op: BitfieldGet, Bits: 8})} {
		if r := l.apply(6, c); r[0].Err != ErrWrongType {
			t.Fatalf("%s on a hash: %+v", c.Op, r[0])
		}
	}
	if _, ok := get(t, db, "d", 6); ok {
		t.Fatal("BITOP with a wrong-type source created its destination")
	}

	// BITOP: the result is as long as the longest source; a missing
	// source is empty; the destination loses its TTL; empty deletes.
	l.apply(7, set("x", "\xff\x0f", 0), set("y", "\x0f", 0), set("d", "old", 5000))
	cases := []struct {
		op   int64
		keys []string
		want string
	}{
		{BitAnd, []string{"x", "y"}, "\x0f\x00"},
		{BitOr, []string{"x", "y", "missing"}, "\xff\x0f"},
		{BitXor, []string{"x", "y"}, "\xf0\x0f"},
		{BitNot, []string{"y"}, "\xf0"},
		{BitAnd, []string{"x", "missing"}, "\x00\x00"},
		{BitXor, []string{"x", "x"}, "\x00\x00"},
	}
	for _, tc := range cases {
		r := l.apply(8, bitOp(tc.op, append([]string{"d"}, tc.keys...)...))
		if v, _ := get(t, db, "d", 8); v != tc.want || r[0].Int != int64(len(tc.want)) {
			t.Fatalf("BITOP %d %v: d = %q (%+v), want %q", tc.op, tc.keys, v, r[0], tc.want)
		}
	}
	if r := l.apply(9, Cmd{Op: OpPersist, Keys: [][]byte{[]byte("d")}}); r[0].Int != 0 {
		t.Fatal("BITOP kept the destination's TTL")
	}
	l.apply(10, hset("hd", "f", "v"))
	for _, dst := range []string{"d", "hd"} {
		if r := l.apply(11, bitOp(BitOr, dst, "missing", "missing2")); r[0].Int != 0 {
			t.Fatalf("empty BITOP: %+v", r[0])
		}
		if _, ok := get(t, db, dst, 11); ok {
			t.Fatalf("empty BITOP left %s", dst)
		}
	}
	// BITOP over a hash destination overwrites it and frees its fields.
	l.apply(12, hset("hd", "f", "v"), bitOp(BitNot, "hd", "x"))
	if v, _ := get(t, db, "hd", 12); v != "\x00\xf0" || elemRecords(t, db) != 1 {
		t.Fatalf("hd = %q, %d element records (h's only)", v, elemRecords(t, db))
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

func TestBitFieldApply(t *testing.T) {
	l := &applyLog{t: t, dbs: []*DB{mustOpen(t), mustOpen(t)}}
	db := l.dbs[0]
	u8 := func(op BitfieldOpcode, off, v int64, ow BitfieldOverflow) Bitfield {
		return Bitfield{Op: op, Bits: 8, Offset: off, Value: v, Overflow: ow}
	}
	i8 := func(op BitfieldOpcode, off, v int64, ow BitfieldOverflow) Bitfield {
		b := u8(op, off, v, ow)
		b.Signed = true
		return b
	}
	// GETs alone neither create the key nor need room.
	r := l.apply(1, bitField("k", 10, u8(BitfieldGet, 1<<30, 0, 0), i8(BitfieldGet, 0, 0, 0)))
	if ints(r[0]) != "[0 0]" || db.KeyCount(0) != 0 {
		t.Fatalf("GET on a missing key: %s, keys %d", ints(r[0]), db.KeyCount(0))
	}
	// An INCRBY refused by OVERFLOW FAIL still creates the key, grown to
	// hold the field (as Redis).
	r = l.apply(2, bitField("k", 100, u8(BitfieldIncrBy, 100, 1000, OverflowFail)))
	if ints(r[0]) != "[nil]" {
		t.Fatalf("FAIL: %s", ints(r[0]))
	}
	if v, ok := get(t, db, "k", 2); !ok || v != string(make([]byte, 14)) {
		t.Fatalf("k = %q %v, want 14 zero bytes", v, ok)
	}
	r = l.apply(3, bitField("k", 100,
		u8(BitfieldSet, 0, -1, OverflowWrap), u8(BitfieldSet, 8, -1, OverflowSat), i8(BitfieldSet, 16, 200, OverflowSat),
		i8(BitfieldSet, 24, -200, OverflowFail), Bitfield{Op: BitfieldGet, Bits: 32}))
	if ints(r[0]) != "[0 0 0 nil 4294934272]" {
		t.Fatalf("SETs: %s", ints(r[0]))
	}
	r = l.apply(4, bitField("k", 100,
		Bitfield{Op: BitfieldIncrBy, Signed: true, Bits: 64, Value: math.MaxInt64},
		Bitfield{Op: BitfieldIncrBy, Signed: true, Bits: 64, Value: 1},
		Bitfield{Op: BitfieldIncrBy, Signed: true, Bits: 64, Value: math.MaxInt64, Overflow: OverflowSat},
		Bitfield{Op: BitfieldIncrBy, Signed: true, Bits: 64, Value: math.MinInt64, Overflow: OverflowFail},
		Bitfield{Op: BitfieldIncrBy, Bits: 63, Offset: 1, Value: math.MinInt64, Overflow: OverflowSat}))
	// Redis 7.0.15 gives the first three for the same string.
	if ints(r[0]) != "[9223230199854792703 9223230199854792704 9223372036854775807 -1 0]" {
		t.Fatalf("64-bit INCRBYs: %s", ints(r[0]))
	}
	// Writes past the limit are refused whole.
	if r := l.apply(5, bitField("k", 100, u8(BitfieldSet, 0, 1, 0), u8(BitfieldSet, 800, 1, 0))); !errors.Is(r[0].Err, ErrTooLarge) {
		t.Fatalf("past the limit: %+v", r[0])
	}
	if r := l.apply(6, bitField("k", 0, Bitfield{Op: BitfieldSet, Signed: true, Bits: 64, Offset: MaxBitOffset})); !errors.Is(r[0].Err, ErrTooLarge) {
		t.Fatalf("past MaxStringLen: %+v", r[0])
	}
	if v, _ := get(t, db, "k", 6); v[0] != 0x80 || len(v) != 14 {
		t.Fatalf("k changed by a refused BITFIELD: %q", v)
	}
	if a, b := digestOf(t, l.dbs[0]), digestOf(t, l.dbs[1]); a != b {
		t.Fatalf("replicas differ: %s %s", a, b)
	}
}

// Malformed bit commands are refused when the entry is decoded.
func TestBitShapes(t *testing.T) {
	bad := []Cmd{
		setBit("k", 1, '2', 0),
		{Op: OpSetBit, Keys: [][]byte{[]byte("k")}, Vals: [][]byte{[]byte("10")}},
		bitOp(BitNot, "d", "a", "b"),
		bitOp(4, "d", "a"),
		bitOp(BitAnd, "d"),
		{Op: OpBitField, Keys: [][]byte{[]byte("k")}, Vals: [][]byte{[]byte("short")}},
		bitField("k", 0, Bitfield{Bits: 64}),                            // u64
		bitField("k", 0, Bitfield{Bits: 0, Signed: true}),               // i0
		bitField("k", 0, Bitfield{Bits: 65, Signed: true}),              // i65
		bitField("k", 0, Bitfield{Bits: 8, Offset: -1}),                 // negative offset
		bitField("k", 0, Bitfield{Bits: 8, Offset: MaxBitOffset + 1}),   // past 2^32-1
		bitField("k", 0, Bitfield{Op: 3, Bits: 8}),                      // no such op
		bitField("k", 0, Bitfield{Bits: 8, Overflow: OverflowFail + 1}), // no such overflow
	}
	for i, c := range bad {
		if _, err := DecodeEntry(entry(1, c)); !errors.Is(err, ErrBadEntry) {
			t.Errorf("case %d (%s): %v, want ErrBadEntry", i, c.Op, err)
		}
	}
	if _, err := DecodeEntry(entry(1, bitField("k", 0))); err != nil {
		t.Errorf("BITFIELD with no operations: %v", err)
	}
}

// The range helpers agree with a bit-by-bit reading of Redis's rules.
func TestBitCountAndPosMatchNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 20000; iter++ {
		n := rng.IntN(20)
		p := make([]byte, n)
		for i := range p {
			switch rng.IntN(4) {
			case 0:
				p[i] = 0
			case 1:
				p[i] = 0xff
			default:
				p[i] = byte(rng.Uint32())
			}
		}
		isBit := rng.IntN(2) == 0
		span := int64(n)
		if isBit {
			span *= 8
		}
		start, end := rng.Int64N(2*span+5)-span-2, rng.Int64N(2*span+5)-span-2
		from, to, ok := BitRange(int64(n), start, end, isBit)
		// The naive range: Redis's clamping, then bits.
		s, e := start, end
		if s < 0 {
			s += span
		}
		if e < 0 {
			e += span
		}
		s, e = max(s, 0), min(max(e, 0), span-1)
		if ok != (s <= e) {
			t.Fatalf("%x %d %d bit=%v: ok %v", p, start, end, isBit, ok)
		}
		if !ok {
			continue
		}
		if !isBit {
			s, e = s*8, e*8+7
		}
		if from != s || to != e {
			t.Fatalf("%x %d %d bit=%v: range %d..%d, want %d..%d", p, start, end, isBit, from, to, s, e)
		}
		var count int64
		first := [2]int64{-1, -1}
		for b := s; b <= e; b++ {
			v := GetBit(p, b)
			count += v
			if first[v] < 0 {
				first[v] = b
			}
		}
		if got := BitCount(p, from, to); got != count {
			t.Fatalf("%x %d..%d: BitCount %d, want %d", p, from, to, got, count)
		}
		for bit := range 2 {
			if got := BitPos(p, byte(bit), from, to); got != first[bit] {
				t.Fatalf("%x %d..%d: BitPos(%d) %d, want %d", p, from, to, bit, got, first[bit])
			}
		}
	}
}

// The overflow checks agree with exact arithmetic for every width, and
// the fields round-trip through setField at any alignment.
func TestBitfieldOverflowMatchesExactArithmetic(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	edge := []int64{0, 1, -1, 2, -2, math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1, 127, 128, -128, -129, 255, 256}
	pick := func() int64 {
		if rng.IntN(2) == 0 {
			return edge[rng.IntN(len(edge))]
		}
		return int64(rng.Uint64()) >> rng.IntN(64)
	}
	for iter := 0; iter < 200000; iter++ {
		signed := rng.IntN(2) == 0
		bits := uint64(1 + rng.IntN(63))
		if signed {
			bits = uint64(1 + rng.IntN(64))
		}
		lo, hi := big.NewInt(0), new(big.Int).Lsh(big.NewInt(1), uint(bits))
		if signed {
			lo = new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), uint(bits-1)))
			hi = new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
		}
		hi.Sub(hi, big.NewInt(1))
		// value: a field's content (in range); incr: anything.
		raw := uint64(pick()) & fieldMask(bits)
		incr := pick()
		ow := BitfieldOverflow(rng.IntN(3))
		var exact *big.Int
		var gotV int64
		var gotO bool
		if signed {
			v := signedFromBits(raw, bits)
			exact = new(big.Int).Add(big.NewInt(v), big.NewInt(incr))
			gotV, gotO = checkSignedOverflow(v, incr, bits, ow)
		} else {
			exact = new(big.Int).Add(new(big.Int).SetUint64(raw), big.NewInt(incr))
			var u uint64
			u, gotO = checkUnsignedOverflow(raw, incr, bits, ow)
			gotV = int64(u)
		}
		over := exact.Cmp(hi) > 0 || exact.Cmp(lo) < 0
		if gotO != over {
			t.Fatalf("signed=%v bits=%d %d+%d: overflow %v, want %v", signed, bits, raw, incr, gotO, over)
		}
		if !over || ow == OverflowFail {
			continue
		}
		var want *big.Int
		switch ow {
		case OverflowSat:
			want = hi
			if exact.Cmp(lo) < 0 {
				want = lo
			}
		case OverflowWrap:
			m := new(big.Int).Lsh(big.NewInt(1), uint(bits))
			want = new(big.Int).Mod(new(big.Int).Sub(exact, lo), m)
			want.Add(want, lo)
		}
		var got *big.Int
		if signed {
			got = big.NewInt(gotV)
		} else {
			got = new(big.Int).SetUint64(uint64(gotV))
		}
		if got.Cmp(want) != 0 {
			t.Fatalf("signed=%v bits=%d %d+%d ow=%d: %s, want %s", signed, bits, raw, incr, ow, got, want)
		}
	}
	for iter := 0; iter < 20000; iter++ {
		bits := uint64(1 + rng.IntN(64))
		off := uint64(rng.IntN(40))
		p := make([]byte, 16)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		before := bytes.Clone(p)
		v := rng.Uint64()
		setField(p, off, bits, v)
		if got := unsignedField(p, off, bits); got != v&fieldMask(bits) {
			t.Fatalf("off %d bits %d: read %x, wrote %x", off, bits, got, v)
		}
		for b := int64(0); b < 128; b++ {
			if (uint64(b) < off || uint64(b) >= off+bits) && GetBit(p, b) != GetBit(before, b) {
				t.Fatalf("off %d bits %d: bit %d outside the field changed", off, bits, b)
			}
		}
		if got := BitfieldGetValue(p, Bitfield{Signed: true, Bits: uint8(bits), Offset: int64(off)}); got != signedFromBits(v&fieldMask(bits), bits) {
			t.Fatalf("signed read %d", got)
		}
	}
}

func signedFromBits(raw, bits uint64) int64 {
	if bits < 64 && raw&(1<<(bits-1)) != 0 {
		raw |= math.MaxUint64 << bits
	}
	return int64(raw)
}

// Bit commands replayed over a checkpoint and a reopen give the same state.
func TestBitOpsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	open := func() *DB {
		db, err := Open(filepath.Join(dir, "state.db"), Options{InitialMmapSize: 1 << 24})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	ref := mustOpen(t)
	var log []LogEntry
	for i := range 50 {
		cmds := []Cmd{setBit(fmt.Sprint("k", i%5), int64(i*13%200), '1', 1000),
			bitField("f", 1000, Bitfield{Op: BitfieldIncrBy, Signed: true, Bits: 12, Offset: int64(i % 30), Value: int64(i * 77)}),
			bitOp(int64(i%4), "d", fmt.Sprint("k", i%5))}
		if i%4 != int(BitNot) {
			cmds[2] = bitOp(int64(i%4), "d", fmt.Sprint("k", i%5), "f")
		}
		log = append(log, LogEntry{Index: uint64(i + 1), Data: entry(int64(i), cmds...)})
	}
	mustApply(t, db, log[:25]...)
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	mustApply(t, db, log[25:]...)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open()
	defer db.Close()
	mustApply(t, db, log...) // a replay: every entry is skipped
	for _, e := range log {
		mustApply(t, ref, e)
	}
	if a, b := digestOf(t, db), digestOf(t, ref); a != b {
		t.Fatalf("reopened store %s, reference %s", a, b)
	}
}
