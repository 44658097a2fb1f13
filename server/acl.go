package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keepkv/keepkv/replication"
	"github.com/keepkv/keepkv/storage"
)

// Users and ACLs (Redis 6+): ACL SETUSER, DELUSER, GETUSER, LIST, ...
// with Redis's rule syntax (acl_user.go) and checks (acl_check.go).
//
// The users are replicated state: each is a sys entry "u" ‖ name holding
// its rules (aclUser.rules), changed only through the log, so every node
// and every new leader enforce the same users. ACL SETUSER and DELUSER
// travel as a one-command OpExec whose command is re-run in apply against
// the users as applied at that point of the log (so two SETUSERs of one
// user, in flight together, both count); ACL LOAD replaces every user.
//
// Precedence: --users-file and --requirepass are the bootstrap source.
// While the log holds no users, a node enforces them as configured; the
// first leader seeds them into the log once (a conditional entry that does
// nothing if users exist). After that the log is authoritative: a changed
// file is read again only by ACL LOAD, and ACL SAVE writes the users back
// to it. --requirepass stays a guarantee: a leader whose default user
// does not accept it adds it (so it never runs passwordless by mistake).

// Perm is one of the three fixed permissions of the old users-file format
// ("name ro|rw|admin password"), kept as shorthands for rule sets.
type Perm uint8

// Permissions, each including the ones before it.
const (
	PermRead  Perm = iota + 1 // reads and connection commands
	PermWrite                 // and writes
	PermAdmin                 // and administrative commands
)

func (p Perm) String() string {
	switch p {
	case PermRead:
		return "ro"
	case PermWrite:
		return "rw"
	case PermAdmin:
		return "admin"
	}
	return "none"
}

// rules returns the ACL rules a fixed permission stands for.
func (p Perm) rules() []string {
	switch p {
	case PermAdmin:
		return []string{"~*", "&*", "+@all"}
	case PermWrite:
		return []string{"~*", "&*", "-@all", "+@read", "+@write", "+@connection", "+@transaction", "+@pubsub", "+@scripting", "-@admin", "-@dangerous", "+acl|whoami"}
	}
	return []string{"~*", "&*", "-@all", "+@read", "+@connection", "+@transaction", "+@pubsub", "-@admin", "-@dangerous", "+acl|whoami"}
}

// ParsePerm parses "ro", "rw" or "admin".
func ParsePerm(s string) (Perm, error) {
	switch strings.ToLower(s) {
	case "ro", "read", "readonly":
		return PermRead, nil
	case "rw", "readwrite":
		return PermWrite, nil
	case "admin":
		return PermAdmin, nil
	}
	return 0, fmt.Errorf("unknown permission %q (want ro, rw or admin)", s)
}

// User is a user of the bootstrap configuration (--users-file): a name
// and the ACL SETUSER rules that define it. Passwords appear only as
// SHA-256 digests (#hex).
type User struct {
	Name  string
	Perm  Perm     // for a "name perm password" line; 0 for a "user" line
	Rules []string // ACL rules, e.g. "on" "#…" "~*" "+@all"
}

// NewUser returns a user of the old format: a password and a fixed
// permission.
func NewUser(name, password string, perm Perm) (User, error) {
	if name == "" || hasSpace(name) || len(name) >= storage.MaxKeyLen {
		return User{}, errors.New("user names cannot be empty, too long or contain spaces")
	}
	if name == "default" {
		return User{}, errors.New(`the "default" user is configured with --requirepass or a "user default ..." line`)
	}
	if password == "" {
		return User{}, fmt.Errorf("user %s needs a password", name)
	}
	rules := append([]string{"on", "#" + hashPassword(password)}, perm.rules()...)
	return User{Name: name, Perm: perm, Rules: rules}, nil
}

