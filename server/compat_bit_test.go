package server

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// bitScripts cover the bit commands and LCS (compared with redis-server by
// TestCompatibilityWithRedisServer).
var bitScripts = [][][]any{
	// SETBIT and GETBIT, offsets at and past 2^32, bad values.
	{{"SETBIT", "b", "7", "1"}, {"SETBIT", "b", "7", "1"}, {"GETBIT", "b", "7"}, {"GETBIT", "b", "6"}, {"GETBIT", "b", "100"}, {"GET", "b"},
		{"SETBIT", "b", "4294967296", "1"}, {"SETBIT", "b", "-1", "1"}, {"SETBIT", "b", "x", "1"}, {"SETBIT", "b", "1.5", "1"},
		{"SETBIT", "b", "1", "2"}, {"SETBIT", "b", "1", "-1"}, {"SETBIT", "b", "1", "x"}, {"SETBIT", "b", "4294967295", "x"}, {"SETBIT", "b", "#1", "1"},
		{"SETBIT", "b", "18446744073709551616", "1"}, {"SETBIT", "b", "4294967296", "x"},
		{"GETBIT", "b", "4294967296"}, {"GETBIT", "b", "4294967295"}, {"GETBIT", "nokey", "4294967296"}, {"GETBIT", "nokey", "0"}, {"GETBIT", "b", "-1"}, {"GETBIT", "b", "x"},
		{"SETBIT", "b", "100", "0"}, {"STRLEN", "b"}, {"GETBIT", "b", "100"}, {"SETBIT", "b", "0", "1"}, {"GETRANGE", "b", "0", "0"},
		{"SETBIT", "b", "0", "0"}, {"SETBIT", "b", "7", "0"}, {"STRLEN", "b"}, {"EXISTS", "b"}},
	{{"SET", "t", "a", "EX", "100"}, {"SETBIT", "t", "1", "0"}, {"GET", "t"}, {"TTL", "t"},
		{"HSET", "h", "f", "v"}, {"SETBIT", "h", "1", "1"}, {"GETBIT", "h", "1"}, {"SETBIT", "h", "4294967296", "1"}, {"GETBIT", "h", "-1"}, {"TYPE", "h"},
		{"SET", "n", "12"}, {"SETBIT", "n", "6", "0"}, {"GET", "n"}, {"INCR", "n"}},
	// BITCOUNT: ranges, negative indexes, BYTE|BIT, bad arguments.
	{{"SET", "s", "foobar"}, {"BITCOUNT", "s"}, {"BITCOUNT", "s", "0", "0"}, {"BITCOUNT", "s", "1", "1"}, {"BITCOUNT", "s", "0", "-1"},
		{"BITCOUNT", "s", "-1", "-1"}, {"BITCOUNT", "s", "-2", "-1"}, {"BITCOUNT", "s", "-100", "100"}, {"BITCOUNT", "s", "5", "2"},
		{"BITCOUNT", "s", "-1", "-5"}, {"BITCOUNT", "s", "-1", "-5", "foo"}, {"BITCOUNT", "s", "1", "1", "BYTE"}, {"BITCOUNT", "s", "1", "1", "byte"},
		{"BITCOUNT", "s", "5", "30", "BIT"}, {"BITCOUNT", "s", "0", "-1", "bit"}, {"BITCOUNT", "s", "-5", "-1", "BIT"}, {"BITCOUNT", "s", "-100", "-90", "BIT"},
		{"BITCOUNT", "s", "0", "100", "BIT"}, {"BITCOUNT", "s", "7", "7", "BIT"}, {"BITCOUNT", "s", "46", "47", "BIT"}, {"BITCOUNT", "s", "40", "45", "BIT"},
		{"BITCOUNT", "s", "1"}, {"BITCOUNT", "s", "1", "2", "3"}, {"BITCOUNT", "s", "1", "2", "BIT", "4"}, {"BITCOUNT", "s", "0", "-1", "BYTES"},
		{"BITCOUNT", "s", "a", "1"}, {"BITCOUNT", "s", "1", "a"}, {"BITCOUNT", "s", "1.0", "2"},
		{"BITCOUNT", "s", "-9223372036854775808", "9223372036854775807"}, {"BITCOUNT", "s", "-9223372036854775808", "9223372036854775807", "BIT"},
		{"BITCOUNT", "s", "9223372036854775807", "-9223372036854775808"},
		{"BITCOUNT", "nokey"}, {"BITCOUNT", "nokey", "a", "b"}, {"BITCOUNT", "nokey", "1"},
		{"HSET", "h", "f", "v"}, {"BITCOUNT", "h"}, {"BITCOUNT", "h", "1"}, {"SET", "e", ""}, {"BITCOUNT", "e"}, {"BITCOUNT", "e", "0", "-1"}, {"BITCOUNT", "e", "0", "-1", "BIT"}},
	// BITPOS of all-ones, all-zeros and mixed strings.
	{{"SET", "ones", "\xff\xff\xff"}, {"SET", "zeros", "\x00\x00\x00"}, {"SET", "m", "\x00\xff\xf0"}, {"SET", "e", ""},
		{"BITPOS", "ones", "0"}, {"BITPOS", "ones", "1"}, {"BITPOS", "zeros", "1"}, {"BITPOS", "zeros", "0"},
		{"BITPOS", "ones", "0", "0", "-1"}, {"BITPOS", "ones", "0", "1"}, {"BITPOS", "ones", "0", "-1"}, {"BITPOS", "ones", "0", "5"}, {"BITPOS", "ones", "0", "0", "-1", "BIT"},
		{"BITPOS", "ones", "0", "-3", "BIT"}, {"BITPOS", "ones", "0", "3", "BIT"}, {"BITPOS", "ones", "0", "5", "20", "BIT"},
		{"BITPOS", "zeros", "1", "2"}, {"BITPOS", "zeros", "0", "2"}, {"BITPOS", "zeros", "0", "5", "20", "BIT"}, {"BITPOS", "zeros", "1", "0", "-1", "BIT"},
		{"BITPOS", "m", "1"}, {"BITPOS", "m", "0"}, {"BITPOS", "m", "1", "2", "-1"}, {"BITPOS", "m", "0", "1", "-1"}, {"BITPOS", "m", "0", "1"},
		{"BITPOS", "m", "0", "9", "12", "BIT"}, {"BITPOS", "m", "0", "9", "21", "BIT"}, {"BITPOS", "m", "1", "3", "7", "BIT"}, {"BITPOS", "m", "0", "12", "BIT"},
		{"BITPOS", "m", "0", "-3", "BIT"}, {"BITPOS", "m", "1", "-3", "BIT"}, {"BITPOS", "m", "1", "-100", "100", "BIT"}, {"BITPOS", "m", "0", "2", "1"},
		{"BITPOS", "m", "1", "-1", "-2"}, {"BITPOS", "m", "0", "9223372036854775807"}, {"BITPOS", "m", "0", "-9223372036854775808", "BIT"},
		{"BITPOS", "e", "0"}, {"BITPOS", "e", "1"}, {"BITPOS", "e", "0", "0", "-1"},
		{"BITPOS", "nokey", "0"}, {"BITPOS", "nokey", "1"}, {"BITPOS", "nokey", "2"}, {"BITPOS", "nokey", "1", "abc"}, {"BITPOS", "nokey", "0", "1", "2", "3", "4", "5"},
		{"BITPOS", "ones", "2"}, {"BITPOS", "ones", "-1"}, {"BITPOS", "ones", "x"}, {"BITPOS", "ones", "1", "x"}, {"BITPOS", "ones", "1", "0", "x"},
		{"BITPOS", "ones", "1", "0", "1", "foo"}, {"BITPOS", "ones", "1", "0", "1", "BIT", "extra"}, {"BITPOS", "ones", "1", "0", "x", "foo"}, {"BITPOS", "ones", "1", "x", "1", "foo"},
		{"HSET", "h", "f", "v"}, {"BITPOS", "h", "1"}, {"BITPOS", "h", "2"}, {"BITPOS", "h", "1", "x"}},
	// BITOP.
	{{"BITOP", "AND"}, {"BITOP", "and", "d"}, {"BITOP", "foo", "d", "a"}, {"BITOP", "not", "d", "a", "b"}, {"BITOP", "NOT", "d"},
		{"SET", "a", "abc"}, {"HSET", "h", "f", "v"}, {"BITOP", "and", "d", "a", "h"}, {"EXISTS", "d"}, {"BITOP", "or", "d", "nokey"}, {"EXISTS", "d"},
		{"SET", "d", "x"}, {"BITOP", "or", "d", "nokey", "nokey2"}, {"EXISTS", "d"}, {"SET", "b", "abcdef"},
		{"BITOP", "xor", "d", "a", "b"}, {"GET", "d"}, {"BITOP", "NOT", "d", "a"}, {"GET", "d"}, {"BITOP", "And", "d", "a", "b"}, {"GET", "d"},
		{"BITOP", "oR", "d", "a", "b", "nokey"}, {"GET", "d"}, {"BITOP", "AND", "d", "a", "nokey"}, {"GET", "d"}, {"BITOP", "XOR", "d", "a", "a"}, {"GET", "d"},
		{"BITOP", "and", "h", "a", "b"}, {"TYPE", "h"}, {"GET", "h"}, {"BITOP", "or", "d", "h"}, {"EXPIRE", "d", "100"}, {"BITOP", "or", "d", "a"}, {"TTL", "d"},
		{"BITOP", "or", "a", "a", "b"}, {"GET", "a"}, {"SET", "e", ""}, {"BITOP", "not", "d", "e"}, {"EXISTS", "d"}, {"BITOP", "not", "d", "nokey"}},
	// BITFIELD: types, #offsets, overflow modes, errors.
	{{"BITFIELD", "k"}, {"BITFIELD", "k", "get"}, {"BITFIELD", "k", "get", "i8"}, {"BITFIELD", "k", "get", "i8", "0", "extra"}, {"BITFIELD", "k", "get", "I8", "0"},
		{"BITFIELD", "k", "get", "u64", "0"}, {"BITFIELD", "k", "get", "i65", "0"}, {"BITFIELD", "k", "get", "i0", "0"}, {"BITFIELD", "k", "get", "u", "0"}, {"BITFIELD", "k", "get", "x8", "0"},
		{"BITFIELD", "k", "get", "u08", "0"}, {"BITFIELD", "k", "get", "u8", "#1"}, {"BITFIELD", "k", "get", "u8", "#-1"}, {"BITFIELD", "k", "get", "u8", "-1"}, {"BITFIELD", "k", "get", "u8", "#"},
		{"BITFIELD", "k", "set", "u8", "0"}, {"BITFIELD", "k", "set", "u8", "0", "x"}, {"BITFIELD", "k", "incrby", "u8", "0", "1.5"}, {"BITFIELD", "k", "overflow", "foo", "get", "u8", "0"},
		{"BITFIELD", "k", "overflow"}, {"BITFIELD", "k", "foo"}, {"BITFIELD", "k", "get", "u8", "0", "set", "u8", "0", "x"}, {"BITFIELD", "k", "get", "u8", "x", "set", "u8", "0", "1"},
		{"BITFIELD", "k", "get", "u8", "4294967295"}, {"BITFIELD", "k", "get", "u8", "4294967296"}, {"BITFIELD", "k", "get", "u8", "#536870911"}, {"BITFIELD", "k", "get", "u8", "#536870912"},
		{"BITFIELD", "k", "get", "i64", "#67108863"}, {"BITFIELD", "k", "get", "i64", "#67108864"}, {"BITFIELD", "k", "get", "i64", "#1152921504606846976"}, {"EXISTS", "k"},
		{"BITFIELD", "k", "overflow", "fail", "incrby", "u8", "100", "1000"}, {"STRLEN", "k"},
		{"BITFIELD", "k", "set", "u8", "0", "-1", "overflow", "sat", "set", "u8", "8", "-1", "set", "i8", "16", "200", "overflow", "fail", "set", "i8", "24", "-200", "get", "u32", "0"},
		{"GET", "k"},
		{"BITFIELD", "k", "incrby", "i64", "0", "9223372036854775807", "incrby", "i64", "0", "1", "overflow", "sat", "incrby", "i64", "0", "9223372036854775807", "OVERFLOW", "FAIL", "incrby", "i64", "0", "1"},
		{"BITFIELD", "k", "set", "u63", "0", "9223372036854775807", "get", "u63", "0", "incrby", "u63", "0", "1", "overflow", "sat", "incrby", "u63", "0", "-1", "incrby", "u63", "0", "-9223372036854775808"},
		{"BITFIELD", "k", "set", "i64", "0", "-9223372036854775808", "incrby", "i64", "0", "-1", "overflow", "fail", "incrby", "i64", "0", "1", "overflow", "wrap", "incrby", "i64", "0", "-9223372036854775808"},
		{"BITFIELD", "k", "set", "i1", "0", "1", "get", "i1", "0", "set", "u1", "0", "3", "get", "u1", "0", "overflow", "sat", "set", "i1", "0", "5", "get", "i1", "0", "set", "i1", "0", "-5", "get", "i1", "0"},
		{"BITFIELD", "k", "set", "i8", "#1", "100", "get", "i8", "#1", "get", "u8", "8", "incrby", "i5", "#3", "100", "get", "u4", "3", "GET", "u16", "14", "get", "i13", "107"},
		{"BITFIELD", "k", "overflow", "sat", "incrby", "u2", "100", "-2", "incrby", "u2", "100", "5", "overflow", "wrap", "incrby", "u2", "100", "-3", "incrby", "i3", "100", "-5"},
		{"BITFIELD", "k", "overflow", "fail", "set", "u8", "0", "256", "set", "u8", "0", "255", "set", "i8", "0", "-129", "set", "i8", "0", "127"}, {"GET", "k"},
		{"BITFIELD", "nokey", "get", "u8", "0"}, {"EXISTS", "nokey"}, {"BITFIELD", "nokey", "overflow", "sat"}, {"EXISTS", "nokey"},
		{"SET", "t", "x", "EX", "100"}, {"BITFIELD", "t", "set", "u8", "8", "65"}, {"GET", "t"}, {"TTL", "t"}},
	{{"HSET", "h", "f", "v"}, {"BITFIELD", "h", "get", "u8", "0"}, {"BITFIELD", "h", "set", "u8", "0", "1"}, {"BITFIELD", "h", "get", "u8", "x"}, {"BITFIELD", "h"},
		{"BITFIELD_RO", "h", "get", "u8", "0"}, {"BITFIELD_RO", "h", "set", "u8", "0", "1"}, {"BITFIELD_RO", "h"},
		{"SET", "k", "\x7f\x80"}, {"BITFIELD_RO", "k", "get", "u8", "0", "get", "i8", "8", "get", "i16", "0", "get", "u4", "#3", "get", "i64", "4294967295"},
		{"BITFIELD_RO", "k", "get", "u8", "0", "set", "u8", "0", "1"}, {"BITFIELD_RO", "k", "set", "u8", "0", "x"}, {"BITFIELD_RO", "k", "incrby", "u8", "0", "1"},
		{"BITFIELD_RO", "k"}, {"BITFIELD_RO", "k", "get", "u8", "0", "overflow", "wrap"}, {"BITFIELD_RO", "k", "overflow", "wrap", "get", "u8", "0"}, {"BITFIELD_RO", "k", "overflow", "bad"},
		{"BITFIELD_RO", "k", "get", "u64", "0"}, {"BITFIELD_RO", "k", "get", "u8", "4294967296"}, {"BITFIELD_RO", "nokey", "get", "i8", "0"}, {"BITFIELD_RO"}, {"GET", "k"}},
	// LCS.
	{{"SET", "a", "ohmytext"}, {"SET", "b", "mynewtext"}, {"LCS", "a", "b"}, {"LCS", "a", "b", "LEN"}, {"LCS", "a", "b", "IDX"}, {"LCS", "a", "b", "IDX", "MINMATCHLEN", "4"},
		{"LCS", "a", "b", "idx", "minmatchlen", "4", "withmatchlen"}, {"LCS", "a", "b", "IDX", "WITHMATCHLEN"}, {"LCS", "a", "b", "LEN", "IDX"}, {"LCS", "a", "b", "MINMATCHLEN"},
		{"LCS", "a", "b", "MINMATCHLEN", "x"}, {"LCS", "a", "b", "MINMATCHLEN", "-5", "IDX"}, {"LCS", "a", "b", "foo"}, {"LCS", "a", "b", "LEN", "LEN", "WITHMATCHLEN"},
		{"LCS", "nokey", "nokey"}, {"LCS", "nokey", "nokey", "IDX"}, {"LCS", "a", "nokey", "LEN"}, {"LCS", "a", "a", "IDX", "WITHMATCHLEN"}, {"LCS", "b", "a"}, {"LCS", "b", "a", "IDX"},
		{"HSET", "h", "f", "v"}, {"LCS", "h", "a"}, {"LCS", "a", "h", "LEN"}, {"LCS", "h", "a", "foo"}, {"LCS", "a"},
		{"SET", "x", "GTTCCAGAAGTACCCGGACTT"}, {"SET", "y", "ACGGTTAGCAATTCCACCGTA"}, {"LCS", "x", "y", "IDX", "WITHMATCHLEN"}, {"LCS", "x", "y"}, {"LCS", "y", "x", "IDX", "MINMATCHLEN", "2"}},
	// LCS's table is bounded as Redis bounds it: (12001*12001) 4-byte cells
	// exceed proto-max-bulk-len.
	{{"SET", "la", strings.Repeat("a", 12000)}, {"SET", "lb", strings.Repeat("b", 12000)}, {"LCS", "la", "lb", "LEN"}, {"LCS", "la", "nokey", "LEN"}},
}

