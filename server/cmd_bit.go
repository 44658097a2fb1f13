package server

import (
	"context"

	"github.com/keepkv/keepkv/storage"
)

// bitCommands are the bit commands on strings (group bitmap) and LCS.
func bitCommands() []*command {
	const g = "bitmap"
	return []*command{
		{name: "setbit", arity: 4, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", since: "2.2.0", write: cmdSetBit},
		{name: "getbit", arity: 3, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Returns a bit value by offset.", since: "2.2.0", read: cmdGetBit},
		{name: "bitcount", arity: -2, flags: flagRead, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Counts the number of set bits (population counting) in a string.", since: "2.6.0", read: cmdBitCount},
		{name: "bitpos", arity: -3, flags: flagRead, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Finds the first set (1) or clear (0) bit in a string.", since: "2.8.7", read: cmdBitPos},
		{name: "bitop", arity: -4, flags: flagWrite | flagDenyOOM, firstKey: 2, lastKey: -1, step: 1, group: g, summary: "Performs bitwise operations on multiple strings, and stores the result.", since: "2.6.0", write: cmdBitOp},
		{name: "bitfield", arity: -2, flags: flagWrite | flagDenyOOM, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Performs arbitrary bitfield integer operations on strings.", since: "3.2.0", write: cmdBitField},
		{name: "bitfield_ro", arity: -2, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, step: 1, group: g, summary: "Performs arbitrary read-only bitfield integer operations on strings.", since: "6.0.0", read: cmdBitFieldRO},
		// LCS is O(len(a)*len(b)): flagScan runs it outside the shared read
		// view (it copies the two strings in a short view of its own), so
		// its work holds up no apply, and ends if the client goes away.
		{name: "lcs", arity: -3, flags: flagRead | flagScan, firstKey: 1, lastKey: 2, step: 1, group: "string", summary: "Finds the longest common substring.", since: "7.0.0", read: cmdLCS},
	}
}

const (
	errBitOffset    = "ERR bit offset is not an integer or out of range"
	errBitValue     = "ERR bit is not an integer or out of range"
	errBitArg       = "ERR The bit argument must be 1 or 0."
	errBitfieldType = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
	errBitfieldOver = "ERR Invalid OVERFLOW type specified"
	errBitfieldRO   = "ERR BITFIELD_RO only supports the GET subcommand"
	errBitopNot     = "ERR BITOP NOT must be called with a single source key."
)

// bitOffset parses a bit offset as Redis's getBitOffsetFromArgument:
// with hash, "#n" means n*bits. Offsets whose byte lies at or past
// proto-max-bulk-len (512 MiB: bit 2^32) are refused.
func (x *execCtx) bitOffset(arg []byte, hash bool, bits int64) (int64, bool) {
	useHash := hash && bits > 0 && len(arg) > 0 && arg[0] == '#'
	if useHash {
		arg = arg[1:]
	}
	off, ok := parseInt(arg)
	if !ok {
		return 0, false
	}
	if useHash {
		off *= bits // wraps on overflow, as Redis's C arithmetic does
	}
	limit := min(x.s.cfg.Limits.MaxBulkLen, storage.MaxStringLen)
	if off < 0 || off>>3 >= limit {
		return 0, false
	}
	return off, true
}

// checkSize refuses a write that would grow a string past MaxValueSize
// bytes.
func (x *execCtx) checkSize(n int64) string {
	if n > x.s.cfg.MaxValueSize {
		return errTooLarge
	}
	return ""
}

func cmdSetBit(x *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpSetBit, Keys: args[1:2], Limit: x.s.cfg.MaxValueSize}
	off, ok := x.bitOffset(args[2], false, 0)
	if !ok {
		return c, errBitOffset
	}
	on, ok := parseInt(args[3])
	if !ok || on&^1 != 0 {
		return c, errBitValue
	}
	c.Int = off
	c.Vals = [][]byte{{byte('0' + on)}}
	return c, x.checkSize(off>>3 + 1)
}

// bitString reads key for a bit command: it writes WRONGTYPE itself and
// reports whether the caller should go on.
func (x *execCtx) bitString(r *storage.Reader, key []byte) ([]byte, bool, bool) {
	v, ok := r.Get(x.st.db, key, x.now)
	if ok && v.Type != storage.TypeString {
		x.w.Error(errWrongType)
		return nil, false, false
	}
	return v.Data, ok, true
}

func cmdGetBit(x *execCtx, r *storage.Reader, args [][]byte) {
	off, ok := x.bitOffset(args[2], false, 0)
	if !ok {
		x.w.Error(errBitOffset)
		return
	}
	data, _, goOn := x.bitString(r, args[1])
	if goOn {
		x.w.Int(storage.GetBit(data, off))
	}
}

// bitUnit parses BITCOUNT's and BITPOS's BYTE|BIT.
func bitUnit(arg []byte) (isBit, ok bool) {
	switch {
	case eq(arg, "bit"):
		return true, true
	case eq(arg, "byte"):
		return false, true
	}
	return false, false
}

// cmdBitCount follows Redis 7.0: the key is looked up before the range
// is parsed, so a missing key counts 0 whatever the arguments.
func cmdBitCount(x *execCtx, r *storage.Reader, args [][]byte) {
	data, ok, goOn := x.bitString(r, args[1])
	if !goOn {
		return
	}
	if !ok {
		x.w.Int(0)
		return
	}
	n := int64(len(data))
	var from, to int64
	switch len(args) {
	case 2:
		if n == 0 {
			x.w.Int(0)
			return
		}
		from, to = 0, n*8-1
	case 4, 5:
		start, ok1 := parseInt(args[2])
		if !ok1 {
			x.w.Error(errNotInteger)
			return
		}
		end, ok2 := parseInt(args[3])
		if !ok2 {
			x.w.Error(errNotInteger)
			return
		}
		if start < 0 && end < 0 && start > end {
			x.w.Int(0)
			return
		}
		isBit := false
		if len(args) == 5 {
			if isBit, ok = bitUnit(args[4]); !ok {
				x.w.Error(errSyntax)
				return
			}
		}
		if from, to, ok = storage.BitRange(n, start, end, isBit); !ok {
			x.w.Int(0)
			return
		}
	default:
		x.w.Error(errSyntax)
		return
	}
	x.w.Int(storage.BitCount(data, from, to))
}

// cmdBitPos follows Redis 7.0, argument order included: the bit, then
// the key (a missing one is all zeros), then the range.
func cmdBitPos(x *execCtx, r *storage.Reader, args [][]byte) {
	bit, ok := parseInt(args[2])
	if !ok {
		x.w.Error(errNotInteger)
		return
	}
	if bit != 0 && bit != 1 {
		x.w.Error(errBitArg)
		return
	}
	data, found, goOn := x.bitString(r, args[1])
	if !goOn {
		return
	}
	if !found {
		x.w.Int(-bit) // bit 1: -1, bit 0: 0
		return
	}
	start, end := int64(0), int64(-1)
	isBit, endGiven := false, false
	switch len(args) {
	case 3:
	case 4, 5, 6:
		if start, ok = parseInt(args[3]); !ok {
			x.w.Error(errNotInteger)
			return
		}
		if len(args) == 6 {
			if isBit, ok = bitUnit(args[5]); !ok {
				x.w.Error(errSyntax)
				return
			}
		}
		if len(args) >= 5 {
			if end, ok = parseInt(args[4]); !ok {
				x.w.Error(errNotInteger)
				return
			}
			endGiven = true
		}
	default:
		x.w.Error(errSyntax)
		return
	}
	from, to, ok := storage.BitRange(int64(len(data)), start, end, isBit)
	if !ok {
		x.w.Int(-1)
		return
	}
	pos := storage.BitPos(data, byte(bit), from, to)
	if pos < 0 && bit == 0 && !endGiven {
		// With no end given, the string is followed by zeros.
		pos = to + 1
	}
	x.w.Int(pos)
}

func cmdBitOp(x *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpBitOp, Keys: args[2:], Limit: x.s.cfg.MaxValueSize}
	switch op := args[1]; {
	case eq(op, "and"):
		c.Int = storage.BitAnd
	case eq(op, "or"):
		c.Int = storage.BitOr
	case eq(op, "xor"):
		c.Int = storage.BitXor
	case eq(op, "not"):
		c.Int = storage.BitNot
		if len(args) != 4 {
			return c, errBitopNot
		}
	default:
		return c, errSyntax
	}
	return c, ""
}

// parseBitfield parses BITFIELD's operations as Redis's bitfieldGeneric
// does, reporting the first error in argument order.
func (x *execCtx) parseBitfield(args [][]byte) ([]storage.Bitfield, string) {
	var ops []storage.Bitfield
	ow := storage.OverflowWrap
	for j := 2; j < len(args); j++ {
		rem := len(args) - j - 1
		var op storage.Bitfield
		switch sub := args[j]; {
		case eq(sub, "get") && rem >= 2:
			op.Op = storage.BitfieldGet
		case eq(sub, "set") && rem >= 3:
			op.Op = storage.BitfieldSet
		case eq(sub, "incrby") && rem >= 3:
			op.Op = storage.BitfieldIncrBy
		case eq(sub, "overflow") && rem >= 1:
			j++
			switch t := args[j]; {
			case eq(t, "wrap"):
				ow = storage.OverflowWrap
			case eq(t, "sat"):
				ow = storage.OverflowSat
			case eq(t, "fail"):
				ow = storage.OverflowFail
			default:
				return nil, errBitfieldOver
			}
			continue
		default:
			return nil, errSyntax
		}
		signed, bits, ok := bitfieldType(args[j+1])
		if !ok {
			return nil, errBitfieldType
		}
		op.Signed, op.Bits, op.Overflow = signed, uint8(bits), ow
		if op.Offset, ok = x.bitOffset(args[j+2], true, bits); !ok {
			return nil, errBitOffset
		}
		if op.Op != storage.BitfieldGet {
			if op.Value, ok = parseInt(args[j+3]); !ok {
				return nil, errNotInteger
			}
			j++
		}
		j += 2
		ops = append(ops, op)
	}
	return ops, ""
}

// bitfieldType parses i1..i64 and u1..u63 (lower case only, as Redis).
func bitfieldType(arg []byte) (signed bool, bits int64, ok bool) {
	if len(arg) == 0 || (arg[0] != 'i' && arg[0] != 'u') {
		return false, 0, false
	}
	signed = arg[0] == 'i'
	n, ok := parseInt(arg[1:])
	if !ok || n < 1 || (signed && n > 64) || (!signed && n > 63) {
		return false, 0, false
	}
	return signed, n, true
}

func cmdBitField(x *execCtx, args [][]byte) (storage.Cmd, string) {
	c := storage.Cmd{Op: storage.OpBitField, Keys: args[1:2], Limit: x.s.cfg.MaxValueSize}
	ops, e := x.parseBitfield(args)
	if e != "" {
		return c, e
	}
	var need int64
	for _, op := range ops {
		if op.Op != storage.BitfieldGet {
			need = max(need, op.BitfieldEnd())
		}
		c.Vals = append(c.Vals, storage.EncodeBitfieldOp(op))
	}
	return c, x.checkSize(need)
}

func cmdBitFieldRO(x *execCtx, r *storage.Reader, args [][]byte) {
	ops, e := x.parseBitfield(args)
	if e != "" {
		x.w.Error(e)
		return
	}
	for _, op := range ops {
		if op.Op != storage.BitfieldGet {
			x.w.Error(errBitfieldRO)
			return
		}
	}
	data, _, goOn := x.bitString(r, args[1])
	if !goOn {
		return
	}
	x.w.Array(len(ops))
	for _, op := range ops {
		x.w.Int(storage.BitfieldGetValue(data, op))
	}
}

// LCS.

const (
	errLCSType   = "ERR The specified keys must contain string values"
	errLCSBoth   = "ERR If you want both the length and indexes, please just use IDX."
	errLCSMemory = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
)

// cmdLCS is Redis 7.0's LCS. Its table is bounded as Redis bounds it:
// (len(a)+1)*(len(b)+1) cells of 4 bytes may not exceed
// proto-max-bulk-len (512 MiB: 128M cells), or the command fails with
// Redis's error. keepkv keeps one bit per cell, not four bytes, so the
// largest table takes 16 MiB; it runs outside the read view (flagScan)
// and stops if the client goes away.
func cmdLCS(x *execCtx, r *storage.Reader, args [][]byte) {
	var a, b []byte
	var typeErr bool
	read := func(r *storage.Reader) error {
		va, oka := r.Get(x.st.db, args[1], x.now)
		vb, okb := r.Get(x.st.db, args[2], x.now)
		if (oka && va.Type != storage.TypeString) || (okb && vb.Type != storage.TypeString) {
			typeErr = true
			return nil
		}
		a, b = append([]byte{}, va.Data...), append([]byte{}, vb.Data...)
		return nil
	}
	if r != nil {
		read(r)
	} else if err := x.s.db.View(read); err != nil {
		x.w.Error(clusterError(err))
		return
	}
	if typeErr {
		x.w.Error(errLCSType)
		return
	}
	var getLen, getIdx, withLen bool
	var minLen int64
	for j := 3; j < len(args); j++ {
		more := len(args) - 1 - j
		switch opt := args[j]; {
		case eq(opt, "idx"):
			getIdx = true
		case eq(opt, "len"):
			getLen = true
		case eq(opt, "withmatchlen"):
			withLen = true
		case eq(opt, "minmatchlen") && more > 0:
			n, ok := parseInt(args[j+1])
			if !ok {
				x.w.Error(errNotInteger)
				return
			}
			minLen = max(n, 0)
			j++
		default:
			x.w.Error(errSyntax)
			return
		}
	}
	if getIdx && getLen {
		x.w.Error(errLCSBoth)
		return
	}
	cells := (int64(len(a)) + 1) * (int64(len(b)) + 1)
	if cells > min(x.s.cfg.Limits.MaxBulkLen, storage.MaxStringLen)/4 {
		x.w.Error(errLCSMemory)
		return
	}
	ctx := x.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	res, err := lcs(ctx, a, b, getIdx || !getLen, minLen)
	if err != nil {
		x.iterationFailed(err)
		return
	}
	switch {
	case getIdx:
		x.w.Map(2)
		x.w.BulkString("matches")
		x.w.Array(len(res.matches))
		for _, m := range res.matches {
			if withLen {
				x.w.Array(3)
			} else {
				x.w.Array(2)
			}
			x.w.Array(2)
			x.w.Int(m[0])
			x.w.Int(m[1])
			x.w.Array(2)
			x.w.Int(m[2])
			x.w.Int(m[3])
			if withLen {
				x.w.Int(m[1] - m[0] + 1)
			}
		}
		x.w.BulkString("len")
		x.w.Int(res.length)
	case getLen:
		x.w.Int(res.length)
	default:
		x.w.Bulk(res.str)
	}
}

type lcsResult struct {
	length  int64
	str     []byte
	matches [][4]int64 // a start, a end, b start, b end
}

// lcs computes the longest common subsequence of a and b with Redis's
// dynamic programme and walks it back exactly as Redis does (same ties,
// same ranges). Instead of the table of lengths it keeps, per cell, one
// bit: whether LCS(i-1,j) > LCS(i,j-1), the only comparison the walk
// makes; lengths are kept for two rows only. walk false computes the
// length alone.
func lcs(ctx context.Context, a, b []byte, walk bool, minLen int64) (lcsResult, error) {
	alen, blen := len(a), len(b)
	prev := make([]uint32, blen+1)
	cur := make([]uint32, blen+1)
	var up []uint64 // bit (i-1)*blen + (j-1): LCS(i-1,j) > LCS(i,j-1)
	if walk {
		up = make([]uint64, (alen*blen+63)/64)
	}
	for i := 1; i <= alen; i++ {
		if i&63 == 0 && ctx.Err() != nil {
			return lcsResult{}, ctx.Err()
		}
		ai := a[i-1]
		row := (i - 1) * blen
		cur[0] = 0
		for j := 1; j <= blen; j++ {
			if ai == b[j-1] {
				cur[j] = prev[j-1] + 1
				continue
			}
			l1, l2 := prev[j], cur[j-1]
			if l1 > l2 {
				cur[j] = l1
				if walk {
					k := row + j - 1
					up[k>>6] |= 1 << (k & 63)
				}
			} else {
				cur[j] = l2
			}
		}
		prev, cur = cur, prev
	}
	res := lcsResult{length: int64(prev[blen])}
	if !walk {
		return res, nil
	}
	idx := res.length
	res.str = make([]byte, idx)
	// The walk back, as in Redis's lcsCommand.
	i, j := alen, blen
	aStart, aEnd, bStart, bEnd := alen, 0, 0, 0 // aStart == alen: no range yet
	for i > 0 && j > 0 {
		emit := false
		if a[i-1] == b[j-1] {
			res.str[idx-1] = a[i-1]
			if aStart == alen {
				aStart, aEnd, bStart, bEnd = i-1, i-1, j-1, j-1
			} else if aStart == i && bStart == j {
				aStart--
				bStart--
			} else {
				emit = true
			}
			if aStart == 0 || bStart == 0 {
				emit = true
			}
			idx--
			i--
			j--
		} else {
			k := (i-1)*blen + j - 1
			if up[k>>6]&(1<<(k&63)) != 0 {
				i--
			} else {
				j--
			}
			if aStart != alen {
				emit = true
			}
		}
		if emit {
			if matchLen := int64(aEnd - aStart + 1); minLen == 0 || matchLen >= minLen {
				res.matches = append(res.matches, [4]int64{int64(aStart), int64(aEnd), int64(bStart), int64(bEnd)})
			}
			aStart = alen
		}
	}
	return res, nil
}
