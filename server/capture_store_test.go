package server

import (
	"bytes"
	"math"
	"reflect"
	"testing"
)

// TestStoredReplyRoundTrip: a captured reply (EXEC's, a script's) survives
// storage's request table unchanged, so a replayed request answers with
// the reply of its one application; bytes it did not write are refused,
// never a panic.
func TestStoredReplyRoundTrip(t *testing.T) {
	v := replyValue{kind: rvAggregate, agg: aggArray, elems: []replyValue{
		{kind: rvStatus, str: "OK"},
		{kind: rvInt, n: -42},
		{kind: rvBulk, bytes: []byte{}},
		{kind: rvBulk, bytes: []byte("v\x00\r\n")},
		{kind: rvNull},
		{kind: rvNullArray},
		{kind: rvError, str: "WRONGTYPE Operation against a key holding the wrong kind of value"},
		{kind: rvDouble, f: math.Inf(-1)},
		{kind: rvAggregate, agg: aggMap, elems: []replyValue{{kind: rvBulk, bytes: []byte("k")}, {kind: rvBool, n: 1}}},
		{kind: rvAggregate, agg: aggSet, elems: []replyValue{}},
		{kind: rvBigNum, str: "123456789012345678901234567890"},
		{kind: rvVerbatimFmt, str: "txt:hello"},
	}}
	b := v.MarshalValue()
	got, ok := decodeReplyValue(b)
	if !ok || !reflect.DeepEqual(got, v) {
		t.Fatalf("round trip:\n got %+v (%v)\nwant %+v", got, ok, v)
	}
	for i := range b { // every truncation is refused
		if _, ok := decodeReplyValue(b[:i]); ok {
			t.Fatalf("a truncation to %d of %d bytes decoded", i, len(b))
		}
	}
	if _, ok := decodeReplyValue(append(b, 0)); ok {
		t.Fatal("trailing bytes decoded")
	}
}

func FuzzStoredReply(f *testing.F) {
	f.Add((&replyValue{kind: rvAggregate, agg: aggArray, elems: []replyValue{{kind: rvInt, n: 1}}}).MarshalValue())
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := decodeReplyValue(b)
		if !ok {
			return
		}
		// Compared by encoding: a NaN double is equal to itself only bit
		// for bit.
		enc := v.MarshalValue()
		again, ok := decodeReplyValue(enc)
		if !ok || !bytes.Equal(again.MarshalValue(), enc) {
			t.Fatalf("decoded value does not round-trip: %+v", v)
		}
	})
}