// ParseUsersFile parses a users file. A line is either Redis's ACL file
// format, "user <name> <rule> <rule>...", or keepkv's older
// "<name> ro|rw|admin <password>" (the password is the rest of the line).
// Blank lines and lines starting with # are skipped, and so are HTTP
// token lines ("token <user> <token>", ParseUserTokens).
func ParseUsersFile(text string) ([]User, error) {
	var users []User
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if isTokenLine(f) { // "token <user> <token>": ParseUserTokens (http_auth.go)
			continue
		}
		var u User
		if f[0] == "user" {
			if len(f) < 2 {
				return nil, fmt.Errorf("users file line %d: should start with user keyword followed by the username", i+1)
			}
			u = User{Name: f[1], Rules: f[2:]}
			if len(u.Name) >= storage.MaxKeyLen {
				return nil, fmt.Errorf("users file line %d: user name too long", i+1)
			}
			if _, msg := parseACLUser(u.Name, u.Rules); msg != "" {
				return nil, fmt.Errorf("users file line %d: %s", i+1, strings.TrimPrefix(msg, "ERR "))
			}
		} else {
			if len(f) < 3 {
				return nil, fmt.Errorf("users file line %d: want \"user name rules...\" or \"name permission password\"", i+1)
			}
			perm, err := ParsePerm(f[1])
			if err != nil {
				return nil, fmt.Errorf("users file line %d: %v", i+1, err)
			}
			pw := strings.TrimSpace(strings.SplitN(line, f[1], 2)[1])
			if u, err = NewUser(f[0], pw, perm); err != nil {
				return nil, fmt.Errorf("users file line %d: %v", i+1, err)
			}
		}
		if seen[u.Name] {
			return nil, fmt.Errorf("users file line %d: user %s defined twice", i+1, u.Name)
		}
		seen[u.Name] = true
		users = append(users, u)
	}
	return users, nil
}

// bootstrapUsers builds the users of the configuration: the default user
// (Redis's, or a "user default" line), the file's users, and
// --requirepass as a password of the default user.
func bootstrapUsers(cfgUsers []User, password string) map[string]*aclUser {
	users := map[string]*aclUser{"default": defaultACLUser()}
	for _, cu := range cfgUsers {
		u := newACLUser(cu.Name)
		if cu.Name == "default" {
			_ = u.setRule("reset")
		}
		for _, r := range cu.Rules {
			_ = u.setRule(r) // checked by ParseUsersFile
		}
		users[cu.Name] = u
	}
	if password != "" {
		_ = users["default"].setRule(">" + password)
	}
	return users
}

// aclRegistry holds the users connections are checked against: the
// replicated ones once the log has any, the bootstrap ones before.
type aclRegistry struct {
	mu     sync.RWMutex
	users  map[string]*aclUser
	seeded bool // users come from the log
	boot   map[string]*aclUser
	gen    atomic.Uint64 // bumped on every change: connections look their user up again

	log aclLog

	rulesMu    sync.Mutex
	rulesCache map[string]*aclUser // rules text → user, for scripts in apply
}

func newACLRegistry(cfg Config) *aclRegistry {
	boot := bootstrapUsers(cfg.Users, cfg.Password)
	return &aclRegistry{users: boot, boot: boot, rulesCache: map[string]*aclUser{}}
}

// get returns the user called name, or nil.
func (r *aclRegistry) get(name string) *aclUser {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.users[name]
}

func (r *aclRegistry) isSeeded() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.seeded
}

// sorted returns the users in name order (Redis's order).
func (r *aclRegistry) sorted() []*aclUser {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*aclUser, 0, len(r.users))
	for _, u := range r.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// fromRules builds a user from stored rules, skipping rules this version
// does not know (as Redis's ACL LOAD skips unknown commands).
func fromRules(name, rules string) *aclUser {
	u := newACLUser(name)
	for _, r := range strings.Split(rules, " ") {
		_ = u.setRule(r)
	}
	return u
}

// byRules returns the user a script's entry carries, compiled once.
func (r *aclRegistry) byRules(rules string) *aclUser {
	r.rulesMu.Lock()
	defer r.rulesMu.Unlock()
	if u, ok := r.rulesCache[rules]; ok {
		return u
	}
	if len(r.rulesCache) >= 256 {
		clear(r.rulesCache)
	}
	u := fromRules("", rules)
	r.rulesCache[rules] = u
	return u
}

