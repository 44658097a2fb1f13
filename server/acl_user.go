package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Redis 6+ ACL users (acl.go has the registry and the commands). A user is
// built by applying rules left to right, exactly as ACL SETUSER does, and is
// described back as the rules that rebuild it (ACL LIST, GETUSER, the ACL
// file, and the record the replicated sys bucket stores). Command rules are
// kept in the order given, with a later rule for the same command replacing
// an earlier one (Redis 7.2's description; 7.0 recomputes a shortest
// description from its own command set, which keepkv's smaller table could
// not reproduce).

// aclCat is a set of ACL categories.
type aclCat uint32

// ACL categories, in the order ACL CAT lists them.
const (
	catKeyspace aclCat = 1 << iota
	catRead
	catWrite
	catSet
	catSortedset
	catList
	catHash
	catString
	catBitmap
	catHyperloglog
	catGeo
	catStream
	catPubsub
	catAdmin
	catFast
	catSlow
	catBlocking
	catDangerous
	catConnection
	catTransaction
	catScripting
)

var aclCatNames = []string{"keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
	"hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection",
	"transaction", "scripting"}

func aclCatByName(name string) aclCat {
	for i, n := range aclCatNames {
		if strings.EqualFold(n, name) {
			return 1 << i
		}
	}
	return 0
}

// keySpec is one of a command's Redis key specs: where its keys are and
// what it does to them.
type keySpec struct {
	flags     uint8
	index     int    // begin search by index (when keyword is "")
	keyword   string // begin search by keyword
	startFrom int
	keyNum    bool // find keys by a count argument (EVAL, ZUNIONSTORE)
	lastKey   int
	keyStep   int
	limit     int
	keyNumIdx int
	firstKey  int
}

// Key spec flags.
const (
	keyRead       uint8 = 1 << iota // the command reads the key (%R)
	keyWrite                        // inserts, updates or deletes (%W)
	keyNotKey                       // not a key (a channel or a name)
	keyIncomplete                   // the spec cannot find every key
)

// aclSpec is a command's (or subcommand's) ACL categories and key specs.
type aclSpec struct {
	cats aclCat
	keys []keySpec
}

// keepkvSpecs are keepkv's commands that Redis does not have.
var keepkvSpecs = map[string]aclSpec{
	"raft": {cats: catAdmin | catSlow | catDangerous},
	// Redis 7.2's, which 7.0 lacks.
	"client|no-touch": {cats: catSlow | catConnection},
	"client|setinfo":  {cats: catSlow | catConnection},
}

// aclUniverse numbers every command and subcommand an ACL rule may name.
type aclUniverse struct {
	names  []string // by id; "client|kill" for a subcommand
	id     map[string]int
	specs  []aclSpec
	subs   map[int][]int // a container's subcommands
	parent []int         // a subcommand's container, or -1
}

var (
	universeOnce sync.Once
	universe     *aclUniverse
)

// aclCommands returns the command universe, built once (it is immutable).
func aclCommands() *aclUniverse {
	universeOnce.Do(func() {
		u := &aclUniverse{id: map[string]int{}, subs: map[int][]int{}}
		var names []string
		for n := range redisCommandSpecs {
			names = append(names, n)
		}
		for n := range keepkvSpecs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			spec, ok := redisCommandSpecs[n]
			if !ok {
				spec = keepkvSpecs[n]
			}
			u.id[n] = len(u.names)
			u.names = append(u.names, n)
			u.specs = append(u.specs, spec)
		}
		u.parent = make([]int, len(u.names))
		for i, n := range u.names {
			u.parent[i] = -1
			if c, _, ok := strings.Cut(n, "|"); ok {
				p := u.id[c]
				u.parent[i] = p
				u.subs[p] = append(u.subs[p], i)
			}
		}
		universe = u
	})
	return universe
}

// commandID returns the id ACL checks use for cmd with args: its
// subcommand's for a known subcommand of a container.
func (u *aclUniverse) commandID(name string, args [][]byte) (int, bool) {
	id, ok := u.id[name]
	if !ok {
		return 0, false
	}
	if subs := u.subs[id]; len(subs) > 0 && len(args) > 1 {
		sid, ok := u.id[name+"|"+strings.ToLower(string(args[1]))]
		return sid, ok
	}
	return id, true
}

func (u *aclUniverse) isContainer(name string) bool {
	id, ok := u.id[name]
	return ok && len(u.subs[id]) > 0
}

type bitset []uint64

func (b bitset) has(i int) bool { return b[i>>6]&(1<<(uint(i)&63)) != 0 }
func (b bitset) set(i int, on bool) {
	if on {
		b[i>>6] |= 1 << (uint(i) & 63)
	} else {
		b[i>>6] &^= 1 << (uint(i) & 63)
	}
}

