package server

import (
	"io"
	"net"

	"github.com/tidwall/redcon"
)

// httpConn is the redcon.Conn of an HTTP request's session: it collects
// the RESP replies the engine writes, in memory, for the JSON encoder.
// It has no network connection (NetConn is nil) and cannot be detached:
// the commands that would need either are refused over HTTP.
type httpConn struct {
	buf    []byte
	ctx    any
	remote string
}

var _ redcon.Conn = (*httpConn)(nil)

func (c *httpConn) RemoteAddr() string             { return c.remote }
func (c *httpConn) Close() error                   { return nil }
func (c *httpConn) WriteError(msg string)          { c.buf = redcon.AppendError(c.buf, msg) }
func (c *httpConn) WriteString(str string)         { c.buf = redcon.AppendString(c.buf, str) }
func (c *httpConn) WriteBulk(bulk []byte)          { c.buf = redcon.AppendBulk(c.buf, bulk) }
func (c *httpConn) WriteBulkString(bulk string)    { c.buf = redcon.AppendBulkString(c.buf, bulk) }
func (c *httpConn) WriteInt(num int)               { c.buf = redcon.AppendInt(c.buf, int64(num)) }
func (c *httpConn) WriteInt64(num int64)           { c.buf = redcon.AppendInt(c.buf, num) }
func (c *httpConn) WriteUint64(num uint64)         { c.buf = redcon.AppendUint(c.buf, num) }
func (c *httpConn) WriteArray(count int)           { c.buf = redcon.AppendArray(c.buf, count) }
func (c *httpConn) WriteNull()                     { c.buf = redcon.AppendNull(c.buf) }
func (c *httpConn) WriteRaw(data []byte)           { c.buf = append(c.buf, data...) }
func (c *httpConn) WriteAny(v any)                 { c.buf = redcon.AppendAny(c.buf, v) }
func (c *httpConn) Context() any                   { return c.ctx }
func (c *httpConn) SetContext(v any)               { c.ctx = v }
func (c *httpConn) SetReadBuffer(int)              {}
func (c *httpConn) Detach() redcon.DetachedConn    { return nil }
func (c *httpConn) ReadPipeline() []redcon.Command { return nil }
func (c *httpConn) PeekPipeline() []redcon.Command { return nil }
func (c *httpConn) NetConn() net.Conn              { return nil }
func (c *httpConn) WriteBulkFrom(n int64, r io.Reader) {
	b, _ := io.ReadAll(io.LimitReader(r, n))
	c.buf = redcon.AppendBulk(c.buf, b)
}
