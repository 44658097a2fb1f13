package server

// replyValue is a reply held as a value rather than written to a client:
// the replies of commands that run inside apply (EXEC's queued commands,
// a script's redis.call) are captured, then written to the client that
// asked, in its protocol, or handed to the script.
type replyValue struct {
	kind  replyKind
	str   string // status, error, verbatim
	bytes []byte // bulk
	n     int64
	f     float64
	agg   aggKind
	elems []replyValue // aggregates; a map's are key, value, key, value, ...
}

type replyKind uint8

const (
	rvStatus replyKind = iota + 1
	rvError
	rvInt
	rvDouble
	rvBulk
	rvNull
	rvNullArray
	rvAggregate
	rvVerbatim
)

// captureEncoder builds replyValues from what a handler writes.
type captureEncoder struct {
	v3    bool
	out   []replyValue // completed top-level values
	stack []*capFrame
}

type capFrame struct {
	v    replyValue
	left int // elements still to come
}

func (c *captureEncoder) resp3() bool { return c.v3 }

func (c *captureEncoder) add(v replyValue) {
	for {
		if len(c.stack) == 0 {
			c.out = append(c.out, v)
			return
		}
		top := c.stack[len(c.stack)-1]
		top.v.elems = append(top.v.elems, v)
		top.left--
		if top.left > 0 {
			return
		}
		c.stack = c.stack[:len(c.stack)-1]
		v = top.v
	}
}

func (c *captureEncoder) status(s string)  { c.add(replyValue{kind: rvStatus, str: s}) }
func (c *captureEncoder) err(s string)     { c.add(replyValue{kind: rvError, str: s}) }
func (c *captureEncoder) integer(n int64)  { c.add(replyValue{kind: rvInt, n: n}) }
func (c *captureEncoder) double(f float64) { c.add(replyValue{kind: rvDouble, f: f}) }
func (c *captureEncoder) bulk(b []byte) {
	c.add(replyValue{kind: rvBulk, bytes: append([]byte{}, b...)})
}
func (c *captureEncoder) null()             { c.add(replyValue{kind: rvNull}) }
func (c *captureEncoder) nullArray()        { c.add(replyValue{kind: rvNullArray}) }
func (c *captureEncoder) verbatim(s string) { c.add(replyValue{kind: rvVerbatim, str: s}) }

func (c *captureEncoder) aggregate(kind aggKind, n int) {
	v := replyValue{kind: rvAggregate, agg: kind}
	if kind == aggMap {
		n *= 2
	}
	if n == 0 {
		v.elems = []replyValue{}
		c.add(v)
		return
	}
	v.elems = make([]replyValue, 0, min(n, 1024))
	c.stack = append(c.stack, &capFrame{v: v, left: n})
}

// take returns the one complete value written since the last take; a
// handler that wrote nothing (or left an aggregate unfinished, a bug)
// yields an error value instead.
func (c *captureEncoder) take() replyValue {
	if len(c.out) != 1 || len(c.stack) != 0 {
		c.out, c.stack = nil, nil
		return replyValue{kind: rvError, str: "ERR internal error: a command wrote no single reply"}
	}
	v := c.out[0]
	c.out = c.out[:0]
	return v
}

// write writes v to w.
func (v *replyValue) write(w *replyWriter) {
	switch v.kind {
	case rvStatus:
		w.Status(v.str)
	case rvError:
		w.Error(v.str)
	case rvInt:
		w.Int(v.n)
	case rvDouble:
		w.Double(v.f)
	case rvBulk:
		w.Bulk(v.bytes)
	case rvNull:
		w.Null()
	case rvNullArray:
		w.NullArray()
	case rvVerbatim:
		w.Verbatim(v.str)
	case rvAggregate:
		n := len(v.elems)
		if v.agg == aggMap {
			n /= 2
		}
		w.enc.aggregate(v.agg, n)
		for i := range v.elems {
			v.elems[i].write(w)
		}
	default:
		v.writeExt(w) // script-only types (script_reply.go)
	}
}
