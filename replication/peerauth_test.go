package replication

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

const (
	testSecret  = "correct horse battery staple"
	otherSecret = "incorrect horse battery staple"
)

// handshake runs both sides over a pipe and returns their errors; each side
// closes its end when it fails, as the transport does.
func handshake(t *testing.T, dialer, acceptor *peerAuth, timeout time.Duration) (dialErr, acceptErr error) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	deadline := time.Now().Add(timeout)
	done := make(chan error, 1)
	go func() {
		err := acceptor.acceptHandshake(b, deadline)
		if err != nil {
			b.Close()
		}
		done <- err
	}()
	dialErr = dialer.dialHandshake(a, "peer:1", deadline)
	if dialErr != nil {
		a.Close()
	}
	return dialErr, <-done
}

func noSecretIn(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil && (strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), otherSecret)) {
			t.Fatalf("an error quotes the secret: %v", err)
		}
	}
}

func TestPeerAuthRightSecret(t *testing.T) {
	a := newPeerAuth(testSecret, "")
	dErr, aErr := handshake(t, a, newPeerAuth(testSecret, ""), 5*time.Second)
	if dErr != nil || aErr != nil {
		t.Fatalf("same secret refused: dial %v, accept %v", dErr, aErr)
	}
}

func TestPeerAuthWrongSecret(t *testing.T) {
	dErr, aErr := handshake(t, newPeerAuth(otherSecret, ""), newPeerAuth(testSecret, ""), 5*time.Second)
	if !errors.Is(aErr, errPeerAuth) || !strings.Contains(aErr.Error(), "does not match") {
		t.Fatalf("acceptor took a wrong secret: %v", aErr)
	}
	if dErr == nil {
		t.Fatal("dialer believes it was accepted with a wrong secret")
	}
	noSecretIn(t, dErr, aErr)
}

func TestPeerAuthNoSecret(t *testing.T) {
	// A dialer without a secret speaks Raft (or RESP) at once.
	for _, first := range []string{"\x00raft-rpc-bytes-that-are-long-enough-for-a-hello", "*3\r\n$3\r\nFWD\r\n$1\r\n0\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"} {
		a, b := net.Pipe()
		go func() { a.Write([]byte(first)); io.Copy(io.Discard, a) }()
		err := newPeerAuth(testSecret, "").acceptHandshake(b, time.Now().Add(5*time.Second))
		if !errors.Is(err, errPeerAuth) || !strings.Contains(err.Error(), "did not start the cluster-secret handshake") {
			t.Fatalf("a peer without a secret (%q...): %v", first[:4], err)
		}
		b.Close()
		a.Close()
	}
	// A dialer with a secret, to a node without one: Raft reads the hello
	// as an unknown RPC and drops the connection.
	a, b := net.Pipe()
	go func() { io.ReadFull(b, make([]byte, 1)); b.Close() }()
	err := newPeerAuth(testSecret, "").dialHandshake(a, "peer:1", time.Now().Add(5*time.Second))
	if !errors.Is(err, errPeerAuth) || !(strings.Contains(err.Error(), "closed the connection during authentication") || strings.Contains(err.Error(), "did not complete the cluster-secret handshake")) {
		t.Fatalf("dial to a node without a secret: %v", err)
	}
	a.Close()
}

