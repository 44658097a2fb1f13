package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The HTTP front end speaks Upstash's REST protocol, so @upstash/redis
// (and anything else written for Upstash) works against keepkv unchanged:
//
//   - POST / with a JSON array command: ["SET","k","v","EX",604800];
//   - POST /pipeline with an array of such arrays: one 200 response with a
//     {"result":…} or {"error":…} per command;
//   - POST /multi-exec, the same run atomically (MULTI … EXEC: one log
//     entry), or one {"error":…} when the transaction is discarded;
//   - path style: GET/POST/PUT/HEAD /set/k/v/EX/100 (URL-decoded segments;
//     a POST body is appended as the last argument, then the query
//     parameters other than _token as name, value pairs).
//
// Each request runs through the same pipeline as a RESP connection (a
// connState whose redcon.Conn collects the RESP2 replies in memory), so
// forwarding to the leader, batching, permissions, MULTI and limits are
// the RESP front end's; the replies are then converted to JSON.

// httpFront is the HTTP listener and its server.
type httpFront struct {
	ln     net.Listener
	srv    *http.Server
	served chan error
}

// serveHTTP starts the HTTP front end when HTTPAddr is set.
func (s *Server) serveHTTP() error {
	if s.cfg.HTTPAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("server: listen %s: %w", s.cfg.HTTPAddr, err)
	}
	addr := ln.Addr().String()
	ln = newConnLimit(ln, s.cfg.MaxClients)
	if s.cfg.HTTPTLS != nil {
		conf := s.cfg.HTTPTLS.Clone()
		conf.NextProtos = []string{"http/1.1"}
		ln = tls.NewListener(ln, conf)
	}
	// The operational routes are the mux's; every other path is a REST
	// command, served as it is: not through the mux, which would redirect
	// a path with empty or dot segments (a key "a//b" or "..") to its
	// cleaned form.
	mux := http.NewServeMux()
	s.opsRoutes(mux)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		s.serveREST(w, r)
	})
	idle := s.cfg.IdleTimeout
	if idle == 0 {
		idle = 2 * time.Minute
	}
	h := &httpFront{ln: ln, served: make(chan error, 1), srv: &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.cfg.ClientWriteTimeout,
		IdleTimeout:       idle,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          log.New(io.Discard, "", 0),
		ConnState: func(_ net.Conn, cs http.ConnState) { // keepkv_connected_clients{frontend="http"}
			switch cs {
			case http.StateNew:
				s.metrics.httpClients.Add(1)
			case http.StateClosed, http.StateHijacked:
				s.metrics.httpClients.Add(-1)
			}
		},
	}}
	s.http = h
	go func() { h.served <- h.srv.Serve(ln) }()
	scheme := "http"
	if s.cfg.HTTPTLS != nil {
		scheme = "https"
	}
	s.logger.Info("serving HTTP (Upstash REST API)", "addr", addr, "scheme", scheme)
	return nil
}

// HTTPAddr returns the HTTP listener's address, or nil.
func (s *Server) HTTPAddr() net.Addr {
	if s.http == nil {
		return nil
	}
	return s.http.ln.Addr()
}

// closeHTTP stops the HTTP front end: no new requests, and requests in
// flight get a few seconds to finish before their connections are closed.
func (s *Server) closeHTTP() {
	if s.http == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.http.srv.Shutdown(ctx); err != nil {
		s.http.srv.Close()
	}
	<-s.http.served
}

// connLimit bounds concurrent HTTP connections, as MaxClients does RESP's.
type connLimit struct {
	net.Listener
	sem chan struct{}
}

func newConnLimit(ln net.Listener, n int) net.Listener {
	return &connLimit{Listener: ln, sem: make(chan struct{}, n)}
}

func (l *connLimit) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// Upstash's headers.
const (
	hdrEncoding  = "Upstash-Encoding"
	hdrSyncToken = "Upstash-Sync-Token"
)

// httpReq is one REST request being served.
type httpReq struct {
	s      *Server
	st     *connState
	conn   *httpConn
	b64    bool // Upstash-Encoding: base64
	synced uint64
}

func (s *Server) serveREST(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodHead:
	default:
		w.Header().Set("Allow", "GET, POST, PUT, HEAD")
		writeJSONError(w, http.StatusMethodNotAllowed, "ERR method not allowed")
		return
	}
	st, status, msg := s.httpSession(r)
	if st == nil {
		writeJSONError(w, status, msg)
		return
	}
	if !s.awaitSyncToken(w, r) {
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	q := &httpReq{s: s, st: st, conn: st.conn.(*httpConn), b64: strings.EqualFold(r.Header.Get(hdrEncoding), "base64")}
	switch r.URL.Path {
	case "/", "":
		args, err := parseJSONCommand(body, s.cfg.Limits)
		if err != "" {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
		q.single(w, args)
	case "/pipeline", "/multi-exec":
		cmds, err := parseJSONCommands(body, s.cfg.Limits)
		if err != "" {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
		if r.URL.Path == "/pipeline" {
			q.pipeline(w, cmds)
		} else {
			q.multiExec(w, cmds)
		}
	default:
		args, err := pathCommand(r, body, s.cfg.Limits)
		if err != "" {
			writeJSONError(w, http.StatusBadRequest, err)
			return
		}
		q.single(w, args)
	}
}

// readBody reads the request body, bounded like a RESP bulk string.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	limit := s.cfg.Limits.MaxBulkLen
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeJSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("ERR max request size exceeded. Limit: %d bytes", limit))
		} else {
			writeJSONError(w, http.StatusBadRequest, "ERR could not read the request body: "+err.Error())
		}
		return nil, false
	}
	return body, true
}

