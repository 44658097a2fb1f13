package server

import (
	"sync"
	"time"

	"github.com/keepkv/keepkv/storage"
	"github.com/tidwall/redcon"
)

// connState is one client connection's state, kept in redcon's Context.
type connState struct {
	// writeBuf is the pipeline's write queue, kept between pipelines so a
	// busy connection does not grow a new one for each.
	writeBuf []pendingWrite
	// readBuf is the same for the pipeline's read queue.
	readBuf []pendingRead

	id      uint64
	addr    string
	laddr   string
	created time.Time

	// Owned by the connection's goroutine.
	w        replyWriter  // handlers' replies, encoded by enc
	enc      *respEncoder // RESP2 or RESP3, per HELLO
	conn     redcon.Conn
	authed   bool
	acl      *aclUser // the user's rules as of aclGen (Server.connUser)
	aclGen   uint64
	execACL  string // in an EXEC's apply: the rules its scripts run with ("": unlimited)
	readonly bool
	quit     bool
	internal bool           // arrived on the Raft port: a peer node
	multi    *multiState    // inside MULTI
	sub      *subscriber    // Pub/Sub subscriptions and delivery
	tracking *trackingState // CLIENT TRACKING
	origin   []byte         // names this client in log entries (clientOrigin)
	// wantDetach: the connection subscribed and leaves redcon's loop at the
	// end of this pipeline (serveSubscriber); detached: it has.
	wantDetach, detached bool
	watches              []storage.WatchMark // WATCHed keys, for the next EXEC

	mu      sync.Mutex // guards what CLIENT LIST reads from other goroutines
	db      uint8
	resp    int
	name    string
	user    string
	libName string
	libVer  string
	lastCmd string
	lastAt  time.Time
	pushSub *subscriber // sub, for other goroutines (a tracking redirect)

	// adm is the state of CLIENT REPLY/PAUSE/KILL/NO-EVICT/NO-TOUCH,
	// MONITOR and CLIENT LIST's mirrors (client_hook.go); its own comments
	// say which goroutine owns each field.
	adm connAdmin
}

func newConnState(id uint64, c redcon.Conn) *connState {
	st := &connState{id: id, addr: c.RemoteAddr(), created: time.Now(), resp: 2, lastAt: time.Now(), user: "default"}
	if nc := c.NetConn(); nc != nil {
		st.laddr = nc.LocalAddr().String()
	}
	st.conn = c
	st.w, st.enc = newRESPWriter(c)
	return st
}

func (st *connState) setDB(db uint8) {
	st.mu.Lock()
	st.db = db
	st.mu.Unlock()
}

func (st *connState) setResp(v int) {
	st.mu.Lock()
	st.resp = v
	st.mu.Unlock()
	st.enc.v3 = v == 3
}

func (st *connState) touch(cmd string) { st.touchAt(cmd, time.Now()) }

// touchAt records cmd, run at at, for CLIENT LIST's cmd and idle.
func (st *connState) touchAt(cmd string, at time.Time) {
	st.mu.Lock()
	st.lastCmd, st.lastAt = cmd, at
	st.mu.Unlock()
}
