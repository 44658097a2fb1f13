package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keepkv/keepkv/replication"
)

func raftCommands() []*command {
	return []*command{
		{name: "raft", arity: -2, flags: flagAdmin, group: "cluster",
			summary: "Inspects and changes keepkv's Raft membership: INFO, MEMBERS, LEADER, JOIN, REMOVE, TRANSFER, SNAPSHOT.",
			since:   "keepkv 0.1.0", local: cmdRaft, leaderOnly: raftLeaderOnly},
	}
}

// raftLeaderOnly: membership changes run on the leader; a follower forwards.
func raftLeaderOnly(args [][]byte) bool {
	return eq(args[1], "join") || eq(args[1], "remove") || eq(args[1], "transfer")
}

func cmdRaft(x *execCtx, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node := x.s.node
	switch {
	case sub == "info" && len(args) == 2:
		var b strings.Builder
		for _, kv := range x.s.infoReplication() {
			fmt.Fprintf(&b, "%s:%s\r\n", kv[0], kv[1])
		}
		x.w.Verbatim(b.String())
	case sub == "members" && len(args) == 2:
		st := node.Status()
		x.w.Array(len(st.Members))
		for _, m := range st.Members {
			role := "follower"
			if m.ID == st.LeaderID {
				role = "leader"
			}
			suffrage := "voter"
			if !m.Voter {
				suffrage = "nonvoter"
			}
			x.w.Array(4)
			x.w.BulkString(m.ID)
			x.w.BulkString(m.Address)
			x.w.BulkString(suffrage)
			x.w.BulkString(role)
		}
	case sub == "leader" && len(args) == 2:
		st := node.Status()
		if st.LeaderID == "" {
			x.w.NullArray()
			return
		}
		x.w.Array(2)
		x.w.BulkString(st.LeaderID)
		x.w.BulkString(st.Leader)
	case sub == "join" && (len(args) == 4 || len(args) == 5):
		var since uint64
		if len(args) == 5 {
			n, err := strconv.ParseUint(string(args[4]), 10, 64)
			if err != nil || n == 0 {
				x.w.Error("ERR the member-since index must be a positive integer")
				return
			}
			since = n
		}
		replyErr(x, x.s.addMember(ctx, string(args[2]), string(args[3]), since))
	case sub == "remove" && len(args) == 3:
		replyErr(x, node.RemoveServer(ctx, string(args[2])))
	case sub == "transfer" && len(args) <= 3:
		id := ""
		if len(args) == 3 {
			id = string(args[2])
		}
		replyErr(x, node.TransferLeadership(id))
	case sub == "snapshot" && len(args) == 2:
		replyErr(x, node.Snapshot())
	case sub == "help":
		x.w.Array(1)
		x.w.Status("RAFT INFO | MEMBERS | LEADER | JOIN <id> <raft-addr> [<member-since-index>] | REMOVE <id> | TRANSFER [<id>] | SNAPSHOT")
	case sub == "info" || sub == "members" || sub == "leader" || sub == "join" || sub == "remove" || sub == "transfer" || sub == "snapshot":
		x.w.Error(fmt.Sprintf("ERR wrong number of arguments for 'raft|%s' command", sub))
	default:
		x.w.Error(fmt.Sprintf("ERR unknown subcommand '%.128s'. Try RAFT HELP.", args[1]))
	}
}

func replyErr(x *execCtx, err error) {
	if err != nil {
		x.w.Error(clusterError(err))
		return
	}
	x.w.OK()
}

// catchUpWait bounds how long one RAFT JOIN waits for a new non-voter to
// catch up before answering TRYAGAIN: the joining node asks again, and the
// forwarder that carried the request from a follower does not time out.
const catchUpWait = 5 * time.Second

// The phrases of RAFT JOIN's answers that the joining node (joinLoop)
// looks for: written and read through these constants only.
const (
	phraseCatchingUp = "and catching up"
	phraseSince      = "(member since index "
	phraseRemoved    = "was removed from the cluster after it joined"
)

// errCatchingUp is RAFT JOIN's answer while the node is a non-voter that
// has not yet applied what the leader had committed.
type errCatchingUp struct {
	id              string
	since           uint64 // a committed index at which it was a member, or 0
	applied, target uint64
	reached         bool // its applied index was read at least once
}

