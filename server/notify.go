package server

import (
	"context"

	"github.com/keepkv/keepkv/replication"
	"github.com/keepkv/keepkv/storage"
)

// Replicated settings: notify-keyspace-events lives in the replicated state
// (storage's OpConfigSet), so every node, and a new leader, emits the same
// keyspace events for the same entries.

// setReplicatedConfig proposes CONFIG SET name value for a replicated
// parameter (on a follower, through the leader) and returns the error
// reply, or "" once it is applied here.
func (x *execCtx) setReplicatedConfig(args [][]byte, name, value string) string {
	if name == storage.ConfigNotify {
		f, ok := storage.ParseNotifyFlags(value)
		if !ok {
			return "ERR Invalid argument '" + value + "' for CONFIG SET '" + name + "'"
		}
		value = f.String()
	}
	if !x.s.node.IsLeader() && !x.st.internal {
		raw, e := x.s.forwardOne(context.Background(), x.st, args)
		if e != "" {
			return e
		}
		if len(raw) > 0 && raw[0] == '-' {
			return string(raw[1 : len(raw)-2])
		}
		// Applied on the leader; wait until this node has applied it too,
		// so a CONFIG GET here reads it.
		ctx, cancel := context.WithTimeout(context.Background(), x.s.cfg.Raft.LeaderWait)
		defer cancel()
		if err := x.s.node.WaitApplied(ctx, x.s.node.Raft().CommitIndex()); err != nil {
			return clusterError(err)
		}
		return ""
	}
	e := storage.Entry{Now: replication.Now(), Cmds: []storage.Cmd{{Op: storage.OpConfigSet, Keys: [][]byte{[]byte(name)}, Vals: [][]byte{[]byte(value)}}}}
	res, err := x.s.proposeSettled(context.Background(), e.Encode())
	switch {
	case err != nil:
		return clusterError(err)
	case len(res) != 1:
		return "ERR unexpected result from the log"
	case res[0].Kind == storage.ResultErr:
		return storageError(res[0].Err)
	}
	return ""
}

// replicatedConfigValue returns a replicated parameter's applied value.
func (s *Server) replicatedConfigValue(name string) string {
	var v []byte
	_ = s.db.View(func(r *storage.Reader) error { v = r.Config(name); return nil })
	return string(v)
}
