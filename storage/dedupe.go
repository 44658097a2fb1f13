package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Exactly-once forwarded writes (issue 19). A follower forwards a client's
// write to the leader with a request id; if the leader dies mid-forward,
// the follower sends the same request, with the same id, to the next
// leader. The entry carrying it names the id (Entry.Reqs), and apply keeps
// a replicated table of the request ids it applied with their results: a
// request applied before is not applied again, its stored result is
// returned. The table lives in the sys bucket, so it is in checkpoints,
// snapshots and digests, and it is bounded deterministically: it holds the
// last ReqTableSize requests, a ring whose slots the applied requests take
// in turn (eviction by log position, never by a clock).
//
//	"q" ‖ request id → slot (8 bytes) ‖ encoded result
//	"Q" ‖ slot (8 bytes) → request id
//	"c" "reqseq"     → the number of requests recorded so far

// ReqTableSize is how many forwarded requests the table remembers. A
// request retried after this many later forwarded writes would apply
// again; followers retry only within --leader-wait.
const ReqTableSize = 1 << 18

// maxStoredResult bounds a stored result; a bigger one (a GETDEL of a big
// value) is stored as "applied, reply too large to replay".
const maxStoredResult = 4 << 10

const (
	sysReq     = 'q'
	sysReqSlot = 'Q'
)

var keyReqSeq = string(sysConfig) + "\x00reqseq" // not a setting name: CONFIG never sees it

// errReplyTooLarge answers a replayed request whose result was too large
// to keep.
var errReplyTooLarge = CmdError("TRYAGAIN the write was applied, but its reply was too large to keep for a retry")

// appliedReq returns the stored result of request id, if it was applied.
func (a *applier) appliedReq(id []byte) (Result, bool) {
	v := a.sys(string(sysReq) + string(id))
	if len(v) < 8 {
		return Result{}, false
	}
	r, ok := decodeResult(v[8:])
	if !ok {
		return errResult(errReplyTooLarge), true
	}
	return r, true
}

// recordReq remembers that request id was applied with result r, evicting
// the request that held the ring slot before.
func (a *applier) recordReq(id []byte, r Result) {
	var seq uint64
	if v := a.sys(keyReqSeq); len(v) == 8 {
		seq = binary.BigEndian.Uint64(v)
	}
	slot := binary.BigEndian.AppendUint64(nil, seq%ReqTableSize)
	slotKey := string(sysReqSlot) + string(slot)
	if old := a.sys(slotKey); old != nil {
		a.setSys(string(sysReq)+string(old), nil)
	}
	enc := encodeResult(nil, r)
	if len(enc) > maxStoredResult {
		enc = []byte{0xff} // undecodable: errReplyTooLarge
	}
	a.setSys(slotKey, clone(id))
	a.setSys(string(sysReq)+string(id), append(slot, enc...))
	a.setSys(keyReqSeq, binary.BigEndian.AppendUint64(nil, seq+1))
}

// Result encoding for the request table.
const (
	resOK byte = iota + 1
	resInt
	resBulk
	resErr
	resArray
	resNullArray
	resDouble
	resNil
	resValue
)

// ValueMarshaler is implemented by the Values an Exec hook returns, so a
// forwarded EXEC's reply can be kept for a retry; it comes back as a
// RawValue.
type ValueMarshaler interface{ MarshalValue() []byte }

// RawValue is a stored ResultValue's MarshalValue bytes.
type RawValue []byte

var knownErrors = []error{ErrWrongType, ErrNotInteger, ErrNotFloat, ErrOverflow, ErrNaN, ErrNoSuchKey, ErrTooLarge, ErrInternal, ErrKeyTooLong, ErrBadEntry}

