package storage

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// The bit family: bit operations on string values (SETBIT, BITOP,
// BITFIELD). Bits are numbered as Redis numbers them: bit 0 is the most
// significant bit of the first byte. Strings grow with zero bytes; every
// size is checked against the command's Limit (0: MaxStringLen) before
// anything is allocated.
const (
	// OpSetBit sets bit Int of the string at Keys[0] to Vals[0] ("0" or
	// "1"), growing it with zero bytes; Limit caps the string's size.
	// Result: the bit's previous value.
	OpSetBit Op = opBitBase + iota
	// OpBitOp stores in Keys[0] the bitwise operation Int (BitAnd, BitOr,
	// BitXor or BitNot; NOT takes exactly one source) of the strings
	// Keys[1:] (a missing key is an empty string). The result is as long as
	// the longest source; an empty result deletes Keys[0]. The destination
	// loses its TTL, as Redis's SET. Result: the result's length.
	OpBitOp
	// OpBitField runs the BITFIELD operations Vals (each one encoded by
	// EncodeBitfieldOp) on the string at Keys[0]. Only GETs: a missing key
	// reads as zeros and is not created. Any SET or INCRBY: the string
	// first grows to hold the highest bit written (created even if every
	// write fails an OVERFLOW FAIL), within Limit. Result: an array, one
	// integer (or nil, for a write OVERFLOW FAIL refused) per operation.
	OpBitField
	opBitEnd
)

var bitOpNames = [...]string{"SETBIT", "BITOP", "BITFIELD"}

func bitOpName(o Op) string {
	if o >= opBitBase && o < opBitEnd {
		return bitOpNames[o-opBitBase]
	}
	return ""
}

// BITOP operations (OpBitOp's Int).
const (
	BitAnd int64 = iota
	BitOr
	BitXor
	BitNot
)

func bitShape(c *Cmd) bool {
	nk, nv := len(c.Keys), len(c.Vals)
	switch c.Op {
	case OpSetBit:
		return nk == 1 && nv == 1 && len(c.Vals[0]) == 1 && (c.Vals[0][0] == '0' || c.Vals[0][0] == '1')
	case OpBitOp:
		return nk >= 2 && nv == 0 && c.Int >= BitAnd && c.Int <= BitNot && (c.Int != BitNot || nk == 2)
	case OpBitField:
		if nk != 1 {
			return false
		}
		for _, v := range c.Vals {
			if _, ok := DecodeBitfieldOp(v); !ok {
				return false
			}
		}
		return true
	}
	return false
}

// bitLimit is the largest string a bit command may build.
func bitLimit(c *Cmd) int64 {
	if c.Limit > 0 {
		return min(MaxStringLen, c.Limit)
	}
	return MaxStringLen
}

func (a *applier) bitCmd(c *Cmd) Result {
	switch c.Op {
	case OpSetBit:
		return a.setBit(c)
	case OpBitOp:
		return a.bitOp(c)
	case OpBitField:
		return a.bitField(c)
	}
	return errResult(ErrBadEntry)
}

// MaxBitOffset is the largest bit offset SETBIT, GETBIT and BITFIELD
// accept: Redis refuses offsets whose byte lies past proto-max-bulk-len
// (512 MiB), i.e. offsets of 2^32 and more.
const MaxBitOffset = MaxStringLen*8 - 1

func (a *applier) setBit(c *Cmd) Result {
	s, err := a.stringSlot(c.DB, c.Keys[0])
	if err != nil {
		return errResult(err)
	}
	off := c.Int
	if off < 0 || off > MaxBitOffset || off>>3 >= bitLimit(c) {
		return errResult(ErrTooLarge)
	}
	idx := off >> 3
	mask := byte(1) << (7 - uint(off&7))
	cur := s.rec.value
	var old int64
	if idx < int64(len(cur)) && cur[idx]&mask != 0 {
		old = 1
	}
	on := c.Vals[0][0] == '1'
	if s.exists && idx < int64(len(cur)) && (old == 1) == on {
		return intResult(old) // nothing changes
	}
	v := make([]byte, max(int64(len(cur)), idx+1))
	copy(v, cur)
	if on {
		v[idx] |= mask
	} else {
		v[idx] &^= mask
	}
	a.put(&s, v, s.rec.deadline)
	a.notify(ClassString, "setbit", c.DB, c.Keys[0])
	return intResult(old)
}

