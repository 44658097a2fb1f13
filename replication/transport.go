package replication

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// muxLayer is a raft.StreamLayer that shares the Raft port with keepkv's
// cluster-internal RESP traffic (joins, forwarded commands): a connection
// whose first byte is '*' (a RESP array) is handed to RESPListener, any
// other is Raft's (its RPC type bytes are all small integers).
type muxLayer struct {
	ln        net.Listener
	source    *net.TCPAddr // local address for outgoing connections, or nil
	tls       *tls.Config  // mutual TLS between peers, or nil
	auth      *peerAuth    // the cluster secret, or nil
	logger    hclog.Logger
	advertise net.Addr
	raftC     chan net.Conn
	resp      *chanListener
	done      chan struct{}
	closeOnce sync.Once
}

func newMuxLayer(bind string, advertise net.Addr, tlsConf *tls.Config, auth *peerAuth, logger hclog.Logger) (*muxLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	if tcp, ok := advertise.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		ln.Close()
		return nil, errors.New("replication: the Raft address is not advertisable; set RaftAdvertise")
	}
	m := &muxLayer{ln: ln, tls: tlsConf, auth: auth, logger: logger, source: sourceAddr(ln.Addr()), advertise: advertise, raftC: make(chan net.Conn), done: make(chan struct{})}
	m.resp = &chanListener{c: make(chan net.Conn), done: m.done, closed: make(chan struct{}), addr: ln.Addr()}
	go m.acceptLoop()
	return m, nil
}

func (m *muxLayer) acceptLoop() {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			m.Close()
			return
		}
		go m.route(c)
	}
}

// route authenticates the peer (mutual TLS, then the cluster secret, as
// configured), then peeks at the first byte, with a deadline so a silent
// peer cannot hold a goroutine forever. A refused peer is logged with its
// address and disconnected before anything it sent is interpreted.
func (m *muxLayer) route(c net.Conn) {
	deadline := time.Now().Add(peerAuthTimeout)
	c.SetDeadline(deadline)
	if m.tls != nil {
		tc := tls.Server(c, m.tls)
		if err := tc.Handshake(); err != nil {
			m.logger.Warn("refused a peer connection: TLS handshake failed", "peer", c.RemoteAddr().String(), "error", err)
			c.Close()
			return
		}
		c = tc
	}
	if m.auth != nil {
		if err := m.auth.acceptHandshake(c, deadline); err != nil {
			m.logger.Warn("refused a peer connection: cluster secret not proven", "peer", c.RemoteAddr().String(), "error", err)
			c.Close()
			return
		}
		c.SetDeadline(deadline)
	}
	br := bufio.NewReaderSize(c, 4096)
	first, err := br.Peek(1)
	c.SetDeadline(time.Time{})
	if err != nil {
		c.Close()
		return
	}
	pc := &peekedConn{Conn: c, r: br}
	dst := m.raftC
	if first[0] == '*' {
		dst = m.resp.c
	}
	select {
	case dst <- pc:
	case <-m.done:
		c.Close()
	case <-m.resp.closed:
		c.Close()
	}
}

// Accept returns the next Raft connection.
func (m *muxLayer) Accept() (net.Conn, error) {
	select {
	case c := <-m.raftC:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *muxLayer) Close() error {
	m.closeOnce.Do(func() {
		close(m.done)
		m.ln.Close()
	})
	return nil
}

func (m *muxLayer) Addr() net.Addr { return m.advertise }

func (m *muxLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return dialPeer(string(addr), timeout, m.tls, m.auth, m.source)
}

// sourceAddr: when the Raft port is bound to a specific IP, connections to
// peers leave from that IP too, so a multi-homed node (or a test that gives
// each node its own loopback address) is seen by peers as one address.
func sourceAddr(bound net.Addr) *net.TCPAddr {
	tcp, ok := bound.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		return nil
	}
	return &net.TCPAddr{IP: tcp.IP}
}

// dialPeer connects to a peer's Raft port, then authenticates both ends
// with mutual TLS and the cluster secret, as configured, all within timeout.
func dialPeer(addr string, timeout time.Duration, conf *tls.Config, auth *peerAuth, source *net.TCPAddr) (net.Conn, error) {
	if timeout <= 0 {
		timeout = peerAuthTimeout
	}
	deadline := time.Now().Add(timeout)
	d := net.Dialer{Deadline: deadline}
	if source != nil {
		d.LocalAddr = source
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if conf != nil {
		tc := tls.Client(c, conf)
		tc.SetDeadline(deadline)
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, err
		}
		tc.SetDeadline(time.Time{})
		c = tc
	}
	if auth != nil {
		if err := auth.dialHandshake(c, addr, deadline); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// chanListener is a net.Listener fed by the mux.
type chanListener struct {
	c         chan net.Conn
	done      chan struct{} // the mux closed
	closed    chan struct{} // this listener closed
	closeOnce sync.Once
	addr      net.Addr
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.c:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}
func (l *chanListener) Addr() net.Addr { return l.addr }