// randomBitScripts compare BITCOUNT, BITPOS and LCS on random strings and
// ranges (a fixed seed: the same script every run).
func randomBitScripts() [][][]any {
	rng := rand.New(rand.NewPCG(14, 14))
	var scripts [][][]any
	for s := 0; s < 4; s++ {
		var script [][]any
		n := 1 + rng.IntN(12)
		b := make([]byte, n)
		for i := range b {
			switch rng.IntN(4) {
			case 0:
				b[i] = 0
			case 1:
				b[i] = 0xff
			default:
				b[i] = byte(rng.Uint32())
			}
		}
		script = append(script, []any{"SET", "k", string(b)})
		span := int64(n * 8)
		for q := 0; q < 60; q++ {
			start := fmt.Sprint(rng.Int64N(2*span+6) - span - 3)
			end := fmt.Sprint(rng.Int64N(2*span+6) - span - 3)
			unit := []string{"BIT", "BYTE"}[rng.IntN(2)]
			bit := fmt.Sprint(rng.IntN(2))
			switch rng.IntN(5) {
			case 0:
				script = append(script, []any{"BITCOUNT", "k", start, end, unit})
			case 1:
				script = append(script, []any{"BITPOS", "k", bit, start, end, unit})
			case 2:
				script = append(script, []any{"BITPOS", "k", bit, start, end})
			case 3:
				script = append(script, []any{"BITPOS", "k", bit, start})
			case 4:
				script = append(script, []any{"BITCOUNT", "k", start, end})
			}
		}
		scripts = append(scripts, script)
	}
	var lcs [][]any
	for q := 0; q < 30; q++ {
		word := func() string {
			b := make([]byte, rng.IntN(25))
			for i := range b {
				b[i] = "ACGT"[rng.IntN(4)]
			}
			return string(b)
		}
		lcs = append(lcs, []any{"SET", "a", word()}, []any{"SET", "b", word()},
			[]any{"LCS", "a", "b", "IDX", "WITHMATCHLEN", "MINMATCHLEN", fmt.Sprint(rng.IntN(3))}, []any{"LCS", "a", "b"})
	}
	return append(scripts, lcs)
}