func (a *applier) bitOp(c *Cmd) Result {
	srcs := make([][]byte, len(c.Keys)-1)
	maxLen := 0
	for i, k := range c.Keys[1:] {
		s, err := a.stringSlot(c.DB, k)
		if err != nil {
			return errResult(err)
		}
		srcs[i] = s.rec.value
		maxLen = max(maxLen, len(s.rec.value))
	}
	if int64(maxLen) > bitLimit(c) {
		return errResult(ErrTooLarge)
	}
	dst := a.lookup(c.DB, c.Keys[0])
	if maxLen == 0 {
		if dst.exists {
			a.del(&dst)
			a.notify(ClassGeneric, "del", c.DB, c.Keys[0])
		}
		return intResult(0)
	}
	res := BitOp(c.Int, srcs, maxLen)
	a.put(&dst, res, 0)
	a.notify(ClassString, "set", c.DB, c.Keys[0])
	return intResult(int64(maxLen))
}

// BitOp returns the bitwise op (BitAnd, BitOr, BitXor, BitNot) of srcs,
// each padded with zero bytes to n bytes.
func BitOp(op int64, srcs [][]byte, n int) []byte {
	res := make([]byte, n)
	if op == BitNot {
		for i := range res {
			if i < len(srcs[0]) {
				res[i] = ^srcs[0][i]
			} else {
				res[i] = 0xff
			}
		}
		return res
	}
	copy(res, srcs[0])
	for _, s := range srcs[1:] {
		switch op {
		case BitAnd:
			for i := range res {
				if i < len(s) {
					res[i] &= s[i]
				} else {
					res[i] = 0
				}
			}
		case BitOr:
			for i := range s {
				res[i] |= s[i]
			}
		case BitXor:
			for i := range s {
				res[i] ^= s[i]
			}
		}
	}
	return res
}

// Bitfield is one BITFIELD operation.
type Bitfield struct {
	Op       BitfieldOpcode
	Signed   bool
	Bits     uint8 // 1..64 signed, 1..63 unsigned
	Overflow BitfieldOverflow
	Offset   int64 // bit offset, 0..MaxBitOffset
	Value    int64 // SET's value, INCRBY's increment
}

// BitfieldOpcode is GET, SET or INCRBY.
type BitfieldOpcode uint8

// The BITFIELD operations.
const (
	BitfieldGet BitfieldOpcode = iota
	BitfieldSet
	BitfieldIncrBy
)

// BitfieldOverflow is the OVERFLOW behaviour of a SET or INCRBY.
type BitfieldOverflow uint8

// The OVERFLOW behaviours.
const (
	OverflowWrap BitfieldOverflow = iota
	OverflowSat
	OverflowFail
)

const bitfieldOpLen = 4 + 8 + 8

// EncodeBitfieldOp encodes op for OpBitField's Vals.
func EncodeBitfieldOp(op Bitfield) []byte {
	b := make([]byte, bitfieldOpLen)
	b[0] = byte(op.Op)
	if op.Signed {
		b[1] = 1
	}
	b[2] = op.Bits
	b[3] = byte(op.Overflow)
	binary.BigEndian.PutUint64(b[4:], uint64(op.Offset))
	binary.BigEndian.PutUint64(b[12:], uint64(op.Value))
	return b
}

// DecodeBitfieldOp decodes and checks an encoded operation.
func DecodeBitfieldOp(b []byte) (Bitfield, bool) {
	if len(b) != bitfieldOpLen || b[0] > byte(BitfieldIncrBy) || b[1] > 1 || b[3] > byte(OverflowFail) {
		return Bitfield{}, false
	}
	op := Bitfield{Op: BitfieldOpcode(b[0]), Signed: b[1] == 1, Bits: b[2], Overflow: BitfieldOverflow(b[3]),
		Offset: int64(binary.BigEndian.Uint64(b[4:])), Value: int64(binary.BigEndian.Uint64(b[12:]))}
	if op.Bits < 1 || (op.Signed && op.Bits > 64) || (!op.Signed && op.Bits > 63) || op.Offset < 0 || op.Offset > MaxBitOffset {
		return Bitfield{}, false
	}
	return op, true
}

// BitfieldEnd returns the number of bytes a string needs to hold op's
// field: the byte of its last bit, plus one.
func (op Bitfield) BitfieldEnd() int64 { return (op.Offset+int64(op.Bits)-1)>>3 + 1 }

