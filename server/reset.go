package server

// RESET, as Redis 7.0: the connection goes back to the state of a new
// one, and the reply is +RESET (in RESP2, since RESET switches back to it).

func resetCommands() []*command {
	return []*command{
		{name: "reset", arity: 1, flags: flagNoAuth | flagFast, group: "connection", summary: "Resets the connection.", since: "6.2.0", local: cmdReset},
	}
}

func cmdReset(x *execCtx, _ [][]byte) {
	x.st.reset(x.s)
	x.w.Status("RESET")
}

// reset clears the connection's state as Redis's clearClientConnectionState:
// it stops monitoring, discards a MULTI and forgets WATCHed keys, turns
// replies back on (CLIENT REPLY ON), turns tracking off, leaves every
// subscription, goes back to database 0, RESP2 and READWRITE, forgets the
// client name and logs in as the default user again (still authenticated
// if the default user has no password, as Redis's nopass default). As in
// Redis 7.0, CLIENT NO-EVICT (and keepkv's NO-TOUCH) and the CLIENT
// SETINFO library name and version are kept. It runs on the connection's
// goroutine.
func (st *connState) reset(s *Server) {
	st.adm.replyOff, st.adm.skipNext = false, false
	st.adm.unmute(st)
	s.stopMonitor(st)
	st.multi = nil
	st.watches = nil

	// ---- Pub/Sub and tracking teardown (pubsub.go, tracking.go) ----
	s.unsubscribeAll(st)
	s.stopTracking(st)
	// ---- end of Pub/Sub and tracking teardown ----

	st.readonly = false
	st.setDB(0)
	st.setResp(2)
	st.authed = false
	st.acl = nil
	st.mu.Lock()
	st.user = "default"
	st.name = ""
	st.mu.Unlock()
	if s.startsAuthed() {
		s.setConnUser(st, s.acl.get("default"))
	}
}