func encodeResult(b []byte, r Result) []byte {
	switch r.Kind {
	case ResultOK:
		return append(b, resOK)
	case ResultInt:
		return binary.AppendVarint(append(b, resInt), r.Int)
	case ResultBulk:
		return appendBytes(append(b, resBulk), r.Bytes)
	case ResultDouble:
		return binary.BigEndian.AppendUint64(append(b, resDouble), math.Float64bits(r.Float))
	case ResultErr:
		b = append(b, resErr)
		tag := byte(0)
		var ce CmdError
		switch {
		case errors.As(r.Err, &ce):
			tag = 0xfe
		default:
			for i, e := range knownErrors {
				if errors.Is(r.Err, e) {
					tag = byte(i + 1)
					break
				}
			}
		}
		return appendBytes(append(b, tag), []byte(r.Err.Error()))
	case ResultArray:
		if r.Null {
			return append(b, resNullArray)
		}
		b = binary.AppendUvarint(append(b, resArray), uint64(len(r.Elems)))
		for _, e := range r.Elems {
			b = encodeResult(b, e)
		}
		return b
	case ResultValue:
		if m, ok := r.Value.(ValueMarshaler); ok {
			return appendBytes(append(b, resValue), m.MarshalValue())
		}
		if raw, ok := r.Value.(RawValue); ok {
			return appendBytes(append(b, resValue), raw)
		}
		return append(b, 0xff) // not storable: errReplyTooLarge on replay
	}
	return append(b, resNil)
}

func appendBytes(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

// replayedError is a stored error: the same text, and still errors.Is its
// sentinel.
type replayedError struct {
	text     string
	sentinel error
}

func (e replayedError) Error() string { return e.text }
func (e replayedError) Unwrap() error { return e.sentinel }

func decodeResult(b []byte) (Result, bool) {
	d := decoder{b: b}
	r := d.result(0)
	return r, d.err == nil && len(d.b) == 0
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("result bytes")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) result(depth int) Result {
	if depth > 64 {
		d.fail("result depth")
		return Result{}
	}
	switch d.byte() {
	case resOK:
		return okResult()
	case resInt:
		return intResult(d.varint())
	case resBulk:
		return bulkResult(d.bytes())
	case resDouble:
		return doubleResult(math.Float64frombits(d.u64()))
	case resErr:
		tag := d.byte()
		text := string(d.bytes())
		switch {
		case tag == 0xfe:
			return errResult(CmdError(text))
		case tag >= 1 && int(tag) <= len(knownErrors):
			return errResult(replayedError{text, knownErrors[tag-1]})
		}
		return errResult(errors.New(text))
	case resNullArray:
		return nullArrayResult()
	case resArray:
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			d.fail("result array")
			return Result{}
		}
		elems := make([]Result, 0, n)
		for range n {
			elems = append(elems, d.result(depth+1))
		}
		return arrayResult(elems)
	case resValue:
		return Result{Kind: ResultValue, Value: RawValue(clone(d.bytes()))}
	case resNil:
		return nilResult()
	}
	d.fail("result kind")
	return Result{}
}

// EncodeResults is the wire form of one entry's results, for a write a
// node sends again to the leader after its own leadership ended before the
// write was settled (server/settle.go): each result as the request table
// stores it, but never cut for size.
func EncodeResults(res []Result) []byte {
	b := binary.AppendUvarint(nil, uint64(len(res)))
	for _, r := range res {
		b = appendBytes(b, encodeResult(nil, r))
	}
	return b
}

// DecodeResults reverses EncodeResults. A result that could not be encoded
// (a value without a wire form) comes back as the request table's "applied,
// reply not kept" error.
func DecodeResults(b []byte) ([]Result, error) {
	d := decoder{b: b}
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		return nil, fmt.Errorf("%w: bad result count", ErrBadEntry)
	}
	res := make([]Result, 0, n)
	for range n {
		enc := d.bytes()
		if d.err != nil {
			return nil, d.err
		}
		r, ok := decodeResult(enc)
		if !ok {
			r = errResult(errReplyTooLarge)
		}
		res = append(res, r)
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("%w: bad results", ErrBadEntry)
	}
	return res, nil
}