func (a *applier) bitField(c *Cmd) Result {
	ops := make([]Bitfield, len(c.Vals))
	var need int64 // bytes the writes need; 0: only GETs
	for i, v := range c.Vals {
		ops[i], _ = DecodeBitfieldOp(v) // the shape check decoded them
		if ops[i].Op != BitfieldGet {
			need = max(need, ops[i].BitfieldEnd())
		}
	}
	s, err := a.stringSlot(c.DB, c.Keys[0])
	if err != nil {
		return errResult(err)
	}
	if need == 0 {
		res := make([]Result, len(ops))
		for i, op := range ops {
			res[i] = intResult(BitfieldGetValue(s.rec.value, op))
		}
		return arrayResult(res)
	}
	if need > bitLimit(c) {
		return errResult(ErrTooLarge)
	}
	v := make([]byte, max(int64(len(s.rec.value)), need))
	copy(v, s.rec.value)
	res, changed := RunBitfield(v, ops)
	grown := !s.exists || need > int64(len(s.rec.value))
	if changed || grown {
		a.put(&s, v, s.rec.deadline)
	}
	// Redis reports "setbit" when a write changed a field, or was done
	// (not refused by OVERFLOW FAIL) on a string it grew: growing alone,
	// with every write refused, creates or grows the key silently.
	if changed || grown && bitfieldWrote(ops, res) {
		a.notify(ClassString, "setbit", c.DB, c.Keys[0])
	}
	return arrayResult(res)
}

// bitfieldWrote reports whether a SET or INCRBY of ops was done.
func bitfieldWrote(ops []Bitfield, res []Result) bool {
	for i, op := range ops {
		if op.Op != BitfieldGet && res[i].Kind != ResultNil {
			return true
		}
	}
	return false
}

// RunBitfield runs ops on p, which holds every bit the writes touch, and
// returns their results and whether p changed.
func RunBitfield(p []byte, ops []Bitfield) ([]Result, bool) {
	res := make([]Result, len(ops))
	changed := false
	for i, op := range ops {
		if op.Op == BitfieldGet {
			res[i] = intResult(BitfieldGetValue(p, op))
			continue
		}
		bits := uint64(op.Bits)
		var reply int64
		var newBits uint64
		var overflow bool
		if op.Signed {
			old := signedField(p, uint64(op.Offset), bits)
			var nv int64
			if op.Op == BitfieldIncrBy {
				w, o := checkSignedOverflow(old, op.Value, bits, op.Overflow)
				nv, overflow = old+op.Value, o
				if o {
					nv = w
				}
				reply = nv
			} else {
				nv = op.Value
				w, o := checkSignedOverflow(nv, 0, bits, op.Overflow)
				if o {
					nv = w
				}
				overflow = o
				reply = old
			}
			newBits = uint64(nv)
		} else {
			old := unsignedField(p, uint64(op.Offset), bits)
			var nv uint64
			if op.Op == BitfieldIncrBy {
				w, o := checkUnsignedOverflow(old, op.Value, bits, op.Overflow)
				nv, overflow = old+uint64(op.Value), o
				if o {
					nv = w
				}
				reply = int64(nv)
			} else {
				nv = uint64(op.Value)
				w, o := checkUnsignedOverflow(nv, 0, bits, op.Overflow)
				if o {
					nv = w
				}
				overflow = o
				reply = int64(old)
			}
			newBits = nv
		}
		if overflow && op.Overflow == OverflowFail {
			res[i] = nilResult()
			continue
		}
		res[i] = intResult(reply)
		if unsignedField(p, uint64(op.Offset), bits) != newBits&fieldMask(bits) {
			changed = true
		}
		setField(p, uint64(op.Offset), bits, newBits)
	}
	return res, changed
}

// BitfieldGetValue reads op's field from p, zero-padded past its end.
func BitfieldGetValue(p []byte, op Bitfield) int64 {
	// Copy the (up to 9) bytes the field spans, zero-padded, as Redis does.
	var buf [9]byte
	start := op.Offset >> 3
	for i := int64(0); i < 9 && start+i < int64(len(p)); i++ {
		buf[i] = p[start+i]
	}
	rel := uint64(op.Offset - start*8)
	if op.Signed {
		return signedField(buf[:], rel, uint64(op.Bits))
	}
	return int64(unsignedField(buf[:], rel, uint64(op.Bits)))
}

func fieldMask(bits uint64) uint64 {
	if bits >= 64 {
		return math.MaxUint64
	}
	return 1<<bits - 1
}

func unsignedField(p []byte, offset, bits uint64) uint64 {
	var v uint64
	for i := uint64(0); i < bits; i++ {
		pos := offset + i
		v <<= 1
		if p[pos>>3]&(1<<(7-pos&7)) != 0 {
			v |= 1
		}
	}
	return v
}

func signedField(p []byte, offset, bits uint64) int64 {
	v := unsignedField(p, offset, bits)
	if bits < 64 && v&(1<<(bits-1)) != 0 {
		v |= math.MaxUint64 << bits
	}
	return int64(v)
}

