package server

import (
	"fmt"
	"strings"
)

func debugCommands() []*command {
	return []*command{
		{name: "debug", arity: -2, flags: flagAdmin, group: "server",
			summary: "DEBUG DIGEST: a digest of this node's whole state (checkpointed), to compare nodes.",
			since:   "1.0.0", local: cmdDebug},
	}
}

func cmdDebug(x *execCtx, args [][]byte) {
	switch sub := strings.ToLower(string(args[1])); {
	case sub == "digest" && len(args) == 2:
		d, err := x.s.db.Digest()
		if err != nil {
			x.w.Error(clusterError(err))
			return
		}
		x.w.Status(d)
	default:
		x.w.Error(fmt.Sprintf("ERR unknown subcommand '%.128s'. Try DEBUG HELP.", args[1]))
	}
}