func init() {
	compatScripts = append(compatScripts, bitScripts...)
	compatScripts = append(compatScripts, randomBitScripts()...)
}

// The bit and key commands go through the whole write path (validation,
// log encoding, apply on two stores, replies, a restart) as FuzzApplyPath
// drives it, on random sequences built from their edge values: the stores
// agree, a failed command changes nothing, a restart changes nothing.
func TestBitAndKeyCommandsThroughApplyPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 14))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	offset := func() string {
		return pick("0", "1", "7", "8", "63", "64", "100", "-1", "4294967295", "4294967296", "524287", "524288", "#0", "#3", "#-1", "#536870911", "#1152921504606846976", "x")
	}
	typ := func() string {
		return pick("u1", "i1", "u8", "i8", "u63", "i64", "u64", "i65", "i0", "U8", "u17", "i33")
	}
	value := func() string {
		return pick("0", "1", "-1", "255", "256", "-129", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "x")
	}
	key := func() string { return pick("a", "b", "h", "s", "missing") }
	gen := func() []string {
		switch rng.IntN(9) {
		case 0:
			return []string{"setbit", key(), offset(), pick("0", "1", "2")}
		case 1:
			return []string{"bitop", pick("and", "or", "xor", "not", "foo"), key(), key(), key()}
		case 2:
			return []string{"bitop", "not", key(), key()}
		case 3:
			c := []string{"bitfield", key()}
			for range 1 + rng.IntN(4) {
				switch rng.IntN(4) {
				case 0:
					c = append(c, "get", typ(), offset())
				case 1:
					c = append(c, "set", typ(), offset(), value())
				case 2:
					c = append(c, "incrby", typ(), offset(), value())
				case 3:
					c = append(c, "overflow", pick("wrap", "sat", "fail", "x"))
				}
			}
			return c
		case 4:
			c := []string{"copy", key(), key()}
			if rng.IntN(2) == 0 {
				c = append(c, "db", pick("0", "1", "15", "16"))
			}
			if rng.IntN(2) == 0 {
				c = append(c, "replace")
			}
			return c
		case 5:
			return []string{"move", key(), pick("0", "1", "16")}
		case 6:
			return []string{pick("hset", "sadd"), pick("h", "s"), "f", "v"}
		case 7:
			return []string{pick("set", "append"), key(), pick("abc", "\xff\x00", "")}
		default:
			return []string{pick("get", "getbit", "bitcount", "bitpos", "bitfield_ro", "object", "select", "expire"), key(), pick("0", "1", "-1", "10")}
		}
	}
	for i := 0; i < 120; i++ {
		n := 1 + rng.IntN(maxFuzzSeq)
		seq := make([][][]byte, n)
		for j := range seq {
			for _, a := range gen() {
				seq[j] = append(seq[j], []byte(a))
			}
			if string(seq[j][0]) == "object" {
				seq[j] = [][]byte{[]byte("object"), []byte(pick("encoding", "refcount", "freq")), seq[j][1]}
			}
		}
		newApplyRun(t, uint8(rng.IntN(32)), uint16(rng.IntN(3)*1000)).run(seq)
	}
}