// keyPattern is a ~, %R~ or %W~ rule.
type keyPattern struct {
	flags uint8 // keyRead|keyWrite
	pat   string
}

func (p keyPattern) String() string {
	switch p.flags {
	case keyRead | keyWrite:
		return "~" + p.pat
	case keyRead:
		return "%R~" + p.pat
	case keyWrite:
		return "%W~" + p.pat
	}
	return "%~" + p.pat
}

// aclUser is one user's flags, passwords and permissions.
type aclUser struct {
	name      string
	enabled   bool
	nopass    bool
	sanitize  uint8    // 0, aclSanitize or aclSkipSanitize
	passwords []string // SHA-256 hex digests, in the order added

	allCommands bool // +@all: also commands added later
	allowed     bitset
	firstArgs   map[int][]string // +select|0: first arguments of an otherwise denied command
	cmdRules    []string         // after +@all or -@all, lower case, in order

	allKeys     bool
	keys        []keyPattern
	allChannels bool
	channels    []string
}

const (
	aclSanitize     = 1
	aclSkipSanitize = 2
)

// newACLUser returns a user as ACL SETUSER creates one: off, no
// passwords, no commands, keys or channels.
func newACLUser(name string) *aclUser {
	u := aclCommands()
	return &aclUser{name: name, allowed: make(bitset, (len(u.names)+63)/64)}
}

// defaultACLUser is Redis's default user: on nopass ~* &* +@all.
func defaultACLUser() *aclUser {
	u := newACLUser("default")
	for _, r := range []string{"+@all", "~*", "&*", "on", "nopass"} {
		if err := u.setRule(r); err != nil {
			panic("server: default user rule " + r + ": " + err.Error())
		}
	}
	return u
}

func (a *aclUser) clone() *aclUser {
	c := *a
	c.passwords = slices.Clone(a.passwords)
	c.allowed = slices.Clone(a.allowed)
	c.cmdRules = slices.Clone(a.cmdRules)
	c.keys = slices.Clone(a.keys)
	c.channels = slices.Clone(a.channels)
	if a.firstArgs != nil {
		c.firstArgs = map[int][]string{}
		for k, v := range a.firstArgs {
			c.firstArgs[k] = slices.Clone(v)
		}
	}
	return &c
}

// Rule errors, worded as Redis's ACLSetUserStringError.
var (
	errRuleUnknown   = errors.New("Unknown command or category name in ACL")
	errRuleSyntax    = errors.New("Syntax error")
	errRuleAllKeys   = errors.New("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")
	errRuleAllChans  = errors.New("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels")
	errRuleNoPass    = errors.New("The password you are trying to remove from the user does not exist")
	errRuleBadHash   = errors.New("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")
	errRuleFirstArg  = errors.New("Allowing first-arg of a subcommand is not supported")
	errRuleSelectors = errors.New("Selectors are not supported by keepkv")
	errRuleTooMany   = errors.New("Too many rules of this kind (keepkv allows 1000 per user)")
)

// maxRulesOfAKind bounds a user's passwords, key and channel patterns and
// command rules, so that building a user (in apply too) stays cheap.
const maxRulesOfAKind = 1000

func hashPassword(p string) string {
	h := sha256.Sum256([]byte(p))
	return hex.EncodeToString(h[:])
}

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func hasSpace(s string) bool {
	return strings.ContainsAny(s, " \t\r\n\v\f\x00")
}

