package server

import (
	"math"
	"strconv"

	"github.com/keepkv/keepkv/storage"
	"github.com/tidwall/redcon"
)

// replyWriter writes replies in the connection's protocol version: RESP2,
// or RESP3 after HELLO 3 (real nulls, maps, doubles).
type replyWriter struct {
	c     redcon.Conn
	resp3 bool
	buf   []byte
}

func (w *replyWriter) raw(b []byte) { w.c.WriteRaw(b) }

func (w *replyWriter) header(prefix byte, n int) {
	w.buf = append(w.buf[:0], prefix)
	w.buf = strconv.AppendInt(w.buf, int64(n), 10)
	w.buf = append(w.buf, '\r', '\n')
	w.raw(w.buf)
}

func (w *replyWriter) OK()                 { w.c.WriteString("OK") }
func (w *replyWriter) Status(s string)     { w.c.WriteString(s) }
func (w *replyWriter) Error(s string)      { w.c.WriteError(s) }
func (w *replyWriter) Int(n int64)         { w.c.WriteInt64(n) }
func (w *replyWriter) Bulk(b []byte)       { w.c.WriteBulk(b) }
func (w *replyWriter) BulkString(s string) { w.c.WriteBulkString(s) }
func (w *replyWriter) Array(n int)         { w.header('*', n) }

// Null writes a null bulk string (RESP2 $-1, RESP3 _).
func (w *replyWriter) Null() {
	if w.resp3 {
		w.raw([]byte("_\r\n"))
		return
	}
	w.c.WriteNull()
}

// NullArray writes a null array (RESP2 *-1, RESP3 _).
func (w *replyWriter) NullArray() {
	if w.resp3 {
		w.raw([]byte("_\r\n"))
		return
	}
	w.raw([]byte("*-1\r\n"))
}

// Map writes a map header of n pairs (RESP2: an array of 2n elements).
func (w *replyWriter) Map(n int) {
	if w.resp3 {
		w.header('%', n)
		return
	}
	w.header('*', 2*n)
}

// Set writes a set header (RESP2: an array).
func (w *replyWriter) Set(n int) {
	if w.resp3 {
		w.header('~', n)
		return
	}
	w.header('*', n)
}

// Double writes a double (RESP2: a bulk string).
func (w *replyWriter) Double(f float64) {
	s := strconv.FormatFloat(f, 'g', 17, 64)
	if math.IsInf(f, 1) {
		s = "inf"
	} else if math.IsInf(f, -1) {
		s = "-inf"
	}
	if w.resp3 {
		w.raw([]byte("," + s + "\r\n"))
		return
	}
	w.BulkString(s)
}

// Verbatim writes a verbatim text string (RESP2: a bulk string).
func (w *replyWriter) Verbatim(s string) {
	if w.resp3 {
		w.buf = append(w.buf[:0], '=')
		w.buf = strconv.AppendInt(w.buf, int64(len(s)+4), 10)
		w.buf = append(w.buf, "\r\ntxt:"...)
		w.buf = append(w.buf, s...)
		w.buf = append(w.buf, '\r', '\n')
		w.raw(w.buf)
		return
	}
	w.BulkString(s)
}

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
	default:
		w.Null()
	}
}
