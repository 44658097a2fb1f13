package replication

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// ParsePeers parses "id=host:port,id=host:port".
func ParsePeers(s string) ([]Member, error) {
	var out []Member
	seen := map[string]bool{}
	for _, part := range splitNonEmpty(s, ',') {
		id, addr, ok := cut(part, '=')
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("replication: peer %q is not id=host:port", part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("replication: peer %q: %v", part, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("replication: peer id %q listed twice", id)
		}
		seen[id] = true
		out = append(out, Member{ID: id, Address: addr, Voter: true})
	}
	return out, nil
}

func splitNonEmpty(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == sep {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

func cut(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// bootstrapPeers bootstraps the static configuration. Every node started
// with the same peers does the same; Raft accepts identical bootstraps.
func (n *Node) bootstrapPeers() error {
	var conf raft.Configuration
	for _, p := range n.cfg.Peers {
		conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Address), Suffrage: raft.Voter})
	}
	if err := n.raft.BootstrapCluster(conf).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("replication: bootstrap peers: %w", err)
	}
	return nil
}

// AddNonvoter adds id at addr as a non-voter: a member that receives the
// log but counts towards no quorum and never campaigns. It reports whether
// id is a voter (a voter at another address keeps its vote and gets the new
// address). It is idempotent, and only the leader can do it.
//
// A new node joins this way first and becomes a voter (Promote) only once
// it has caught up (server's RAFT JOIN). A voter added with an empty log
// holds no configuration but the one it joined with; should a later change
// need its vote before it has the log (another voter removed, then every
// node restarted), hashicorp/raft on it refuses votes from servers missing
// from its latest configuration, and no leader is ever elected.
func (n *Node) AddNonvoter(ctx context.Context, id, addr string) (voter bool, err error) {
	srv, _, err := n.member(id, addr)
	if err != nil {
		return false, err
	}
	switch {
	case srv == nil:
		return false, mapRaftError(n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeoutOf(ctx)).Error())
	case srv.Suffrage != raft.Voter:
		if string(srv.Address) == addr {
			return false, nil
		}
		return false, mapRaftError(n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeoutOf(ctx)).Error())
	case string(srv.Address) != addr:
		return true, mapRaftError(n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeoutOf(ctx)).Error())
	}
	return true, nil
}

// member returns id's entry in the leader's latest configuration, or nil,
// and that configuration's log index, after checking that no other member
// has addr.
func (n *Node) member(id, addr string) (*raft.Server, uint64, error) {
	if n.raft.State() != raft.Leader {
		return nil, 0, ErrNotLeader
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, 0, mapRaftError(err)
	}
	var found *raft.Server
	for _, s := range f.Configuration().Servers {
		if string(s.Address) == addr && string(s.ID) != id {
			return nil, 0, fmt.Errorf("replication: address %s already belongs to member %s", addr, s.ID)
		}
		if string(s.ID) == id {
			found = &s
		}
	}
	return found, f.Index(), nil
}

// Member returns id's entry in the leader's latest configuration, or nil.
// Only the leader can answer.
func (n *Node) Member(id string) (*Member, error) {
	srv, _, err := n.member(id, "")
	if err != nil || srv == nil {
		return nil, err
	}
	return &Member{ID: id, Address: string(srv.Address), Voter: srv.Suffrage == raft.Voter}, nil
}

// Promote makes the non-voter id at addr a voter (a voter stays one). The
// change applies only to the configuration it checked: a node removed, or
// added again elsewhere, meanwhile is not made a voter (a RAFT JOIN that
// waited for a node to catch up while an operator removed it must not add
// it back). Only the leader can do it.
func (n *Node) Promote(ctx context.Context, id, addr string) error {
	srv, index, err := n.member(id, addr)
	switch {
	case err != nil:
		return err
	case srv == nil || string(srv.Address) != addr:
		return fmt.Errorf("replication: %s at %s is no longer a member (removed while it caught up?)", id, addr)
	case srv.Suffrage == raft.Voter:
		return nil
	}
	return mapRaftError(n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), index, timeoutOf(ctx)).Error())
}

// RemoveServer removes a member. Only the leader can do it.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	return mapRaftError(n.raft.RemoveServer(raft.ServerID(id), 0, timeoutOf(ctx)).Error())
}

// TransferLeadership hands leadership to id, or to any voter when id is "".
func (n *Node) TransferLeadership(id string) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	if id == "" {
		return mapRaftError(n.raft.LeadershipTransfer().Error())
	}
	for _, m := range n.Status().Members {
		if m.ID == id {
			return mapRaftError(n.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(m.Address)).Error())
		}
	}
	return fmt.Errorf("replication: no member %q", id)
}

// Snapshot takes a snapshot now and compacts the log.
func (n *Node) Snapshot() error { return mapRaftError(n.raft.Snapshot().Error()) }

// LeaderAddr returns the leader's Raft address, waiting at most LeaderWait
// for one to be known. It returns "" with ErrNoLeader.
func (n *Node) LeaderAddr(ctx context.Context) (string, error) {
	timer := time.NewTimer(n.cfg.LeaderWait)
	defer timer.Stop()
	for {
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			return string(addr), nil
		}
		select {
		case <-timer.C:
			return "", ErrNoLeader
		case <-ctx.Done():
			return "", ctx.Err()
		case <-n.stopCh:
			return "", ErrClosed
		case <-time.After(n.cfg.LeaderWait / 50):
			// Followers learn of a leader from heartbeats, which raise no
			// notification here: look again.
		}
	}
}

// IsLeader reports whether Raft is in the leader state (ready or not).
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// RaftAddr returns this node's advertised Raft address.
func (n *Node) RaftAddr() string { return string(n.transport.LocalAddr()) }

// RESPListener returns the listener for RESP connections arriving on the
// Raft port, or nil when the transport is overridden.
func (n *Node) RESPListener() net.Listener {
	if n.mux == nil {
		return nil
	}
	return n.mux.resp
}

func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return 10 * time.Second
}

// DialPeer connects to another node's Raft port the way Raft does (with
// mutual TLS and the cluster secret when configured), for joins and
// forwarded commands.
func (n *Node) DialPeer(addr string, timeout time.Duration) (net.Conn, error) {
	var source *net.TCPAddr
	if n.mux != nil {
		source = n.mux.source
	}
	return dialPeer(addr, timeout, n.cfg.PeerTLS, newPeerAuth(n.cfg.ClusterSecret, n.cfg.ClusterSecretOld), source)
}
