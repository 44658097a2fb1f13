package replication

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Peer authentication with a shared cluster secret.
//
// Every connection between nodes (Raft RPCs, snapshots, joins, forwarded
// commands) starts with a mutual challenge–response before anything else is
// read from it:
//
//	dialer   → acceptor: "KKVPEER" 0x01 | 32-byte nonce Nc
//	acceptor → dialer:   "KKVPEER" 0x01 | 32-byte nonce Ns
//	dialer   → acceptor: HMAC-SHA256(secret, label | "client" | Nc | Ns)
//	acceptor → dialer:   HMAC-SHA256(secret, label | "server" | Ns | Nc)
//
// Each side proves it knows the secret over a nonce the other side just
// chose, so a recorded transcript is worth nothing later, and the role in
// each MAC keeps one side's proof from being reflected as the other's. The
// acceptor answers with its own proof only after the dialer's checked out,
// so an unauthenticated dialer never sees a MAC. MACs are compared with
// hmac.Equal. The exchange authenticates the peer, not the bytes that follow,
// and a node proves itself only to addresses it chose to dial (members,
// a --join target); on a network where someone can inject into TCP streams
// or impersonate a member's address (and so relay a handshake), use mutual
// TLS as well.
//
// For rotation a node sends with one secret and accepts that one or an old
// one (see README, "Rotating the cluster secret").

const (
	peerAuthMagic   = "KKVPEER\x01"
	peerNonceLen    = 32
	peerHelloLen    = len(peerAuthMagic) + peerNonceLen
	peerAuthLabel   = "keepkv peer auth v1\x00"
	peerAuthTimeout = 10 * time.Second
	// MinClusterSecretLen is the shortest secret accepted: a captured
	// handshake lets anyone try guesses offline.
	MinClusterSecretLen = 16
)

// peerAuth holds the secrets of a node: send is the one it proves itself
// with, accept all it takes from peers (send first). nil means no secret.
type peerAuth struct {
	send   []byte
	accept [][]byte
}

// newPeerAuth returns nil when secret is empty.
func newPeerAuth(secret, old string) *peerAuth {
	if secret == "" {
		return nil
	}
	a := &peerAuth{send: []byte(secret), accept: [][]byte{[]byte(secret)}}
	if old != "" && old != secret {
		a.accept = append(a.accept, []byte(old))
	}
	return a
}

// CheckClusterSecret reports what is wrong with a secret, without ever
// quoting it.
func CheckClusterSecret(secret string) error {
	switch {
	case len(secret) < MinClusterSecretLen:
		return fmt.Errorf("the cluster secret must be at least %d characters (e.g. the output of `openssl rand -hex 32`)", MinClusterSecretLen)
	case strings.TrimSpace(secret) != secret:
		return errors.New("the cluster secret must not start or end with white space")
	}
	return nil
}

func peerMAC(key []byte, role string, own, peer []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(peerAuthLabel))
	m.Write([]byte(role))
	m.Write(own)
	m.Write(peer)
	return m.Sum(nil)
}

// verify reports whether mac is role's proof over (own, peer) under any
// accepted secret. Every secret is tried, so the time taken does not say
// which one matched.
func (a *peerAuth) verify(mac []byte, role string, own, peer []byte) bool {
	ok := false
	for _, k := range a.accept {
		if hmac.Equal(mac, peerMAC(k, role, own, peer)) {
			ok = true
		}
	}
	return ok
}

func newHello() (hello, nonce []byte, err error) {
	hello = make([]byte, peerHelloLen)
	copy(hello, peerAuthMagic)
	nonce = hello[len(peerAuthMagic):]
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	return hello, nonce, nil
}

// errPeerAuth marks every refusal, so callers can tell it from I/O errors.
var errPeerAuth = errors.New("peer authentication failed")

type peerAuthError struct{ msg string }

func (e *peerAuthError) Error() string { return e.msg }
func (e *peerAuthError) Unwrap() error { return errPeerAuth }

func authErr(format string, args ...any) error {
	return &peerAuthError{msg: fmt.Sprintf(format, args...)}
}

