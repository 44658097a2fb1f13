package server

import "strconv"

// Reply types only scripts produce (redis.setresp(3) and the {double=},
// {big_number=}, {verbatim_string=} tables): RESP3 booleans, big numbers
// and verbatim strings with a format. An encoder that has no such type
// writes the RESP2 form.
const (
	rvBool        replyKind = 100 + iota // n: 0 or 1
	rvBigNum                             // str
	rvVerbatimFmt                        // str: "fmt:text"
)

// extEncoder is implemented by encoders that write the script-only types.
type extEncoder interface {
	boolean(b bool)
	bigNumber(s string)
	verbatimFmt(format, s string)
}

// writeExt writes a script-only reply value.
func (v *replyValue) writeExt(w *replyWriter) {
	e, ok := w.enc.(extEncoder)
	switch v.kind {
	case rvBool:
		if ok {
			e.boolean(v.n != 0)
		} else {
			w.Int(v.n)
		}
	case rvBigNum:
		if ok {
			e.bigNumber(v.str)
		} else {
			w.BulkString(v.str)
		}
	case rvVerbatimFmt:
		format, text := v.str[:3], v.str[4:]
		if ok {
			e.verbatimFmt(format, text)
		} else {
			w.BulkString(text)
		}
	default:
		w.Error("ERR internal error: unknown reply type")
	}
}

func (e *respEncoder) boolean(b bool) {
	switch {
	case !e.v3 && b:
		e.c.WriteInt(1)
	case !e.v3:
		e.c.WriteInt(0)
	case b:
		e.raw([]byte("#t\r\n"))
	default:
		e.raw([]byte("#f\r\n"))
	}
}

func (e *respEncoder) bigNumber(s string) {
	if !e.v3 {
		e.c.WriteBulkString(s)
		return
	}
	e.raw([]byte("(" + s + "\r\n"))
}

func (e *respEncoder) verbatimFmt(format, s string) {
	if !e.v3 {
		e.c.WriteBulkString(s)
		return
	}
	e.buf = append(e.buf[:0], '=')
	e.buf = strconv.AppendInt(e.buf, int64(len(s)+4), 10)
	e.buf = append(e.buf, "\r\n"...)
	e.buf = append(e.buf, format...)
	e.buf = append(e.buf, ':')
	e.buf = append(e.buf, s...)
	e.buf = append(e.buf, '\r', '\n')
	e.raw(e.buf)
}

func (c *captureEncoder) boolean(b bool) {
	n := int64(0)
	if b {
		n = 1
	}
	c.add(replyValue{kind: rvBool, n: n})
}

func (c *captureEncoder) bigNumber(s string) { c.add(replyValue{kind: rvBigNum, str: s}) }

func (c *captureEncoder) verbatimFmt(format, s string) {
	c.add(replyValue{kind: rvVerbatimFmt, str: format + ":" + s})
}
