package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// HTTPToken lets an HTTP request that presents it (Authorization: Bearer,
// or ?_token=) run as User, with User's permissions. Only a SHA-256 of
// the token is kept.
type HTTPToken struct {
	User string
	hash [32]byte
}

// NewHTTPToken returns a token for user ("default" for the default user).
func NewHTTPToken(user, token string) (HTTPToken, error) {
	if user == "" || strings.ContainsAny(user, " \t\r\n") {
		return HTTPToken{}, errors.New("a token's user name cannot be empty or contain spaces")
	}
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return HTTPToken{}, fmt.Errorf("the HTTP token of user %s cannot be empty or contain spaces", user)
	}
	return HTTPToken{User: user, hash: sha256.Sum256([]byte(token))}, nil
}

// isTokenLine reports whether a users-file line (its fields) is an HTTP
// token line, "token <user> <token>", rather than a user definition; a
// user named "token" is still defined by "token <permission> <password>".
func isTokenLine(f []string) bool {
	if len(f) == 0 || f[0] != "token" {
		return false
	}
	if len(f) < 2 {
		return true
	}
	_, err := ParsePerm(f[1])
	return err != nil
}

// ParseUserTokens returns the HTTP tokens of a users file: lines
// "token <user> <token>". ParseUsersFile skips these lines.
func ParseUserTokens(text string) ([]HTTPToken, error) {
	var tokens []HTTPToken
	for i, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if !isTokenLine(f) {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("users file line %d: want \"token user token\"", i+1)
		}
		t, err := NewHTTPToken(f[1], f[2])
		if err != nil {
			return nil, fmt.Errorf("users file line %d: %v", i+1, err)
		}
		tokens = append(tokens, t)
	}
	return tokens, nil
}

// checkHTTPTokens refuses tokens of unknown users and a token given twice.
func (s *Server) checkHTTPTokens() error {
	seen := map[[32]byte]bool{}
	for _, t := range s.cfg.HTTPTokens {
		if _, ok := s.userByName(t.User); !ok {
			return fmt.Errorf("server: HTTP token for unknown user %q", t.User)
		}
		if seen[t.hash] {
			return fmt.Errorf("server: the same HTTP token is given twice (user %s)", t.User)
		}
		seen[t.hash] = true
	}
	return nil
}

// httpTokenUser returns the user whose token tok is. Every configured
// token is compared, in constant time, whatever matches.
func (s *Server) httpTokenUser(tok string) (string, bool) {
	h := sha256.Sum256([]byte(tok))
	user, found := "", 0
	for _, t := range s.cfg.HTTPTokens {
		match := subtle.ConstantTimeCompare(h[:], t.hash[:])
		if match == 1 && found == 0 {
			user = t.User
		}
		found |= match
	}
	return user, found == 1
}

// requestToken returns the token of a request: Authorization: Bearer, or
// the _token query parameter.
func requestToken(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, ok := strings.Cut(a, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	return r.URL.Query().Get("_token")
}

// httpSession authenticates a request and returns its session, or the
// HTTP status and error to answer with:
//   - with tokens configured, the request needs one of them (401 without)
//     and runs as its user, with that user's ACL;
//   - with none, HTTP is open as RESP is while the default user needs no
//     password: as the default user, from loopback only in protected mode;
//   - with a default-user password but no token, nothing logs in.
func (s *Server) httpSession(r *http.Request) (*connState, int, string) {
	name := "default"
	switch {
	case len(s.cfg.HTTPTokens) > 0:
		var ok bool
		if name, ok = s.httpTokenUser(requestToken(r)); !ok {
			return nil, http.StatusUnauthorized, "Unauthorized"
		}
	case !s.startsAuthed():
		return nil, http.StatusUnauthorized, "Unauthorized"
	case s.protectedRefuses(r.RemoteAddr):
		s.stats.rejected.Add(1)
		return nil, http.StatusForbidden, protectedDenied
	}
	u, ok := s.userByName(name)
	if !ok {
		return nil, http.StatusUnauthorized, "Unauthorized"
	}
	c := &httpConn{remote: r.RemoteAddr}
	st := newConnState(s.nextID.Add(1), c)
	c.SetContext(st)
	s.setConnUser(st, u)
	return st, 0, ""
}

// httpCommands are the internal commands of the HTTP front end.
func httpCommands() []*command {
	return []*command{
		{name: "kvapplied", arity: 1, flags: flagInternal | flagFast, group: "server", summary: "Returns this node's applied Raft index (peers only: a follower's HTTP front end asks the leader for its sync token).", since: "keepkv", local: cmdKVApplied},
	}
}

func cmdKVApplied(x *execCtx, _ [][]byte) {
	x.w.Int(int64(x.s.db.AppliedIndex()))
}