// reloadACL reads the users from the applied state, and disconnects the
// clients of users that no longer exist.
func (s *Server) reloadACL() {
	var keys []string
	var vals [][]byte
	if err := s.db.View(func(r *storage.Reader) error {
		keys, vals = r.SysPrefix('u')
		return nil
	}); err != nil {
		return
	}
	r := s.acl
	users := r.boot
	seeded := len(keys) > 0
	if seeded {
		users = make(map[string]*aclUser, len(keys))
		for i, k := range keys {
			users[k[1:]] = fromRules(k[1:], string(vals[i]))
		}
		if users["default"] == nil { // not seeded yet (a user made in MULTI first): as configured
			users["default"] = r.boot["default"]
		}
	}
	r.mu.Lock()
	r.users, r.seeded = users, seeded
	r.mu.Unlock()
	r.gen.Add(1)
	s.clientsMu.Lock()
	var gone []*connState
	for _, st := range s.clients {
		st.mu.Lock()
		name := st.user
		st.mu.Unlock()
		if users[name] == nil {
			gone = append(gone, st)
		}
	}
	s.clientsMu.Unlock()
	for _, st := range gone {
		s.kill(st)
	}
}

// seedACL runs on a new leader: it writes the bootstrap users to the log if
// it holds none, and makes sure the default user accepts --requirepass.
func (s *Server) seedACL() {
	r := s.acl
	var cmd storage.Cmd
	if !r.isSeeded() {
		names := make([]string, 0, len(r.boot))
		for n := range r.boot {
			names = append(names, n)
		}
		sort.Strings(names)
		slices.SortStableFunc(names, func(a, b string) int { // "default" first: the entry's condition
			return int(boolInt(b == "default") - boolInt(a == "default"))
		})
		cmd = storage.Cmd{Op: storage.OpSysSet, Int: 2}
		for _, n := range names {
			cmd.Keys = append(cmd.Keys, []byte("u"+n))
			cmd.Vals = append(cmd.Vals, []byte(r.boot[n].rules()))
		}
	} else if pw := s.cfg.Password; pw != "" {
		d := r.get("default")
		if d == nil || d.nopass || !slices.Contains(d.passwords, hashPassword(pw)) {
			u := defaultACLUser()
			if d != nil {
				u = d.clone()
			}
			_ = u.setRule(">" + pw)
			cmd = storage.Cmd{Op: storage.OpSysSet, Keys: [][]byte{[]byte("udefault")}, Vals: [][]byte{[]byte(u.rules())}}
		}
	}
	if cmd.Op == 0 {
		return
	}
	e := storage.Entry{Now: replication.Now(), Cmds: []storage.Cmd{cmd}}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Raft.LeaderWait+10*time.Second)
	defer cancel()
	if _, err := s.node.Propose(ctx, e.Encode()).Wait(); err != nil {
		s.logger.Warn("could not write the configured ACL users to the log; the next leader will", "error", err)
	}
}

// userByName returns user name's current rules, for a front end that
// authenticates by other means (HTTP tokens).
func (s *Server) userByName(name string) (*aclUser, bool) {
	u := s.acl.get(name)
	return u, u != nil
}

// setConnUser makes st an authenticated connection of user u.
func (s *Server) setConnUser(st *connState, u *aclUser) {
	st.authed = true
	st.acl, st.aclGen = u, s.acl.gen.Load()
	st.mu.Lock()
	st.user = u.name
	st.mu.Unlock()
}

// connUser returns the rules st runs with now: its user's latest, or nil
// if the user was deleted.
func (s *Server) connUser(st *connState) *aclUser {
	if g := s.acl.gen.Load(); st.aclGen != g {
		st.mu.Lock()
		name := st.user
		st.mu.Unlock()
		st.acl, st.aclGen = s.acl.get(name), g
	}
	return st.acl
}

// permit checks a command of st against its user's ACL and logs a denial;
// the reply is the NOPERM error, or "" if the command may run.
func (s *Server) permit(st *connState, cmd *command, args [][]byte, context string) string {
	d, obj := s.denial(st, cmd, args)
	if d == aclOK {
		return ""
	}
	s.acl.log.add(s, st, d, context, obj)
	return noPermReply(d, deniedFullname(cmd, args))
}

// denial is what st's user may not do of cmd with args (aclOK: nothing).
// Peers and the commands that log in (AUTH, HELLO, RESET, QUIT) pass.
func (s *Server) denial(st *connState, cmd *command, args [][]byte) (aclDenial, string) {
	if st.internal || cmd.flags&flagNoAuth != 0 {
		return aclOK, ""
	}
	u := s.connUser(st)
	if u == nil { // deleted: its connection is being closed
		return aclDeniedCmd, deniedFullname(cmd, args)
	}
	return u.checkWhy(cmd, args)
}