// awaitSyncToken makes a request that carries Upstash-Sync-Token (the
// applied index a previous response reported) wait, within the leader
// wait, until this node has applied that index: read-your-writes across
// nodes. A token that is not ours (not a number) is ignored.
func (s *Server) awaitSyncToken(w http.ResponseWriter, r *http.Request) bool {
	tok := r.Header.Get(hdrSyncToken)
	if tok == "" {
		return true
	}
	idx, err := strconv.ParseUint(tok, 10, 64)
	if err != nil || s.db.AppliedIndex() >= idx {
		return true
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Raft.LeaderWait)
	defer cancel()
	if err := s.node.WaitApplied(ctx, idx); err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, fmt.Sprintf("TRYAGAIN this node has not applied index %d (the sync token) within %s", idx, s.cfg.Raft.LeaderWait))
		return false
	}
	return true
}

// run runs cmds as one pipeline and returns their RESP2 replies. On a
// node that forwarded any of them to the leader, it also learns the
// leader's applied index afterwards (kvapplied), for the sync token.
func (q *httpReq) run(cmds [][][]byte) []byte {
	p := pipeline{s: q.s, st: q.st}
	forwarded := false
	for _, args := range cmds {
		if q.st.closing() { // the server is shutting down (a CLIENT PAUSE gave up)
			break
		}
		p.run(args)
		if len(p.fwd) > 0 {
			forwarded = true
		}
		if len(p.reads) >= maxQueuedReads {
			p.flushReads()
		}
		if len(p.writes) >= 4*maxEntryCmds {
			p.flushWrites()
		}
	}
	p.flushWrites()
	p.flushReads()
	mark := -1
	if forwarded {
		p.flushForward()
		mark = len(q.conn.buf)
		p.fwd = append(p.fwd, [][]byte{[]byte("kvapplied")})
	}
	p.flushForward()
	q.synced = q.s.db.AppliedIndex()
	out := q.conn.buf
	if mark >= 0 {
		if v, _, err := parseRESP(out[mark:], 0); err == nil && v.kind == ':' && uint64(v.n) > q.synced {
			q.synced = uint64(v.n)
		}
		out = out[:mark]
	}
	return out
}

// header sets the response headers and, as for a RESP client, bounds how
// long the client may take to read the response.
func (q *httpReq) header(w http.ResponseWriter) {
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(q.s.cfg.ClientWriteTimeout))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(hdrSyncToken, strconv.FormatUint(q.synced, 10))
}

// single serves POST / and the path style: 200 {"result":…}, or 400
// {"error":…} when the command fails.
func (q *httpReq) single(w http.ResponseWriter, args [][]byte) {
	if msg := httpRefuses(args); msg != "" {
		q.synced = q.s.db.AppliedIndex()
		q.header(w)
		writeJSONError(w, http.StatusBadRequest, msg)
		return
	}
	out := q.run([][][]byte{args})
	v, _, err := parseRESP(out, 0)
	q.header(w)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "ERR internal error: "+err.Error())
		return
	}
	if v.kind == '-' {
		writeJSONError(w, http.StatusBadRequest, string(v.str))
		return
	}
	b := append(make([]byte, 0, len(out)+16), `{"result":`...)
	b = q.appendJSON(b, v, 0)
	w.WriteHeader(http.StatusOK)
	w.Write(append(b, '}'))
}

// pipeline serves POST /pipeline: every command runs, in order, and the
// response lists each one's result or error.
func (q *httpReq) pipeline(w http.ResponseWriter, cmds [][][]byte) {
	refused := make([]string, len(cmds))
	run := make([][][]byte, 0, len(cmds))
	for i, args := range cmds {
		if refused[i] = httpRefuses(args); refused[i] == "" {
			run = append(run, args)
		}
	}
	out := q.run(run)
	b := append(make([]byte, 0, len(out)+16*len(cmds)), '[')
	for i := range cmds {
		if i > 0 {
			b = append(b, ',')
		}
		if refused[i] != "" {
			b = appendErrorObject(b, refused[i])
			continue
		}
		v, rest, err := parseRESP(out, 0)
		if err != nil {
			b = appendErrorObject(b, "ERR internal error: "+err.Error())
			continue
		}
		out = rest
		b = q.appendResultObject(b, v)
	}
	q.header(w)
	w.WriteHeader(http.StatusOK)
	w.Write(append(b, ']'))
}