// setRule applies one ACL SETUSER rule. On error the user may be
// partly changed: callers work on a clone.
func (a *aclUser) setRule(op string) error {
	if op == "" {
		return nil
	}
	if max(len(a.passwords), len(a.keys), len(a.channels), len(a.cmdRules)) >= maxRulesOfAKind {
		switch op[0] {
		case '>', '#', '~', '%', '&', '+', '-':
			return errRuleTooMany
		}
	}
	lower := strings.ToLower(op)
	switch lower {
	case "on":
		a.enabled = true
		return nil
	case "off":
		a.enabled = false
		return nil
	case "skip-sanitize-payload":
		a.sanitize = aclSkipSanitize
		return nil
	case "sanitize-payload":
		a.sanitize = aclSanitize
		return nil
	case "nopass":
		a.nopass, a.passwords = true, nil
		return nil
	case "resetpass":
		a.nopass, a.passwords = false, nil
		return nil
	case "clearselectors":
		return nil
	case "reset":
		for _, r := range []string{"resetpass", "resetkeys", "resetchannels", "off", "sanitize-payload", "-@all"} {
			_ = a.setRule(r)
		}
		return nil
	case "allkeys", "~*":
		a.allKeys, a.keys = true, nil
		return nil
	case "resetkeys":
		a.allKeys, a.keys = false, nil
		return nil
	case "allchannels", "&*":
		a.allChannels, a.channels = true, nil
		return nil
	case "resetchannels":
		a.allChannels, a.channels = false, nil
		return nil
	case "allcommands", "+@all":
		for i := range a.allowed {
			a.allowed[i] = ^uint64(0)
		}
		a.allCommands, a.firstArgs, a.cmdRules = true, nil, nil
		return nil
	case "nocommands", "-@all":
		clear(a.allowed)
		a.allCommands, a.firstArgs, a.cmdRules = false, nil, nil
		return nil
	}
	switch op[0] {
	case '>', '#':
		h := op[1:]
		if op[0] == '>' {
			h = hashPassword(op[1:])
		} else if !validHash(h) {
			return errRuleBadHash
		}
		if !slices.Contains(a.passwords, h) {
			a.passwords = append(a.passwords, h)
		}
		a.nopass = false
		return nil
	case '<', '!':
		h := op[1:]
		if op[0] == '<' {
			h = hashPassword(op[1:])
		} else if !validHash(h) {
			return errRuleBadHash
		}
		i := slices.Index(a.passwords, h)
		if i < 0 {
			return errRuleNoPass
		}
		a.passwords = slices.Delete(a.passwords, i, i+1)
		return nil
	case '(':
		return errRuleSelectors
	case '~', '%':
		return a.addKeyPattern(op)
	case '&':
		if a.allChannels {
			return errRuleAllChans
		}
		if hasSpace(op[1:]) {
			return errRuleSyntax
		}
		if !slices.Contains(a.channels, op[1:]) {
			a.channels = append(a.channels, op[1:])
		}
		return nil
	case '+', '-':
		allow := op[0] == '+'
		if len(op) > 1 && op[1] == '@' {
			return a.setCategory(lower[2:], allow)
		}
		return a.setCommand(lower[1:], allow)
	}
	return errRuleSyntax
}

func (a *aclUser) addKeyPattern(op string) error {
	if a.allKeys {
		return errRuleAllKeys
	}
	var flags uint8
	off := 1
	if op[0] == '%' {
	scan:
		for ; off < len(op); off++ {
			switch {
			case (op[off] == 'R' || op[off] == 'r') && flags&keyRead == 0:
				flags |= keyRead
			case (op[off] == 'W' || op[off] == 'w') && flags&keyWrite == 0:
				flags |= keyWrite
			case op[off] == '~':
				off++
				break scan
			default:
				return errRuleSyntax
			}
		}
		if flags == 0 {
			return errRuleSyntax
		}
	} else {
		flags = keyRead | keyWrite
	}
	pat := op[min(off, len(op)):]
	if hasSpace(pat) {
		return errRuleSyntax
	}
	if pat == "*" && flags == keyRead|keyWrite {
		a.allKeys, a.keys = true, nil
		return nil
	}
	for i := range a.keys {
		if a.keys[i].pat == pat {
			a.keys[i].flags |= flags
			return nil
		}
	}
	a.keys = append(a.keys, keyPattern{flags: flags, pat: pat})
	return nil
}

func (a *aclUser) setCategory(name string, allow bool) error {
	cat := aclCatByName(name)
	if cat == 0 || name == "" {
		return errRuleUnknown
	}
	u := aclCommands()
	for id, spec := range u.specs {
		if spec.cats&cat != 0 {
			a.changePerm(id, allow)
		}
	}
	a.updateRules("@"+name, allow)
	return nil
}

// changePerm allows or denies a command, and a container's subcommands.
func (a *aclUser) changePerm(id int, allow bool) {
	u := aclCommands()
	a.allowed.set(id, allow)
	delete(a.firstArgs, id)
	for _, sid := range u.subs[id] {
		a.allowed.set(sid, allow)
	}
}

func (a *aclUser) setCommand(name string, allow bool) error {
	u := aclCommands()
	if id, ok := u.id[name]; ok {
		a.changePerm(id, allow)
		a.updateRules(name, allow)
		return nil
	}
	cmd, sub, ok := strings.Cut(name, "|")
	if !allow || !ok {
		return errRuleUnknown
	}
	if i := strings.LastIndexByte(name, '|'); i >= 0 {
		cmd, sub = name[:i], name[i+1:]
	}
	id, ok := u.id[cmd]
	switch {
	case !ok:
		return errRuleUnknown
	case u.parent[id] >= 0:
		return errRuleFirstArg
	case sub == "" || hasSpace(sub):
		return errRuleSyntax
	case len(u.subs[id]) > 0:
		return errRuleUnknown // not one of the container's subcommands
	}
	if a.firstArgs == nil {
		a.firstArgs = map[int][]string{}
	}
	if !slices.Contains(a.firstArgs[id], sub) {
		a.firstArgs[id] = append(a.firstArgs[id], sub)
	}
	a.updateRules(name, true)
	return nil
}