func (e *errCatchingUp) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is a non-voter", e.id)
	if e.since != 0 {
		fmt.Fprintf(&b, " %s%d)", phraseSince, e.since)
	}
	if !e.reached {
		fmt.Fprintf(&b, " %s (its applied index cannot be read yet); it becomes a voter once it has applied index %d", phraseCatchingUp, e.target)
	} else {
		fmt.Fprintf(&b, " %s (applied %d of %d); it becomes a voter once it has", phraseCatchingUp, e.applied, e.target)
	}
	return b.String()
}

// memberSince reads the "member since index" of an errCatchingUp that
// reached the joining node as a reply, or 0.
func memberSince(reply string) uint64 {
	_, rest, ok := strings.Cut(reply, phraseSince)
	if !ok {
		return 0
	}
	num, _, _ := strings.Cut(rest, ")")
	n, _ := strconv.ParseUint(num, 10, 64)
	return n
}

// addMember makes id at addr a voter in two steps: a non-voter first,
// which receives the log (a snapshot, then entries) but counts towards no
// quorum; then, once it has applied everything the leader had committed
// when it became one, a voter. Its latest configuration then names every
// voter of the cluster it joined, as any caught-up member's does (see
// replication.Node.AddNonvoter for what a voter with an empty log can
// wedge). A node that never catches up stays a non-voter, which costs the
// cluster nothing; RAFT REMOVE takes it out.
//
// Until it is a voter the answer is TRYAGAIN, naming a committed index at
// which the node was a member; the joining node asks again with it (since).
// A node asking with since that is no longer a member was removed after it
// joined, and is not added again: removing a node that is still catching up
// must not be undone by its own next request.
func (s *Server) addMember(ctx context.Context, id, addr string, since uint64) error {
	if since != 0 {
		srv, err := s.node.Member(id)
		if err != nil {
			return err
		}
		if srv == nil {
			return fmt.Errorf("%s %s (it was a member at index %d); it does not join again: start it with an empty --dir to add it anew", id, phraseRemoved, since)
		}
	}
	voter, err := s.node.AddNonvoter(ctx, id, addr)
	if err != nil || voter {
		return err
	}
	st := s.node.Status()
	e := &errCatchingUp{id: id, since: since, target: s.node.JoinTarget()}
	if e.since == 0 && st.ConfigIndex <= st.CommitIndex && slices.ContainsFunc(st.Members, func(m replication.Member) bool { return m.ID == id }) {
		e.since = st.CommitIndex // the configuration that has it is committed
	}
	if err := s.awaitPeerApplied(ctx, addr, e); err != nil {
		return err
	}
	return s.node.Promote(ctx, id, addr)
}