// authenticate checks a user's password (for a peer connection, the
// node's --requirepass) and returns the user.
func (s *Server) authenticate(st *connState, cmd string, user, pass []byte) (*aclUser, bool) {
	if st.internal {
		ok := s.cfg.Password == "" || constEq(hashPassword(string(pass)), hashPassword(s.cfg.Password))
		return defaultACLUser(), ok && string(user) == "default"
	}
	u := s.acl.get(string(user))
	if u == nil || !u.enabled || !u.checkPassword(pass) {
		s.acl.log.addAuth(s, st, cmd, string(user))
		return nil, false
	}
	return u, true
}

// startsAuthed reports whether a new client connection is logged in as
// the default user at once: the default user is on and has nopass.
func (s *Server) startsAuthed() bool {
	d := s.acl.get("default")
	return d != nil && d.enabled && d.nopass
}

// authRequired reports whether the default user needs a password.
func (s *Server) authRequired() bool { return !s.startsAuthed() }

// --- ACL commands ---

// aclWrites are the ACL subcommands that change the users: log entries.
func aclWriteForm(args [][]byte) bool {
	switch strings.ToLower(string(args[1])) {
	case "setuser", "deluser", "load":
		return true
	}
	return false
}

// aclReadForm is the command table's readForm: everything else is local.
func aclLocalForm(args [][]byte) bool { return !aclWriteForm(args) }

const errACLNoFile = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."

// cmdACLWrite validates ACL SETUSER, DELUSER and LOAD against the users
// as applied, and builds their log entry.
func cmdACLWrite(x *execCtx, args [][]byte) (storage.Cmd, string) {
	sub := strings.ToLower(string(args[1]))
	switch {
	case sub == "setuser" && len(args) < 3, sub == "deluser" && len(args) < 3, sub == "load" && len(args) != 2:
		return storage.Cmd{}, errArity("acl|" + sub)
	case sub == "load":
		return aclLoadCmd(x.s)
	}
	if !x.s.acl.isSeeded() {
		x.s.seedACL() // this new leader has not written them yet: now
		if !x.s.acl.isSeeded() {
			return storage.Cmd{}, "TRYAGAIN the ACL users are not in the log yet (a new leader is writing them); try again"
		}
	}
	users := func(name string) *aclUser { return x.s.acl.get(name) }
	if msg := aclChange(users, args, nil); msg != "" {
		return storage.Cmd{}, msg
	}
	keys, marks := storage.EncodeWatchMarks(nil)
	return storage.Cmd{Op: storage.OpExec, Int: 2, Keys: keys, Vals: [][]byte{marks, encodeArgs(args)}}, ""
}

// cmdACLTxn runs ACL SETUSER or DELUSER inside apply, against the users
// as applied so far, and writes its reply.
func cmdACLTxn(x *execCtx, args [][]byte) {
	if strings.ToLower(string(args[1])) == "load" {
		lc, msg := aclLoadCmd(x.s)
		if msg != "" {
			x.w.Error(msg)
			return
		}
		x.w.Result(x.txn.Apply(lc))
		return
	}
	users := func(name string) *aclUser {
		v := x.txn.Sys([]byte("u" + name))
		if v == nil {
			if name == "default" {
				return defaultACLUser()
			}
			return nil
		}
		return fromRules(name, string(v))
	}
	var lc storage.Cmd
	if msg := aclChange(users, args, &lc); msg != "" {
		x.w.Error(msg)
		return
	}
	deleting := strings.EqualFold(string(args[1]), "deluser")
	if len(lc.Keys) > 0 {
		if r := x.txn.Apply(lc); r.Kind == storage.ResultErr {
			x.w.Result(r)
			return
		}
	}
	if deleting {
		x.w.Int(int64(len(lc.Keys)))
		return
	}
	x.w.OK()
}