func setField(p []byte, offset, bits, value uint64) {
	for i := uint64(0); i < bits; i++ {
		pos := offset + i
		mask := byte(1) << (7 - pos&7)
		if value&(1<<(bits-1-i)) != 0 {
			p[pos>>3] |= mask
		} else {
			p[pos>>3] &^= mask
		}
	}
}

// checkUnsignedOverflow is Redis's checkUnsignedBitfieldOverflow: whether
// value+incr overflows a bits-wide unsigned field, and the value WRAP or
// SAT turns it into.
func checkUnsignedOverflow(value uint64, incr int64, bits uint64, ow BitfieldOverflow) (uint64, bool) {
	maxV := fieldMask(bits)
	maxIncr := int64(maxV - value)
	minIncr := int64(-value)
	wrap := func() uint64 { return (value + uint64(incr)) & maxV }
	switch {
	case value > maxV || (incr > 0 && incr > maxIncr):
		if ow == OverflowWrap {
			return wrap(), true
		}
		return maxV, true
	case incr < 0 && incr < minIncr:
		if ow == OverflowWrap {
			return wrap(), true
		}
		return 0, true
	}
	return 0, false
}

// checkSignedOverflow is Redis's checkSignedBitfieldOverflow.
func checkSignedOverflow(value, incr int64, bits uint64, ow BitfieldOverflow) (int64, bool) {
	maxV := int64(math.MaxInt64)
	if bits != 64 {
		maxV = 1<<(bits-1) - 1
	}
	minV := -maxV - 1
	maxIncr := int64(uint64(maxV) - uint64(value)) // may wrap, as in Redis
	minIncr := minV - value
	wrap := func() int64 {
		c := uint64(value) + uint64(incr)
		if bits < 64 {
			mask := uint64(math.MaxUint64) << bits
			if c&(1<<(bits-1)) != 0 {
				c |= mask
			} else {
				c &^= mask
			}
		}
		return int64(c)
	}
	switch {
	case value > maxV || (bits != 64 && incr > maxIncr) || (value >= 0 && incr > 0 && incr > maxIncr):
		if ow == OverflowWrap {
			return wrap(), true
		}
		return maxV, true
	case value < minV || (bits != 64 && incr < minIncr) || (value < 0 && incr < 0 && incr < minIncr):
		if ow == OverflowWrap {
			return wrap(), true
		}
		return minV, true
	}
	return 0, false
}

// GetBit returns bit off of p (0 past its end).
func GetBit(p []byte, off int64) int64 {
	idx := off >> 3
	if off < 0 || idx >= int64(len(p)) {
		return 0
	}
	return int64(p[idx]>>(7-uint(off&7))) & 1
}

// BitRange turns BITCOUNT's and BITPOS's start and end (negative: from
// the end) into an inclusive range of bit positions in a string of n
// bytes, as Redis clamps them; ok is false for an empty range. isBit
// reads start and end as bit positions, else as byte positions.
func BitRange(n, start, end int64, isBit bool) (from, to int64, ok bool) {
	total := n
	if isBit {
		total = n * 8
	}
	if start < 0 {
		start = max(total+start, 0)
	}
	if end < 0 {
		end = max(total+end, 0)
	}
	end = min(end, total-1)
	if start > end {
		return 0, 0, false
	}
	if isBit {
		return start, end, true
	}
	return start * 8, end*8 + 7, true
}

// BitCount counts the set bits of p in the inclusive bit range [from, to].
func BitCount(p []byte, from, to int64) int64 {
	fb, tb := from>>3, to>>3
	first := p[fb] & (0xff >> uint(from&7))
	if fb == tb {
		return int64(bits.OnesCount8(first & (0xff << uint(7-to&7))))
	}
	n := int64(bits.OnesCount8(first)) + int64(bits.OnesCount8(p[tb]&(0xff<<uint(7-to&7))))
	mid := p[fb+1 : tb]
	for len(mid) >= 8 {
		n += int64(bits.OnesCount64(binary.LittleEndian.Uint64(mid)))
		mid = mid[8:]
	}
	for _, b := range mid {
		n += int64(bits.OnesCount8(b))
	}
	return n
}

// BitPos returns the position of the first bit equal to bit in the
// inclusive bit range [from, to] of p, or -1.
func BitPos(p []byte, bit byte, from, to int64) int64 {
	skip := byte(0x00) // a byte with no bit we look for
	if bit == 0 {
		skip = 0xff
	}
	for pos := from; pos <= to; {
		if pos&7 == 0 && pos+7 <= to && p[pos>>3] == skip {
			pos += 8
			continue
		}
		if byte(GetBit(p, pos)) == bit {
			return pos
		}
		pos++
	}
	return -1
}
