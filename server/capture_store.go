package server

import (
	"encoding/binary"
	"math"

	"github.com/keepkv/keepkv/storage"
)

// A captured reply (EXEC's, a script's) is kept in storage's request table
// with the forwarded request that produced it (issue 19), so that a
// follower that sends the request again after a failover gets the reply
// of the one application instead of a second one. The encoding holds the
// value, not its RESP bytes: the replay is written in whatever protocol
// the client speaks.

var _ storage.ValueMarshaler = (*replyValue)(nil)

// MarshalValue encodes v for storage's request table.
func (v *replyValue) MarshalValue() []byte { return v.appendTo(nil) }

func (v *replyValue) appendTo(b []byte) []byte {
	b = append(b, byte(v.kind), byte(v.agg))
	b = binary.AppendVarint(b, v.n)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(v.f))
	b = binary.AppendUvarint(b, uint64(len(v.str)))
	b = append(b, v.str...)
	b = binary.AppendUvarint(b, uint64(len(v.bytes)))
	b = append(b, v.bytes...)
	b = binary.AppendUvarint(b, uint64(len(v.elems)))
	for i := range v.elems {
		b = v.elems[i].appendTo(b)
	}
	return b
}

// decodeReplyValue reverses MarshalValue; ok is false for bytes it did not
// write.
func decodeReplyValue(b []byte) (replyValue, bool) {
	d := valueDecoder{b: b}
	v := d.value(0)
	return v, d.ok && len(d.b) == 0
}

type valueDecoder struct {
	b  []byte
	ok bool
}

func (d *valueDecoder) uvarint() uint64 {
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.ok = false
		return 0
	}
	d.b = d.b[k:]
	return n
}

func (d *valueDecoder) take(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.ok = false
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

func (d *valueDecoder) value(depth int) replyValue {
	if depth == 0 {
		d.ok = true
	}
	if depth > 1000 || len(d.b) < 2 {
		d.ok = false
		return replyValue{}
	}
	v := replyValue{kind: replyKind(d.b[0]), agg: aggKind(d.b[1])}
	d.b = d.b[2:]
	n, k := binary.Varint(d.b)
	if k <= 0 {
		d.ok = false
		return replyValue{}
	}
	v.n, d.b = n, d.b[k:]
	f := d.take(8)
	if !d.ok {
		return replyValue{}
	}
	v.f = math.Float64frombits(binary.BigEndian.Uint64(f))
	v.str = string(d.take(d.uvarint()))
	if bs := d.take(d.uvarint()); len(bs) > 0 || v.kind == rvBulk {
		v.bytes = append([]byte{}, bs...)
	}
	count := d.uvarint()
	if !d.ok || count > uint64(len(d.b)) { // every element takes bytes
		d.ok = false
		return replyValue{}
	}
	if v.kind == rvAggregate {
		v.elems = make([]replyValue, 0, count)
	}
	for range count {
		v.elems = append(v.elems, d.value(depth+1))
		if !d.ok {
			return replyValue{}
		}
	}
	return v
}
