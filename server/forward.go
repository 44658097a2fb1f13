package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// forwarder sends commands a follower cannot serve to the leader, over
// pooled connections to the leader's Raft port (which also speaks RESP).
// Each command travels as FWD <db> <proto> <origin> <request id> <user>
// <command...>, so the leader runs it in the client's database and answers
// in the client's protocol, its log entries name the client (NOLOOP
// tracking), a retried write applies once (route.go, Server.forward), and
// a script runs with the client's ACL (script.go, scriptRules); the
// replies are copied back byte for byte.
type forwarder struct {
	dial    func(addr string, timeout time.Duration) (net.Conn, error)
	mu      sync.Mutex
	idle    map[string][]*fwdConn
	maxIdle int
	timeout time.Duration
	closed  bool
}

type fwdConn struct {
	c  net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
	to string
}

func newForwarder(timeout time.Duration, dial func(string, time.Duration) (net.Conn, error)) *forwarder {
	return &forwarder{dial: dial, idle: map[string][]*fwdConn{}, maxIdle: 16, timeout: timeout}
}

var errForwardClosed = errors.New("forwarder closed")

// errUnreachable means nothing was sent: the leader could not be dialled.
var errUnreachable = errors.New("the leader is unreachable")

func (f *forwarder) get(addr string) (*fwdConn, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, errForwardClosed
	}
	for list := f.idle[addr]; len(list) > 0; list = f.idle[addr] {
		c := list[len(list)-1]
		f.idle[addr] = list[:len(list)-1]
		if c.alive() {
			f.mu.Unlock()
			return c, nil
		}
		c.c.Close()
	}
	f.mu.Unlock()
	c, err := f.dial(addr, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUnreachable, err)
	}
	return &fwdConn{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10), to: addr}, nil
}

// alive checks an idle connection without blocking: a peer that closed it
// (a leader that restarted, a cut link) shows as EOF or a reset, which is
// far better learnt before a command is sent than after.
func (c *fwdConn) alive() bool {
	if c.r.Buffered() > 0 {
		return false // nothing should arrive unasked
	}
	c.c.SetReadDeadline(time.Now())
	_, err := c.r.Peek(1)
	c.c.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// drop closes every idle connection to addr, after one of them failed.
func (f *forwarder) drop(addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.idle[addr] {
		c.c.Close()
	}
	delete(f.idle, addr)
}

func (f *forwarder) put(c *fwdConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || len(f.idle[c.to]) >= f.maxIdle {
		c.c.Close()
		return
	}
	f.idle[c.to] = append(f.idle[c.to], c)
}

func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for _, list := range f.idle {
		for _, c := range list {
			c.c.Close()
		}
	}
	f.idle = nil
}

// do sends cmds as one pipeline and returns one raw reply per command.
func (f *forwarder) do(ctx context.Context, addr string, db uint8, proto int, origin []byte, user string, rids [][]byte, cmds [][][]byte) ([][]byte, error) {
	dbArg, protoArg, userArg := []byte(strconv.Itoa(int(db))), []byte(strconv.Itoa(proto)), []byte(user)
	return f.exchange(ctx, addr, len(cmds), func(w *bufio.Writer) {
		for i, args := range cmds {
			writeArray(w, [][]byte{[]byte("FWD"), dbArg, protoArg, origin, rids[i], userArg}, args)
		}
	})
}

// exchange writes a pipeline to addr over a pooled connection and reads
// its n raw replies.
func (f *forwarder) exchange(ctx context.Context, addr string, n int, write func(*bufio.Writer)) ([][]byte, error) {
	c, err := f.get(addr)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(f.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.c.SetDeadline(deadline)
	write(c.w)
	if err := c.w.Flush(); err != nil {
		c.c.Close()
		f.drop(addr)
		return nil, err
	}
	out := make([][]byte, n)
	for i := range out {
		if out[i], err = readReply(c.r, nil); err != nil {
			c.c.Close()
			f.drop(addr)
			return nil, err
		}
	}
	c.c.SetDeadline(time.Time{})
	f.put(c)
	return out, nil
}

func writeArray(w *bufio.Writer, head, args [][]byte) {
	fmt.Fprintf(w, "*%d\r\n", len(head)+len(args))
	for _, list := range [][][]byte{head, args} {
		for _, a := range list {
			fmt.Fprintf(w, "$%d\r\n", len(a))
			w.Write(a)
			w.WriteString("\r\n")
		}
	}
}

// maxReplyDepth bounds nesting in a forwarded reply.
const maxReplyDepth = 64

// readReply reads one complete RESP2 or RESP3 reply and returns its raw
// bytes appended to buf.
func readReply(r *bufio.Reader, buf []byte) ([]byte, error) { return readReplyDepth(r, buf, 0) }

func readReplyDepth(r *bufio.Reader, buf []byte, depth int) ([]byte, error) {
	if depth > maxReplyDepth {
		return nil, errors.New("reply nested too deeply")
	}
	line, err := r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("malformed reply line %q", line)
	}
	buf = append(buf, line...)
	n, _ := strconv.Atoi(string(line[1 : len(line)-2]))
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return buf, nil
	case '$', '=', '!':
		if n < 0 {
			return buf, nil
		}
		start := len(buf)
		buf = append(buf, make([]byte, n+2)...)
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			return nil, err
		}
		return buf, nil
	case '*', '~', '>', '%', '|':
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for i := 0; i < n; i++ {
			if buf, err = readReplyDepth(r, buf, depth+1); err != nil {
				return nil, err
			}
		}
		return buf, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", line[0])
}