// awaitPeerApplied asks the node at the Raft address addr for its applied
// index (KVAPPLIED, through the forwarder's pooled peer connections, as a
// follower's HTTP front end asks the leader) every 50 ms until it reaches
// e.target, for at most catchUpWait; then it returns e, with the index it
// last read. There is no event to wait on: the leader's Raft does not
// expose how far a follower's log has got.
func (s *Server) awaitPeerApplied(ctx context.Context, addr string, e *errCatchingUp) error {
	ctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	ask := [][][]byte{{[]byte("kvapplied")}}
	for {
		actx, acancel := context.WithTimeout(ctx, time.Second)
		out, err := s.fwd.do(actx, addr, 0, 2, nil, "", [][]byte{nil}, ask)
		acancel()
		if err == nil {
			// Anything but an integer (LOADING, an error) means not yet.
			if v, _, err := parseRESP(out[0], 0); err == nil && v.kind == ':' {
				e.applied, e.reached = uint64(v.n), true
				if e.applied >= e.target {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return e
		case <-tick.C:
		}
	}
}

// joinNote is the file that says this node was told to join a cluster and
// has not yet been added to it.
func (s *Server) joinNote() string { return filepath.Join(s.cfg.Dir, "join-pending") }

// rememberJoin keeps, in the data directory, that this node was told to
// join through cfg.Join, until it is a member. A node killed before its
// join completed and started again without --join (as a restart of a
// member is) then goes on joining, instead of bootstrapping a one-node
// cluster of its own beside the real one (split brain: writes acknowledged
// by one cluster are absent from the other).
func (s *Server) rememberJoin() error {
	note := s.joinNote()
	b, err := os.ReadFile(note)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("server: read the join note: %w", err)
	}
	// The note: the address to join through, and on a second line the
	// committed index at which the leader reported this node a member.
	via, since, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	s.joinSince, _ = strconv.ParseUint(strings.TrimSpace(since), 10, 64)
	if s.cfg.Join != "" {
		if err := writeFileSync(note, joinNoteText(s.cfg.Join, s.joinSince)); err != nil {
			return fmt.Errorf("server: record the join: %w", err)
		}
		return nil
	}
	if via = strings.TrimSpace(via); via != "" {
		s.logger.Info("this node was told to join a cluster and is not a member yet: joining instead of bootstrapping", "via", via)
		s.cfg.Join = via
		s.cfg.Raft.Bootstrap = false
	}
	return nil
}

func joinNoteText(via string, since uint64) []byte {
	if since == 0 {
		return []byte(via)
	}
	return []byte(via + "\n" + strconv.FormatUint(since, 10))
}

// noteMemberSince adds to the join note the committed index at which the
// leader reported this node a member, so that a restart keeps it too.
func (s *Server) noteMemberSince(since uint64) {
	s.joinSince = since
	if err := writeFileSync(s.joinNote(), joinNoteText(s.cfg.Join, since)); err != nil {
		s.logger.Warn("cannot update the join note", "error", err)
	}
}

// writeFileSync writes a small file durably: a temporary file, fsynced,
// renamed over path, and the directory fsynced.
func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// joinLoop asks the member at Join to add this node as a voter, retrying
// until it succeeds (the leader answers TRYAGAIN while this node catches
// up as a non-voter) or the server stops. Joining is idempotent, so a
// restarted member asks again harmlessly. Once the leader has reported
// this node a member, it asks with that index: a node removed meanwhile
// is then refused, and stops asking, instead of being added again.
func (s *Server) joinLoop() {
	defer s.bg.Done()
	id, addr := s.node.ID(), s.node.RaftAddr()
	for attempt := 0; ; attempt++ {
		err := sendJoin(s.dialPeer, s.cfg.Join, id, addr, s.joinSince)
		switch {
		case err == nil:
			s.logger.Info("joined the cluster", "via", s.cfg.Join, "id", id, "raft-addr", addr)
			s.dropJoinNote()
			return
		case strings.Contains(err.Error(), phraseRemoved):
			s.logger.Error("removed from the cluster while joining: not asking again", "via", s.cfg.Join, "error", err)
			s.dropJoinNote()
			return
		case strings.Contains(err.Error(), phraseCatchingUp):
			s.logger.Info("joined as a non-voter; catching up before becoming a voter", "via", s.cfg.Join, "progress", err)
			if since := memberSince(err.Error()); since != 0 && s.joinSince == 0 {
				s.noteMemberSince(since)
			}
			attempt = 0 // progress, not failure: ask again soon
		default:
			s.logger.Warn("join failed, retrying", "via", s.cfg.Join, "error", err)
		}
		select {
		case <-s.stop:
			return
		case <-time.After(time.Duration(min(attempt+1, 10)) * 200 * time.Millisecond):
		}
	}
}

func (s *Server) dropJoinNote() {
	if err := os.Remove(s.joinNote()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.logger.Warn("cannot remove the join note", "error", err)
	}
}

func sendJoin(dial func(string, time.Duration) (net.Conn, error), target, id, raftAddr string, since uint64) error {
	c, err := dial(target, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(40 * time.Second))
	w := bufio.NewWriter(c)
	args := [][]byte{[]byte("RAFT"), []byte("JOIN"), []byte(id), []byte(raftAddr)}
	if since != 0 {
		args = append(args, strconv.AppendUint(nil, since, 10))
	}
	writeArray(w, nil, args)
	if err := w.Flush(); err != nil {
		return err
	}
	reply, err := readReply(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	if string(reply) != "+OK\r\n" {
		return fmt.Errorf("%s", strings.TrimSpace(string(reply)))
	}
	return nil
}