// aclChange checks ACL SETUSER or DELUSER against users, and, if lc is
// not nil, fills it with the sys writes that make the change.
func aclChange(users func(string) *aclUser, args [][]byte, lc *storage.Cmd) string {
	if lc != nil {
		*lc = storage.Cmd{Op: storage.OpSysSet}
	}
	if strings.EqualFold(string(args[1]), "deluser") {
		seen := map[string]bool{}
		for _, a := range args[2:] {
			name := string(a)
			if name == "default" {
				return "ERR The 'default' user cannot be removed"
			}
			if users(name) != nil && !seen[name] && lc != nil {
				lc.Keys = append(lc.Keys, []byte("u"+name))
				lc.Vals = append(lc.Vals, nil)
			}
			seen[name] = true
		}
		return ""
	}
	name := string(args[2])
	if hasSpace(name) {
		return "ERR Usernames can't contain spaces or null characters"
	}
	if len(name) >= storage.MaxKeyLen {
		return errKeyTooLong
	}
	u := users(name)
	if u == nil {
		u = newACLUser(name)
	} else {
		u = u.clone()
	}
	for _, a := range args[3:] {
		if len(a) > 0 && a[0] == '(' {
			return "ERR Error in ACL SETUSER modifier '" + string(a) + "': " + errRuleSelectors.Error()
		}
	}
	rules := make([]string, 0, len(args)-3)
	for _, a := range args[3:] {
		rules = append(rules, string(a))
	}
	if msg := u.apply(rules); msg != "" {
		return msg
	}
	if lc != nil {
		lc.Keys = [][]byte{[]byte("u" + name)}
		lc.Vals = [][]byte{[]byte(u.rules())}
	}
	return ""
}

// aclLoadCmd reads the users file and builds the entry that replaces
// every user with its users (and the default user's --requirepass).
func aclLoadCmd(s *Server) (storage.Cmd, string) {
	if s.cfg.UsersFile == "" {
		return storage.Cmd{}, errACLNoFile
	}
	text, err := os.ReadFile(s.cfg.UsersFile)
	if err != nil {
		return storage.Cmd{}, fmt.Sprintf("ERR Error loading ACLs, opening file '%s': %v", s.cfg.UsersFile, err)
	}
	cfgUsers, err := ParseUsersFile(string(text))
	if err != nil {
		return storage.Cmd{}, "ERR " + err.Error() + ". WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
	}
	users := bootstrapUsers(cfgUsers, s.cfg.Password)
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	sort.Strings(names)
	lc := storage.Cmd{Op: storage.OpSysSet, Int: 1}
	for _, n := range names {
		lc.Keys = append(lc.Keys, []byte("u"+n))
		lc.Vals = append(lc.Vals, []byte(users[n].rules()))
	}
	return lc, ""
}

// aclUnwrap replies to ACL SETUSER/DELUSER/LOAD: the one reply of the
// OpExec they travel in (LOAD's OpSysSet replies OK itself).
func aclUnwrap(w *replyWriter, r storage.Result) {
	if v, ok := r.Value.(*replyValue); ok && v.kind == rvAggregate && len(v.elems) == 1 {
		v.elems[0].write(w)
		return
	}
	w.Result(r)
}

func cmdACL(x *execCtx, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	n := len(args)
	r := x.s.acl
	switch {
	case sub == "whoami" && n == 2:
		x.st.mu.Lock()
		name := x.st.user
		x.st.mu.Unlock()
		x.w.BulkString(name)
	case sub == "users" && n == 2:
		users := r.sorted()
		x.w.Array(len(users))
		for _, u := range users {
			x.w.BulkString(u.name)
		}
	case sub == "list" && n == 2:
		users := r.sorted()
		x.w.Array(len(users))
		for _, u := range users {
			x.w.BulkString("user " + u.name + " " + u.rules())
		}
	case sub == "getuser" && n == 3:
		u := r.get(string(args[2]))
		if u == nil {
			x.w.Null()
			return
		}
		writeGetUser(x.w, u)
	case sub == "cat" && (n == 2 || n == 3):
		aclCatCmd(x, args[2:])
	case sub == "genpass" && (n == 2 || n == 3):
		bits := int64(256)
		if n == 3 {
			v, ok := parseInt(args[2])
			if !ok {
				x.w.Error("ERR value is not an integer or out of range")
				return
			}
			if v <= 0 || v > 4096 {
				x.w.Error("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")
				return
			}
			bits = v
		}
		chars := int((bits + 3) / 4)
		buf := make([]byte, (chars+1)/2)
		_, _ = rand.Read(buf)
		x.w.BulkString(hex.EncodeToString(buf)[:chars])
	case sub == "dryrun" && n >= 4:
		aclDryRun(x, args)
	case sub == "log" && (n == 2 || n == 3):
		r.log.command(x, args[2:])
	case sub == "save" && n == 2:
		if msg := aclSave(x.s); msg != "" {
			x.w.Error(msg)
			return
		}
		x.w.OK()
	case sub == "help" && n == 2:
		writeHelp(x.w, "ACL",
			"CAT [<category>]", "    List all commands that belong to <category>, or all command categories", "    when no category is specified.",
			"DELUSER <username> [<username> ...]", "    Delete a list of users.",
			"DRYRUN <username> <command> [<arg> ...]", "    Returns whether the user can execute the given command without executing the command.",
			"GETUSER <username>", "    Get the user's details.",
			"GENPASS [<bits>]", "    Generate a secure 256-bit user password. The optional `bits` argument can", "    be used to specify a different size.",
			"LIST", "    Show users details in config file format.",
			"LOAD", "    Reload users from the ACL file.",
			"LOG [<count> | RESET]", "    Show the ACL log entries.",
			"SAVE", "    Save the current config to the ACL file.",
			"SETUSER <username> <attribute> [<attribute> ...]", "    Create or modify a user with the specified attributes.",
			"USERS", "    List all the registered usernames.",
			"WHOAMI", "    Return the current connection username.")
	case slices.Contains(containerSubs["acl"], sub):
		x.w.Error(errArity("acl|" + sub))
	default:
		x.w.Error(fmt.Sprintf("ERR unknown subcommand '%.128s'. Try ACL HELP.", args[1]))
	}
}

