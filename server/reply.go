package server

import (
	"math"
	"strconv"

	"github.com/keepkv/keepkv/storage"
	"github.com/tidwall/redcon"
)

// replyWriter is where handlers put their replies, as typed values:
// status, error, integer, double, bulk, null, and the aggregates array,
// map, set and push, whose elements follow. Handlers never see protocol
// bytes: an encoder turns the values into RESP2, RESP3 or (for HTTP
// front ends) another encoding. An aggregate of n elements is announced
// first, then its n elements (a map's 2n) are written.
type replyWriter struct {
	enc encoder
	// errs counts the errors written, nested ones included, for the
	// per-command error metrics (metrics_cmd.go).
	errs uint32
}

// encoder writes typed reply values in one protocol.
type encoder interface {
	status(s string)
	err(s string)
	integer(n int64)
	double(f float64)
	bulk(b []byte)
	null()      // a missing value
	nullArray() // a missing aggregate
	// aggregate announces an aggregate of kind aggArray, aggMap (n pairs),
	// aggSet or aggPush, with n elements (pairs).
	aggregate(kind aggKind, n int)
	verbatim(s string)
	// resp3 reports whether replies take RESP3's shapes where Redis's
	// differ by protocol (ZRANGE WITHSCORES nests pairs in RESP3).
	resp3() bool
}

type aggKind uint8

const (
	aggArray aggKind = iota
	aggMap
	aggSet
	aggPush
)

func (w *replyWriter) OK()                 { w.enc.status("OK") }
func (w *replyWriter) Status(s string)     { w.enc.status(s) }
func (w *replyWriter) Error(s string)      { w.errs++; w.enc.err(s) }
func (w *replyWriter) Int(n int64)         { w.enc.integer(n) }
func (w *replyWriter) Bulk(b []byte)       { w.enc.bulk(b) }
func (w *replyWriter) BulkString(s string) { w.enc.bulk([]byte(s)) }
func (w *replyWriter) Null()               { w.enc.null() }
func (w *replyWriter) NullArray()          { w.enc.nullArray() }
func (w *replyWriter) Array(n int)         { w.enc.aggregate(aggArray, n) }
func (w *replyWriter) Map(n int)           { w.enc.aggregate(aggMap, n) }
func (w *replyWriter) Set(n int)           { w.enc.aggregate(aggSet, n) }
func (w *replyWriter) Push(n int)          { w.enc.aggregate(aggPush, n) }
func (w *replyWriter) Double(f float64)    { w.enc.double(f) }
func (w *replyWriter) Verbatim(s string)   { w.enc.verbatim(s) }

// RESP3 reports whether the client takes RESP3's reply shapes.
func (w *replyWriter) RESP3() bool { return w.enc.resp3() }

// Result writes an applied command's result.
func (w *replyWriter) Result(r storage.Result) {
	switch r.Kind {
	case storage.ResultOK:
		w.OK()
	case storage.ResultInt:
		w.Int(r.Int)
	case storage.ResultBulk:
		w.Bulk(r.Bytes)
	case storage.ResultErr:
		w.Error(storageError(r.Err))
	case storage.ResultDouble:
		w.Double(r.Float)
	case storage.ResultValue:
		if v, ok := r.Value.(*replyValue); ok {
			v.write(w)
			return
		}
		if raw, ok := r.Value.(storage.RawValue); ok { // a replayed request's (capture_store.go)
			if v, ok := decodeReplyValue(raw); ok {
				v.write(w)
				return
			}
		}
		w.Error("ERR internal error: unknown result")
	case storage.ResultArray:
		if r.Null {
			w.NullArray()
			return
		}
		w.Array(len(r.Elems))
		for _, e := range r.Elems {
			w.Result(e)
		}
	default:
		w.Null()
	}
}

// respEncoder writes RESP2, or RESP3 after HELLO 3 (real nulls, maps,
// sets, doubles, pushes), to a redcon connection's output buffer.
type respEncoder struct {
	c   redcon.Conn
	v3  bool
	buf []byte
}

func (e *respEncoder) resp3() bool { return e.v3 }

func newRESPWriter(c redcon.Conn) (replyWriter, *respEncoder) {
	e := &respEncoder{c: c}
	return replyWriter{enc: e}, e
}

// raw copies an already encoded reply (a forwarded command's, from the
// leader, in this connection's protocol).
func (e *respEncoder) raw(b []byte) { e.c.WriteRaw(b) }

func (e *respEncoder) header(prefix byte, n int) {
	e.buf = append(e.buf[:0], prefix)
	e.buf = strconv.AppendInt(e.buf, int64(n), 10)
	e.buf = append(e.buf, '\r', '\n')
	e.raw(e.buf)
}

func (e *respEncoder) status(s string)   { e.c.WriteString(s) }
func (e *respEncoder) err(s string)      { e.c.WriteError(s) }
func (e *respEncoder) integer(n int64)   { e.c.WriteInt64(n) }
func (e *respEncoder) bulk(b []byte)     { e.c.WriteBulk(b) }
func (e *respEncoder) null()             { e.nullOr("$-1\r\n") }
func (e *respEncoder) nullArray()        { e.nullOr("*-1\r\n") }
func (e *respEncoder) verbatim(s string) { e.verbatimText(s) }

func (e *respEncoder) nullOr(resp2 string) {
	if e.v3 {
		e.raw([]byte("_\r\n"))
		return
	}
	e.raw([]byte(resp2))
}

// aggregate: RESP2 has only arrays; a map is an array of 2n elements.
func (e *respEncoder) aggregate(kind aggKind, n int) {
	switch {
	case !e.v3 && kind == aggMap:
		e.header('*', 2*n)
	case !e.v3:
		e.header('*', n)
	case kind == aggMap:
		e.header('%', n)
	case kind == aggSet:
		e.header('~', n)
	case kind == aggPush:
		e.header('>', n)
	default:
		e.header('*', n)
	}
}

// double writes a double as Redis 7.0 does (%.17g; RESP2: a bulk string).
func (e *respEncoder) double(f float64) {
	s := strconv.FormatFloat(f, 'g', 17, 64)
	if math.IsInf(f, 1) {
		s = "inf"
	} else if math.IsInf(f, -1) {
		s = "-inf"
	}
	if e.v3 {
		e.raw([]byte("," + s + "\r\n"))
		return
	}
	e.c.WriteBulkString(s)
}

// verbatimText writes a verbatim text string (RESP2: a bulk string).
func (e *respEncoder) verbatimText(s string) {
	if !e.v3 {
		e.c.WriteBulkString(s)
		return
	}
	e.buf = append(e.buf[:0], '=')
	e.buf = strconv.AppendInt(e.buf, int64(len(s)+4), 10)
	e.buf = append(e.buf, "\r\ntxt:"...)
	e.buf = append(e.buf, s...)
	e.buf = append(e.buf, '\r', '\n')
	e.raw(e.buf)
}