// acceptHandshake runs the acceptor's side on c before anything else is read
// from it. On error the caller closes c. The error never contains a secret.
func (a *peerAuth) acceptHandshake(c net.Conn, deadline time.Time) error {
	c.SetDeadline(deadline)
	defer c.SetDeadline(time.Time{})
	theirs := make([]byte, peerHelloLen)
	if _, err := io.ReadFull(c, theirs); err != nil {
		return authErr("no authentication hello: %v", ioErr(err))
	}
	if !bytes.Equal(theirs[:len(peerAuthMagic)], []byte(peerAuthMagic)) {
		return authErr("the peer did not start the cluster-secret handshake (is it running without --cluster-secret, or is it not a keepkv node?)")
	}
	nc := theirs[len(peerAuthMagic):]
	hello, ns, err := newHello()
	if err != nil {
		return err
	}
	if _, err := c.Write(hello); err != nil {
		return authErr("sending the challenge: %v", ioErr(err))
	}
	mac := make([]byte, sha256.Size)
	if _, err := io.ReadFull(c, mac); err != nil {
		return authErr("no proof from the peer: %v", ioErr(err))
	}
	if !a.verify(mac, "client", nc, ns) {
		return authErr("the peer's proof does not match the cluster secret (wrong --cluster-secret?)")
	}
	if _, err := c.Write(peerMAC(a.send, "server", ns, nc)); err != nil {
		return authErr("sending our proof: %v", ioErr(err))
	}
	return nil
}

// dialHandshake runs the dialer's side on a fresh connection to addr.
func (a *peerAuth) dialHandshake(c net.Conn, addr string, deadline time.Time) error {
	c.SetDeadline(deadline)
	defer c.SetDeadline(time.Time{})
	hello, nc, err := newHello()
	if err != nil {
		return err
	}
	if _, err := c.Write(hello); err != nil {
		return authErr("peer %s closed the connection during authentication (does it have the same --cluster-secret?): %v", addr, ioErr(err))
	}
	theirs := make([]byte, peerHelloLen)
	if n, err := io.ReadFull(c, theirs); err != nil {
		if n > 0 && (theirs[0] == '-' || theirs[0] == '+') {
			return authErr("peer %s answered like a client port: with a cluster secret, give a member's Raft address", addr)
		}
		return authErr("peer %s did not complete the cluster-secret handshake (is it a member's Raft port, with the same --cluster-secret?): %v", addr, ioErr(err))
	}
	if !bytes.Equal(theirs[:len(peerAuthMagic)], []byte(peerAuthMagic)) {
		if theirs[0] == '-' || theirs[0] == '+' {
			return authErr("peer %s answered like a client port: with a cluster secret, give a member's Raft address", addr)
		}
		return authErr("peer %s does not speak the cluster-secret handshake", addr)
	}
	ns := theirs[len(peerAuthMagic):]
	if _, err := c.Write(peerMAC(a.send, "client", nc, ns)); err != nil {
		return authErr("peer %s: sending our proof: %v", addr, ioErr(err))
	}
	mac := make([]byte, sha256.Size)
	if _, err := io.ReadFull(c, mac); err != nil {
		return authErr("peer %s refused our cluster secret: %v", addr, ioErr(err))
	}
	if !a.verify(mac, "server", ns, nc) {
		return authErr("peer %s does not know the cluster secret", addr)
	}
	return nil
}

// ioErr shortens the errors a handshake can meet to something worth logging.
func ioErr(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.ErrClosedPipe):
		return errors.New("connection closed")
	case errors.As(err, &ne) && ne.Timeout():
		return errors.New("timed out")
	}
	return err
}

// PeersExposed reports whether a Raft listener bound to bind and advertised
// as advertise can be reached from other hosts: anything but loopback
// addresses (and names that resolve only to them).
func PeersExposed(bind, advertise string) bool {
	for _, a := range []string{bind, advertise} {
		if a == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a)
		if err != nil || !loopbackHost(host) {
			return true
		}
	}
	return false
}

func loopbackHost(host string) bool {
	if host == "" {
		return false // every interface
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(addrs) == 0 {
		return false
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return false
		}
	}
	return true
}

// ErrUnauthenticatedPeers is returned by Config.Validate for a node whose
// Raft port other hosts can reach while nothing authenticates peers.
var ErrUnauthenticatedPeers = errors.New("peers are not authenticated: " +
	"set a cluster secret (KEEPKV_CLUSTER_SECRET, --cluster-secret or --cluster-secret-file, the same on every node), " +
	"or use mutual TLS (--tls-cluster), or pass --insecure-peers to run unauthenticated on a network you trust")