// multiExec serves POST /multi-exec: MULTI, the commands, EXEC on this
// request's session, so the transaction is one log entry like a RESP
// client's. A command refused before EXEC discards the whole transaction.
func (q *httpReq) multiExec(w http.ResponseWriter, cmds [][][]byte) {
	for _, args := range cmds {
		if msg := httpRefuses(args); msg != "" {
			q.synced = q.s.db.AppliedIndex()
			q.header(w)
			writeJSONError(w, http.StatusBadRequest, msg)
			return
		}
	}
	all := make([][][]byte, 0, len(cmds)+2)
	all = append(all, [][]byte{[]byte("MULTI")})
	all = append(all, cmds...)
	all = append(all, [][]byte{[]byte("EXEC")})
	out := q.run(all)
	q.header(w)
	var queueErr string
	for range len(cmds) + 1 { // MULTI's +OK, then +QUEUED or an error each
		v, rest, err := parseRESP(out, 0)
		if err != nil {
			writeJSONError(w, http.StatusInternalServerError, "ERR internal error: "+err.Error())
			return
		}
		out = rest
		if v.kind == '-' && queueErr == "" {
			queueErr = string(v.str)
		}
	}
	exec, _, err := parseRESP(out, 0)
	switch {
	case err != nil:
		writeJSONError(w, http.StatusInternalServerError, "ERR internal error: "+err.Error())
		return
	case queueErr != "":
		writeJSONError(w, http.StatusBadRequest, queueErr)
		return
	case exec.kind == '-':
		writeJSONError(w, http.StatusBadRequest, string(exec.str))
		return
	case exec.kind != '*' || exec.null:
		writeJSONError(w, http.StatusBadRequest, "EXECABORT Transaction discarded")
		return
	}
	b := append(make([]byte, 0, len(out)+16*len(cmds)), '[')
	for i, e := range exec.elems {
		if i > 0 {
			b = append(b, ',')
		}
		b = q.appendResultObject(b, e)
	}
	w.WriteHeader(http.StatusOK)
	w.Write(append(b, ']'))
}

func (q *httpReq) appendResultObject(b []byte, v respValue) []byte {
	if v.kind == '-' {
		return appendErrorObject(b, string(v.str))
	}
	b = append(b, `{"result":`...)
	b = q.appendJSON(b, v, 0)
	return append(b, '}')
}

func appendErrorObject(b []byte, msg string) []byte {
	b = append(b, `{"error":`...)
	b = appendJSONString(b, []byte(msg))
	return append(b, '}')
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(appendErrorObject(nil, msg))
}

// httpRefuses returns the error for a command that makes no sense over
// stateless HTTP, as Upstash refuses them: connection commands but PING
// and ECHO, subscriptions, MONITOR, WATCH and MULTI/EXEC themselves (use
// /multi-exec), and the blocking commands.
func httpRefuses(args [][]byte) string {
	name := strings.ToLower(string(args[0]))
	if httpRefused[name] {
		return fmt.Sprintf("ERR Command is not available over HTTP: '%.128s'", args[0])
	}
	return ""
}

var httpRefused = map[string]bool{
	"auth": true, "client": true, "hello": true, "quit": true, "reset": true, "select": true,
	"readonly": true, "readwrite": true,
	"subscribe": true, "psubscribe": true, "ssubscribe": true, "unsubscribe": true, "punsubscribe": true, "sunsubscribe": true,
	"monitor": true,
	"multi":   true, "exec": true, "discard": true, "watch": true, "unwatch": true,
	"blpop": true, "brpop": true, "blmove": true, "brpoplpush": true, "bzpopmin": true, "bzpopmax": true,
}

// pathCommand builds the command of a path-style request: the URL's
// segments, URL-decoded; a body (POST, PUT) as the last argument; then the
// query parameters but _token, in order, as name and value.
func pathCommand(r *http.Request, body []byte, lim Limits) ([][]byte, string) {
	var args [][]byte
	for _, seg := range strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/") {
		a, err := url.PathUnescape(seg)
		if err != nil {
			return nil, "ERR invalid URL path: " + err.Error()
		}
		args = append(args, []byte(a))
	}
	if len(body) > 0 {
		args = append(args, body)
	}
	for _, kv := range strings.Split(r.URL.RawQuery, "&") {
		if kv == "" {
			continue
		}
		k, v, hasV := strings.Cut(kv, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, "ERR invalid URL query"
		}
		if k == "_token" {
			continue
		}
		args = append(args, []byte(k))
		if hasV && v != "" {
			args = append(args, []byte(v))
		}
	}
	if len(args) == 0 || len(args[0]) == 0 {
		return nil, "ERR empty command"
	}
	if int64(len(args)) > lim.MaxMultibulk {
		return nil, "ERR Protocol error: invalid multibulk length"
	}
	return args, ""
}
