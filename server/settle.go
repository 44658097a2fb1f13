package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keepkv/keepkv/replication"
	"github.com/keepkv/keepkv/storage"
)

// When this node leads and steps down with its own clients' writes in
// flight, Raft fails them with "leadership lost" (maybe applied, maybe
// not) or "not leader" (never appended). The clients are connected to a
// node that is still up, so, as for a follower's forwarded writes (route.go),
// they do not hear of it: settle learns each write's fate from the log
// (replication.Node.Settle) and answers with its real results, or, when it
// never reached the committed log, sends the entry again — proposed here if
// this node leads again, else to the leader as FWDENTRY — with a request
// id per command, so that however often it goes, it applies once. Only
// when neither works within --leader-wait does the client hear the
// TRYAGAIN it would have heard before.

// proposeSettled proposes one entry for a local client and waits for its
// results, settling it if this node's leadership ends under it.
func (s *Server) proposeSettled(ctx context.Context, entry []byte) ([]storage.Result, error) {
	prop := s.node.Propose(ctx, entry)
	res, err := prop.Wait()
	if err != nil {
		return s.settle(prop, err, entry)
	}
	return res, nil
}

// settle answers a local client's write whose proposal failed with werr.
func (s *Server) settle(prop *replication.Proposal, werr error, entry []byte) ([]storage.Result, error) {
	if !errors.Is(werr, replication.ErrUnknownOutcome) && !errors.Is(werr, replication.ErrNotLeader) {
		return nil, werr
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Raft.LeaderWait)
	defer cancel()
	res, applied, err := s.node.Settle(ctx, prop, werr)
	switch {
	case err != nil:
		s.metrics.settledN("unknown")
		return nil, werr
	case applied:
		s.metrics.settledN("applied")
		return res, nil
	}
	e, err := storage.DecodeEntry(entry)
	if err != nil { // this node encoded it: not expected
		s.metrics.settledN("unknown")
		return nil, werr
	}
	e.Reqs = make([][]byte, len(e.Cmds))
	for i := range e.Reqs {
		e.Reqs[i] = s.newRequestID()
	}
	res, err = s.resend(ctx, &e)
	if err != nil {
		s.metrics.settledN("unknown")
		return nil, werr
	}
	s.metrics.settledN("resent")
	return res, nil
}

// resend proposes e, which carries request ids, through whichever node
// leads, until it is applied or ctx ends.
func (s *Server) resend(ctx context.Context, e *storage.Entry) ([]storage.Result, error) {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(50 * time.Millisecond): // an election takes time: pace the attempts
			}
		}
		if s.node.IsLeader() {
			e.Now = replication.Now()
			res, err := s.node.Propose(ctx, e.Encode()).Wait()
			if err == nil {
				return res, nil
			}
			continue // the request ids make another attempt safe
		}
		addr, err := s.node.LeaderAddr(ctx)
		if err != nil {
			continue
		}
		reply, err := s.fwd.doEntry(ctx, addr, e.Encode())
		if err != nil || retryable([][]byte{reply}) {
			continue
		}
		if len(reply) > 0 && reply[0] == '-' {
			return nil, errors.New(string(bytes.TrimSpace(reply[1:])))
		}
		if len(reply) == 0 || reply[0] != '$' {
			return nil, fmt.Errorf("unexpected FWDENTRY reply %q", reply)
		}
		i := bytes.IndexByte(reply, '\n')
		return storage.DecodeResults(reply[i+1 : len(reply)-2])
	}
}

// doEntry sends FWDENTRY <entry> and returns the raw reply.
func (f *forwarder) doEntry(ctx context.Context, addr string, entry []byte) ([]byte, error) {
	out, err := f.exchange(ctx, addr, 1, func(w *bufio.Writer) {
		writeArray(w, [][]byte{[]byte("FWDENTRY"), entry}, nil)
	})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// runEntry runs FWDENTRY <entry> from a peer settling a write it had
// proposed as leader (see above): the leader proposes the entry, stamped
// with its own clock, and answers with its results (storage.EncodeResults)
// or with why not. Every command must carry a request id.
func (p *pipeline) runEntry(args [][]byte) {
	p.flushWrites()
	p.flushForward()
	p.flushReads()
	e, ok := fwdEntry(args)
	if !ok {
		p.st.w.Error("ERR malformed FWDENTRY")
		return
	}
	if !p.s.node.IsLeader() {
		p.st.w.Error(clusterError(replication.ErrNotLeader))
		return
	}
	e.Now = replication.Now()
	ctx, cancel := context.WithTimeout(p.s.ctx, p.s.cfg.Raft.LeaderWait)
	defer cancel()
	res, err := p.s.node.Propose(ctx, e.Encode()).Wait()
	if err != nil {
		p.st.w.Error(clusterError(err))
		return
	}
	p.st.w.Bulk(storage.EncodeResults(res))
}

// fwdEntry decodes FWDENTRY's argument: an entry of at least one command,
// each with a request id.
func fwdEntry(args [][]byte) (storage.Entry, bool) {
	if len(args) != 2 {
		return storage.Entry{}, false
	}
	e, err := storage.DecodeEntry(args[1])
	if err != nil || len(e.Cmds) == 0 || len(e.Reqs) != len(e.Cmds) || slices.ContainsFunc(e.Reqs, func(r []byte) bool { return len(r) == 0 }) {
		return storage.Entry{}, false
	}
	return e, true
}