// updateRules records a command rule: earlier rules for the same command
// (or one of its subcommands or first arguments) are dropped.
func (a *aclUser) updateRules(rule string, allow bool) {
	kept := a.cmdRules[:0]
	for _, r := range a.cmdRules {
		name := r[1:]
		if name == rule || strings.HasPrefix(name, rule+"|") {
			continue
		}
		kept = append(kept, r)
	}
	sign := "-"
	if allow {
		sign = "+"
	}
	a.cmdRules = append(kept, sign+rule)
}

// commandRules describes the command permissions: +@all or -@all, then the
// rules since.
func (a *aclUser) commandRules() string {
	s := "-@all"
	if a.allCommands {
		s = "+@all"
	}
	if len(a.cmdRules) > 0 {
		s += " " + strings.Join(a.cmdRules, " ")
	}
	return s
}

func (a *aclUser) keysString() string {
	if a.allKeys {
		return "~*"
	}
	parts := make([]string, len(a.keys))
	for i, k := range a.keys {
		parts[i] = k.String()
	}
	return strings.Join(parts, " ")
}

func (a *aclUser) channelsString() string {
	if a.allChannels {
		return "&*"
	}
	parts := make([]string, len(a.channels))
	for i, c := range a.channels {
		parts[i] = "&" + c
	}
	return strings.Join(parts, " ")
}

func (a *aclUser) flagNames() []string {
	var f []string
	if a.enabled {
		f = append(f, "on")
	} else {
		f = append(f, "off")
	}
	if a.nopass {
		f = append(f, "nopass")
	}
	switch a.sanitize {
	case aclSkipSanitize:
		f = append(f, "skip-sanitize-payload")
	case aclSanitize:
		f = append(f, "sanitize-payload")
	}
	return f
}

// rules describes the user as the rules that rebuild it from nothing
// (ACL LIST without "user NAME ").
func (a *aclUser) rules() string {
	var b strings.Builder
	for _, f := range a.flagNames() {
		b.WriteString(f)
		b.WriteByte(' ')
	}
	for _, p := range a.passwords {
		b.WriteString("#" + p + " ")
	}
	if k := a.keysString(); k != "" {
		b.WriteString(k + " ")
	}
	if a.allChannels {
		b.WriteString("&* ")
	} else {
		b.WriteString("resetchannels ")
		if c := a.channelsString(); c != "" {
			b.WriteString(c + " ")
		}
	}
	b.WriteString(a.commandRules())
	return b.String()
}

// parseACLUser builds a user from its name and rules (a stored record, a
// line of the ACL file); rules the command table does not know fail.
func parseACLUser(name string, rules []string) (*aclUser, string) {
	u := newACLUser(name)
	if msg := u.apply(rules); msg != "" {
		return nil, msg
	}
	return u, ""
}

// apply applies rules in order; the reply on failure is Redis's error.
func (a *aclUser) apply(rules []string) string {
	for _, r := range rules {
		if err := a.setRule(r); err != nil {
			return "ERR Error in ACL SETUSER modifier '" + r + "': " + err.Error()
		}
	}
	a.prune()
	return ""
}

// maxPrunedRules bounds the work of prune (quadratic in the rules).
const maxPrunedRules = 64

// prune drops the command rules that change nothing ("+get" after
// "+@read", "-get" after "-@all"): Redis 7.0 describes a user from its
// command bitmap, so such rules never show in its GETUSER or ACL LIST.
func (a *aclUser) prune() {
	if len(a.cmdRules) > maxPrunedRules {
		return
	}
	for i := 0; i < len(a.cmdRules); {
		trial := append(slices.Clone(a.cmdRules[:i]), a.cmdRules[i+1:]...)
		if a.sameCommands(trial) {
			a.cmdRules = trial
			continue
		}
		i++
	}
}

// sameCommands reports whether rules, after a's +@all or -@all, allow
// exactly what a allows.
func (a *aclUser) sameCommands(rules []string) bool {
	b := newACLUser("")
	base := "-@all"
	if a.allCommands {
		base = "+@all"
	}
	_ = b.setRule(base)
	for _, r := range rules {
		_ = b.setRule(r)
	}
	if !slices.Equal(a.allowed, b.allowed) || len(a.firstArgs) != len(b.firstArgs) {
		return false
	}
	for id, fa := range a.firstArgs {
		if !slices.Equal(fa, b.firstArgs[id]) {
			return false
		}
	}
	return true
}

// checkPassword reports whether pass is one of the user's passwords (any
// password for nopass), comparing every stored digest.
func (a *aclUser) checkPassword(pass []byte) bool {
	if a.nopass {
		return true
	}
	h := sha256.Sum256(pass)
	got := hex.EncodeToString(h[:])
	ok := false
	for _, p := range a.passwords {
		if constEq(p, got) {
			ok = true
		}
	}
	return ok
}