func writeGetUser(w *replyWriter, u *aclUser) {
	w.Map(6)
	w.BulkString("flags")
	flags := u.flagNames()
	w.Set(len(flags))
	for _, f := range flags {
		w.BulkString(f)
	}
	w.BulkString("passwords")
	w.Array(len(u.passwords))
	for _, p := range u.passwords {
		w.BulkString(p)
	}
	w.BulkString("commands")
	w.BulkString(u.commandRules())
	w.BulkString("keys")
	w.BulkString(u.keysString())
	w.BulkString("channels")
	w.BulkString(u.channelsString())
	w.BulkString("selectors")
	w.Array(0)
}

// aclCatCmd lists the categories, or the commands (of keepkv's table) and
// subcommands in one.
func aclCatCmd(x *execCtx, args [][]byte) {
	if len(args) == 0 {
		x.w.Array(len(aclCatNames))
		for _, n := range aclCatNames {
			x.w.BulkString(n)
		}
		return
	}
	cat := aclCatByName(string(args[0]))
	if cat == 0 {
		x.w.Error("ERR Unknown category '" + string(args[0]) + "'")
		return
	}
	u := aclCommands()
	var names []string
	for id, n := range u.names {
		top, _, _ := strings.Cut(n, "|")
		if u.specs[id].cats&cat != 0 && x.s.table[top] != nil {
			names = append(names, n)
		}
	}
	x.w.Array(len(names))
	for _, n := range names {
		x.w.BulkString(n)
	}
}

// aclDryRun: ACL DRYRUN user command args...
func aclDryRun(x *execCtx, args [][]byte) {
	u := x.s.acl.get(string(args[2]))
	if u == nil {
		x.w.Error("ERR User '" + string(args[2]) + "' not found")
		return
	}
	cargs := args[3:]
	cmd := x.s.table.lookup(cargs[0])
	if cmd == nil || cmd.flags&flagInternal != 0 {
		x.w.Error("ERR Command '" + string(cargs[0]) + "' not found")
		return
	}
	if !cmd.arityOK(len(cargs)) {
		x.w.Error(errArity(cmd.name))
		return
	}
	switch d, obj := u.checkWhy(cmd, cargs); d {
	case aclOK:
		x.w.OK()
	case aclDeniedKey:
		x.w.BulkString("This user has no permissions to access the '" + obj + "' key")
	case aclDeniedChannel:
		x.w.BulkString("This user has no permissions to access the '" + obj + "' channel")
	default:
		x.w.BulkString("This user has no permissions to run the '" + deniedFullname(cmd, cargs) + "' command")
	}
}