func TestPeerAuthStallingPeerIsBounded(t *testing.T) {
	auth := newPeerAuth(testSecret, "")
	// A dialer that sends half a hello and stops.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { a.Write([]byte(peerAuthMagic)) }()
	start := time.Now()
	err := auth.acceptHandshake(b, time.Now().Add(200*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("stalling dialer: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("stalling dialer held the acceptor for %v", d)
	}
	// An acceptor that reads the hello and never answers.
	c, d := net.Pipe()
	defer c.Close()
	defer d.Close()
	go io.Copy(io.Discard, d)
	start = time.Now()
	err = auth.dialHandshake(c, "peer:1", time.Now().Add(200*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("stalling acceptor: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("stalling acceptor held the dialer for %v", d)
	}
}

// recConn records what is written through it.
type recConn struct {
	net.Conn
	mu  sync.Mutex
	out bytes.Buffer
}

func (c *recConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.out.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func TestPeerAuthReplayedTranscriptIsRefused(t *testing.T) {
	auth := newPeerAuth(testSecret, "")
	a, b := net.Pipe()
	ra, rb := &recConn{Conn: a}, &recConn{Conn: b}
	done := make(chan error, 1)
	go func() { done <- auth.acceptHandshake(rb, time.Now().Add(5*time.Second)) }()
	if err := auth.dialHandshake(ra, "peer:1", time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	fromDialer, fromAcceptor := ra.out.Bytes(), rb.out.Bytes()
	if len(fromDialer) != peerHelloLen+32 || len(fromAcceptor) != peerHelloLen+32 {
		t.Fatalf("transcript sizes %d, %d", len(fromDialer), len(fromAcceptor))
	}

	// The dialer's recorded bytes, replayed to an acceptor: its fresh
	// nonce makes the recorded proof worthless.
	c, d := net.Pipe()
	go func() {
		c.Write(fromDialer[:peerHelloLen])
		io.ReadFull(c, make([]byte, peerHelloLen))
		c.Write(fromDialer[peerHelloLen:])
		io.Copy(io.Discard, c)
	}()
	err := auth.acceptHandshake(d, time.Now().Add(5*time.Second))
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("replayed dialer transcript: %v", err)
	}
	c.Close()
	d.Close()

	// The acceptor's recorded bytes, replayed to a dialer.
	e, f := net.Pipe()
	go func() {
		io.ReadFull(f, make([]byte, peerHelloLen))
		f.Write(fromAcceptor[:peerHelloLen])
		io.ReadFull(f, make([]byte, 32))
		f.Write(fromAcceptor[peerHelloLen:])
		io.Copy(io.Discard, f)
	}()
	err = auth.dialHandshake(e, "peer:1", time.Now().Add(5*time.Second))
	if err == nil || !strings.Contains(err.Error(), "does not know the cluster secret") {
		t.Fatalf("replayed acceptor transcript: %v", err)
	}
	e.Close()
	f.Close()

	// Proofs made for the other direction do not verify: neither the
	// acceptor's proof over the same nonces (the MAC an acceptor sends), nor
	// one over the same nonces in the same order but for the acceptor's role.
	for _, forge := range []func(nc, ns []byte) []byte{
		func(nc, ns []byte) []byte { return peerMAC([]byte(testSecret), "server", ns, nc) },
		func(nc, ns []byte) []byte { return peerMAC([]byte(testSecret), "server", nc, ns) },
	} {
		g, h := net.Pipe()
		go func() {
			hello, nc, _ := newHello()
			g.Write(hello)
			theirs := make([]byte, peerHelloLen)
			io.ReadFull(g, theirs)
			g.Write(forge(nc, theirs[len(peerAuthMagic):]))
			io.Copy(io.Discard, g)
		}()
		err = auth.acceptHandshake(h, time.Now().Add(5*time.Second))
		if err == nil || !strings.Contains(err.Error(), "does not match") {
			t.Fatalf("a proof for the other role was accepted: %v", err)
		}
		g.Close()
		h.Close()
	}
}

func TestPeerAuthRotationAcceptsOldButSendsNew(t *testing.T) {
	rotated := newPeerAuth(otherSecret, testSecret) // sends other, accepts both
	old := newPeerAuth(testSecret, "")
	// Phase 1 of a rotation: old nodes (send testSecret) and nodes that also
	// accept the new one must talk both ways.
	phase1 := newPeerAuth(testSecret, otherSecret)
	for name, pair := range map[string][2]*peerAuth{
		"old→phase1": {old, phase1}, "phase1→old": {phase1, old},
		"phase1→rotated": {phase1, rotated}, "rotated→phase1": {rotated, phase1},
	} {
		if dErr, aErr := handshake(t, pair[0], pair[1], 5*time.Second); dErr != nil || aErr != nil {
			t.Fatalf("%s: dial %v, accept %v", name, dErr, aErr)
		}
	}
	// The old secret is accepted, never sent: a node that knows only the
	// old one cannot verify a rotated node's proof.
	if dErr, aErr := handshake(t, rotated, old, 5*time.Second); aErr == nil || dErr == nil {
		t.Fatalf("a node with only the old secret accepted the new one: dial %v, accept %v", dErr, aErr)
	}
}

func TestCheckClusterSecret(t *testing.T) {
	if err := CheckClusterSecret("short"); err == nil || strings.Contains(err.Error(), "short") {
		t.Fatalf("short secret: %v", err)
	}
	if err := CheckClusterSecret(" " + testSecret); err == nil {
		t.Fatal("a secret with leading space was accepted")
	}
	if err := CheckClusterSecret(testSecret); err != nil {
		t.Fatal(err)
	}
}

func TestPeersExposed(t *testing.T) {
	for _, tc := range []struct {
		bind, adv string
		exposed   bool
	}{
		{"127.0.0.1:16379", "", false},
		{"127.0.0.2:16379", "127.0.0.2:16379", false},
		{"[::1]:16379", "", false},
		{"localhost:16379", "", false},
		{"0.0.0.0:16379", "127.0.0.1:16379", true},
		{":16379", "", true},
		{"127.0.0.1:16379", "10.0.0.5:16379", true},
		{"10.1.2.3:16379", "", true},
		{"[::]:16379", "", true},
		{"no-such-host.invalid:16379", "", true},
	} {
		if got := PeersExposed(tc.bind, tc.adv); got != tc.exposed {
			t.Errorf("PeersExposed(%q, %q) = %v", tc.bind, tc.adv, got)
		}
	}
}

func TestConfigRefusesExposedUnauthenticatedRaft(t *testing.T) {
	base := Config{NodeID: "n1", Dir: t.TempDir(), RaftBind: "0.0.0.0:0", RaftAdvertise: "127.0.0.1:1"}
	if err := base.Validate(); !errors.Is(err, ErrUnauthenticatedPeers) {
		t.Fatalf("exposed Raft with no secret: %v", err)
	}
	for _, msg := range []string{"KEEPKV_CLUSTER_SECRET", "--cluster-secret", "--tls-cluster", "--insecure-peers"} {
		if !strings.Contains(ErrUnauthenticatedPeers.Error(), msg) {
			t.Fatalf("the refusal does not mention %s", msg)
		}
	}
	ok := base
	ok.ClusterSecret = testSecret
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	ok = base
	ok.InsecurePeers = true
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := base
	bad.ClusterSecret = "short"
	if err := bad.Validate(); err == nil {
		t.Fatal("a short secret was accepted")
	}
	loop := Config{NodeID: "n1", Dir: t.TempDir(), RaftBind: "127.0.0.1:0"}
	if err := loop.Validate(); err != nil {
		t.Fatalf("loopback Raft needs nothing: %v", err)
	}
}

// syncBuffer is a log sink safe for the mux's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMuxAuthenticatesBeforeRouting drives the real listener: an
// authenticated dialer reaches the RESP side and the Raft side; others are
// refused, logged with their address, and nothing they sent is routed.
func TestMuxAuthenticatesBeforeRouting(t *testing.T) {
	var logs syncBuffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})
	m, err := newMuxLayer("127.0.0.1:0", nil, nil, newPeerAuth(testSecret, ""), logger)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := m.ln.Addr().String()
	routed := make(chan string, 10)
	go func() {
		for {
			c, err := m.resp.Accept()
			if err != nil {
				return
			}
			b := make([]byte, 4)
			io.ReadFull(c, b)
			routed <- "resp:" + string(b)
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := m.Accept()
			if err != nil {
				return
			}
			b := make([]byte, 4)
			io.ReadFull(c, b)
			routed <- "raft:" + string(b)
			c.Close()
		}
	}()

	// Authenticated: both kinds of traffic get through.
	for _, payload := range []string{"*1\r\n", "\x01abc"} {
		c, err := dialPeer(addr, 5*time.Second, nil, newPeerAuth(testSecret, ""), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(payload))
		select {
		case got := <-routed:
			if !strings.HasSuffix(got, payload) {
				t.Fatalf("routed %q for %q", got, payload)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("authenticated %q was not routed", payload)
		}
		c.Close()
	}

	// Wrong secret, from 127.0.0.3: refused at dial, logged with the address.
	_, err = dialPeer(addr, 5*time.Second, nil, newPeerAuth(otherSecret, ""), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)})
	if err == nil {
		t.Fatal("a wrong secret was accepted")
	}
	// No secret at all, from 127.0.0.4: the RESP it sends goes nowhere and
	// the connection is closed.
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 4)}}).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nevil\r\n*1\r\n$4\r\nPING\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	var ne net.Error
	if len(got) != 0 || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("a peer without the secret got %q, %v (want an immediate close)", got, err)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !(strings.Contains(logs.String(), "peer=127.0.0.3:") && strings.Contains(logs.String(), "peer=127.0.0.4:")) {
		if time.Now().After(deadline) {
			t.Fatalf("refusals not logged with the peers' addresses:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond) // the mux logs from its own goroutine
	}
	select {
	case got := <-routed:
		t.Fatalf("an unauthenticated connection was routed: %q", got)
	default:
	}
	if strings.Contains(logs.String(), testSecret) || strings.Contains(logs.String(), otherSecret) {
		t.Fatalf("the log quotes a secret:\n%s", logs.String())
	}
	t.Logf("refusals logged:\n%s", logs.String())
}

// BenchmarkPeerDial measures a peer connection's setup over loopback, with
// and without the cluster secret (Raft and the forwarder pool connections,
// so this is paid once per pooled connection).
func BenchmarkPeerDial(b *testing.B) {
	for _, secret := range []string{"", testSecret} {
		name := "plain"
		if secret != "" {
			name = "secret"
		}
		b.Run(name, func(b *testing.B) {
			m, err := newMuxLayer("127.0.0.1:0", nil, nil, newPeerAuth(secret, ""), hclog.NewNullLogger())
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			go func() {
				for {
					c, err := m.Accept()
					if err != nil {
						return
					}
					c.Write([]byte{1})
					c.Close()
				}
			}()
			one := make([]byte, 1)
			for b.Loop() {
				c, err := dialPeer(m.ln.Addr().String(), 5*time.Second, nil, newPeerAuth(secret, ""), nil)
				if err != nil {
					b.Fatal(err)
				}
				c.Write([]byte{0})
				io.ReadFull(c, one)
				c.Close()
			}
		})
	}
}
