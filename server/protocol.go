package server

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"time"
)

// Limits on what a client may send, enforced on the raw byte stream before
// redcon parses it, so an oversized or malformed request costs at most the
// limit in memory and closes only its own connection.
type Limits struct {
	MaxBulkLen   int64 // largest bulk string, as Redis's proto-max-bulk-len
	MaxMultibulk int64 // most arguments in one command
	MaxInline    int   // longest inline command line
}

const maxHeaderLine = 32 // "*1048576\r\n" fits easily

// protoConn checks RESP framing as bytes arrive. On a violation it passes
// through what came before, then writes Redis's protocol error and fails
// the next Read, which makes redcon close the connection.
type protoConn struct {
	net.Conn
	lim Limits

	// Read runs on the connection's goroutine only, so no lock is needed.
	pending string // error to report on the next Read
	// Read ahead by watch while a command ran: returned before reading
	// the connection again, and then aheadErr.
	ahead    []byte
	aheadErr error
	state    protoState
	line     []byte // the current header or inline line
	want     int64  // bulk headers left in this multibulk
	skip     int64  // payload bytes (plus CRLF) left to pass through
}

type protoState uint8

const (
	stStart protoState = iota
	stInline
	stMultiHeader
	stBulkHeader
	stPayload
)

func (c *protoConn) Read(p []byte) (int, error) {
	if c.pending != "" {
		c.Conn.Write([]byte("-ERR Protocol error: " + c.pending + "\r\n"))
		return 0, errProtocolLimit
	}
	var n int
	var err error
	switch {
	case len(c.ahead) > 0:
		n = copy(p, c.ahead)
		c.ahead = c.ahead[n:]
	case c.aheadErr != nil:
		err = c.aheadErr
	default:
		n, err = c.Conn.Read(p)
	}
	if n > 0 {
		if ok, bad := c.scan(p[:n]); bad != "" {
			c.pending = bad
			return ok, nil
		}
	}
	return n, err
}

type protoError string

func (e protoError) Error() string { return string(e) }

const errProtocolLimit = protoError("protocol limit exceeded")

// scan advances the framing state over b. On a violation it returns how
// many bytes of b precede it and the error text.
func (c *protoConn) scan(b []byte) (int, string) {
	for i := 0; i < len(b); {
		switch c.state {
		case stStart:
			if b[i] == '*' {
				c.state = stMultiHeader
			} else {
				c.state = stInline
			}
			c.line = c.line[:0]
		case stPayload:
			n := min(int64(len(b)-i), c.skip)
			i += int(n)
			c.skip -= n
			if c.skip == 0 {
				c.next()
			}
		default:
			j := bytes.IndexByte(b[i:], '\n')
			end := len(b)
			if j >= 0 {
				end = i + j
			}
			c.line = append(c.line, b[i:end]...)
			if bad := c.lineTooLong(); bad != "" {
				return i, bad
			}
			if j < 0 {
				return len(b), ""
			}
			if bad := c.endLine(); bad != "" {
				return i, bad
			}
			i = end + 1
		}
	}
	return len(b), ""
}

func (c *protoConn) lineTooLong() string {
	if c.state == stInline {
		if len(c.line) > c.lim.MaxInline {
			return "too big inline request"
		}
		return ""
	}
	if len(c.line) > maxHeaderLine {
		if c.state == stMultiHeader {
			return "invalid multibulk length"
		}
		return "invalid bulk length"
	}
	return ""
}

func (c *protoConn) endLine() string {
	line := bytes.TrimSuffix(c.line, []byte{'\r'})
	switch c.state {
	case stInline:
		c.state = stStart
	case stMultiHeader:
		n, err := strconv.ParseInt(string(line[1:]), 10, 64)
		if err != nil || n > c.lim.MaxMultibulk {
			return "invalid multibulk length"
		}
		c.want = n
		c.next()
	case stBulkHeader:
		if len(line) == 0 || line[0] != '$' {
			return "expected '$', got '" + string(line[:min(len(line), 1)]) + "'"
		}
		n, err := strconv.ParseInt(string(line[1:]), 10, 64)
		if err != nil || n < 0 || n > c.lim.MaxBulkLen {
			return "invalid bulk length"
		}
		c.want--
		c.skip = n + 2
		c.state = stPayload
	}
	c.line = c.line[:0]
	return ""
}

// next moves to the following bulk header, or to a new command.
func (c *protoConn) next() {
	c.line = c.line[:0]
	if c.want > 0 {
		c.state = stBulkHeader
	} else {
		c.state = stStart
	}
}

// limitListener wraps accepted connections in protoConn.
type limitListener struct {
	net.Listener
	lim Limits
}

func (l limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &protoConn{Conn: c, lim: l.lim}, nil
}

// watch reads ahead on the connection while a long command runs on its
// goroutine (redcon reads nothing then), and calls gone if the client
// disconnects. The bytes read ahead are returned, through the framing
// check, by the next Read. The returned stop ends the watch and must be
// called before the connection is read again.
func (c *protoConn) watch(gone func()) (stop func()) {
	c.Conn.SetReadDeadline(time.Time{}) // redcon's idle deadline, if any, is set again before its next read
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for len(c.ahead) < maxReadAhead {
			n, err := c.Conn.Read(b)
			c.ahead = append(c.ahead, b[:n]...)
			if err != nil {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					c.aheadErr = err
					gone()
				}
				return
			}
		}
	}()
	return func() {
		c.Conn.SetReadDeadline(time.Now())
		<-done
		c.Conn.SetReadDeadline(time.Time{})
	}
}

// maxReadAhead bounds what watch buffers from a client that keeps sending
// while its command runs; past it, the watch stops reading.
const maxReadAhead = 1 << 20