// aclSave writes the users to the users file in Redis's ACL file format,
// keeping its HTTP token lines; the file is replaced atomically.
func aclSave(s *Server) string {
	path := s.cfg.UsersFile
	if path == "" {
		return errACLNoFile
	}
	var b strings.Builder
	if old, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(old), "\n") {
			if isTokenLine(strings.Fields(line)) {
				b.WriteString(strings.TrimSpace(line) + "\n")
			}
		}
	}
	for _, u := range s.acl.sorted() {
		b.WriteString("user " + u.name + " " + u.rules() + "\n")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".acl-*")
	if err == nil {
		_, err = tmp.WriteString(b.String())
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
	}
	if err != nil {
		s.logger.Warn("ACL SAVE failed", "file", path, "error", err)
		return "ERR There was an error trying to save the ACLs. Please check the server logs for more information"
	}
	return ""
}

// --- ACL LOG ---

const aclLogMax = 128

type aclLogEntry struct {
	count      int64
	reason     string
	context    string
	object     string
	username   string
	created    time.Time
	updated    time.Time
	clientInfo string
}

// aclLog is this node's log of denials and failed logins (ACL LOG), newest
// first; entries of the same kind within a minute are counted together.
type aclLog struct {
	mu      sync.Mutex
	entries []*aclLogEntry
}

// addAuth logs a failed AUTH or HELLO AUTH of user.
func (l *aclLog) addAuth(s *Server, st *connState, cmd, user string) {
	context := "toplevel"
	if st.multi != nil {
		context = "multi"
	}
	l.record(s, st, "auth", context, cmd, user)
}

// add logs a denied command, key or channel of st's user.
func (l *aclLog) add(s *Server, st *connState, d aclDenial, context, object string) {
	reason := map[aclDenial]string{aclDeniedCmd: "command", aclDeniedKey: "key", aclDeniedChannel: "channel"}[d]
	st.mu.Lock()
	user := st.user
	st.mu.Unlock()
	l.record(s, st, reason, context, object, user)
}

func (l *aclLog) record(s *Server, st *connState, reason, context, object, user string) {
	info := ""
	if st.conn != nil {
		info = s.clientLine(st)
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, e := range l.entries {
		if e.reason == reason && e.context == context && e.object == object && e.username == user && now.Sub(e.updated) < time.Minute {
			e.count++
			e.updated, e.clientInfo = now, info
			copy(l.entries[1:i+1], l.entries[:i])
			l.entries[0] = e
			return
		}
	}
	e := &aclLogEntry{count: 1, reason: reason, context: context, object: object, username: user, created: now, updated: now, clientInfo: info}
	l.entries = append([]*aclLogEntry{e}, l.entries...)
	if len(l.entries) > aclLogMax {
		l.entries = l.entries[:aclLogMax]
	}
}

func (l *aclLog) command(x *execCtx, args [][]byte) {
	count := int64(10)
	if len(args) == 1 {
		if eq(args[0], "reset") {
			l.mu.Lock()
			l.entries = nil
			l.mu.Unlock()
			x.w.OK()
			return
		}
		v, ok := parseInt(args[0])
		if !ok {
			x.w.Error("ERR value is not an integer or out of range")
			return
		}
		count = max(v, 0)
	}
	l.mu.Lock()
	entries := l.entries[:min(int(min(count, int64(len(l.entries)))), len(l.entries))]
	entries = slices.Clone(entries)
	copies := make([]aclLogEntry, len(entries))
	for i, e := range entries {
		copies[i] = *e
	}
	l.mu.Unlock()
	now := time.Now()
	x.w.Array(len(copies))
	for _, e := range copies {
		x.w.Map(7)
		x.w.BulkString("count")
		x.w.Int(e.count)
		x.w.BulkString("reason")
		x.w.BulkString(e.reason)
		x.w.BulkString("context")
		x.w.BulkString(e.context)
		x.w.BulkString("object")
		x.w.BulkString(e.object)
		x.w.BulkString("username")
		x.w.BulkString(e.username)
		x.w.BulkString("age-seconds")
		x.w.Double(float64(now.Sub(e.created).Milliseconds()) / 1000)
		x.w.BulkString("client-info")
		x.w.BulkString(e.clientInfo)
	}
}

// --- protected mode ---

// protectedDenied is Redis's protected-mode refusal, word for word.
const protectedDenied = "DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside."

// protectedRefuses reports whether protected mode refuses a client at
// remote: the default user has no password and the peer is not loopback.
func (s *Server) protectedRefuses(remote string) bool {
	if !s.cfg.ProtectedMode {
		return false
	}
	if d := s.acl.get("default"); d == nil || !d.nopass {
		return false
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return true
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}
