package server

import (
	"crypto/subtle"
	"strconv"
	"strings"
)

// What an ACL check found wrong, in Redis's order of precedence.
type aclDenial uint8

const (
	aclOK aclDenial = iota
	aclDeniedCmd
	aclDeniedKey
	aclDeniedChannel
	aclDeniedAuth
)

// NOPERM replies, word for word as redis-server 7.0.
func errNoPerm(cmd string) string {
	return "NOPERM this user has no permissions to run the '" + cmd + "' command"
}

const (
	errNoPermKey     = "NOPERM this user has no permissions to access one of the keys used as arguments"
	errNoPermChannel = "NOPERM this user has no permissions to access one of the channels used as arguments"
)

// noPermReply is the client's reply to a denial of cmd.
func noPermReply(d aclDenial, fullname string) string {
	switch d {
	case aclDeniedKey:
		return errNoPermKey
	case aclDeniedChannel:
		return errNoPermChannel
	}
	return errNoPerm(fullname)
}

func constEq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// keyRef is a key argument: its position and what the command does to it.
type keyRef struct {
	pos   int
	flags uint8
}

// commandKeys finds the key arguments of a command from its Redis key
// specs (numkeys included); false if the arguments are malformed in a way
// the specs cannot read (the command will fail on its own).
func commandKeys(spec aclSpec, args [][]byte) []keyRef {
	var out []keyRef
	argc := len(args)
	for _, ks := range spec.keys {
		if ks.flags&(keyNotKey|keyIncomplete) != 0 {
			continue
		}
		first := 0
		if ks.keyword == "" {
			first = ks.index
		} else {
			start, end, step := ks.startFrom, argc, 1
			if ks.startFrom < 0 {
				start, end, step = argc+ks.startFrom, 0, -1
			}
			for i := start; i != end && i >= 0 && i < argc; i += step {
				if strings.EqualFold(string(args[i]), ks.keyword) {
					first = i + 1
					break
				}
			}
			if first == 0 {
				continue
			}
		}
		if first <= 0 || first >= argc {
			continue
		}
		var last, step int
		if ks.keyNum {
			n, err := strconv.Atoi(string(args[min(first+ks.keyNumIdx, argc-1)]))
			if err != nil || n < 0 || first+ks.keyNumIdx >= argc {
				continue
			}
			step = max(ks.keyStep, 1)
			start := first + ks.firstKey
			first, last = start, start+(n-1)*step
		} else {
			step = max(ks.keyStep, 1)
			switch {
			case ks.lastKey >= 0:
				last = first + ks.lastKey
			case ks.limit <= 1:
				last = argc + ks.lastKey
			default:
				last = first + ((argc-first)/ks.limit + ks.lastKey)
			}
		}
		for i := first; i <= last && i < argc; i += step {
			out = append(out, keyRef{pos: i, flags: ks.flags})
		}
	}
	return out
}

// check decides whether user a may run cmd with args (args[0] is the
// command name): the command, then its keys, then its channels.
func (a *aclUser) check(cmd *command, args [][]byte) aclDenial {
	d, _ := a.checkWhy(cmd, args)
	return d
}

// checkWhy is check, with the object denied: the command's full name, the
// key or the channel.
func (a *aclUser) checkWhy(cmd *command, args [][]byte) (aclDenial, string) {
	if a == nil || (a.allCommands && a.allKeys && a.allChannels) {
		return aclOK, "" // e.g. the default user's "+@all ~* &*": nothing to look up
	}
	u := aclCommands()
	id, known := u.commandID(cmd.name, args)
	if !known && u.isContainer(cmd.name) {
		return aclOK, "" // an unknown subcommand: its handler refuses it, before the ACL as in Redis
	}
	if !a.allCommands && cmd.flags&flagNoAuth == 0 {
		if !known || !a.allowed.has(id) {
			if !known || !a.firstArgAllowed(id, args) {
				return aclDeniedCmd, deniedFullname(cmd, args)
			}
		}
	}
	if !known {
		return aclOK, ""
	}
	spec := u.specs[id]
	if !a.allKeys && len(spec.keys) > 0 {
		for _, k := range commandKeys(spec, args) {
			flags := k.flags
			if cmd.name == "set" && !setReads(args) {
				flags = keyWrite // SET without GET only writes (Redis's setGetKeys)
			}
			if !a.keyAllowed(args[k.pos], flags) {
				return aclDeniedKey, string(args[k.pos])
			}
		}
	}
	if !a.allChannels {
		switch cmd.name {
		case "publish", "spublish":
			if len(args) > 1 && !a.channelAllowed(args[1], false) {
				return aclDeniedChannel, string(args[1])
			}
		case "subscribe", "ssubscribe", "psubscribe":
			for _, ch := range args[1:] {
				if !a.channelAllowed(ch, cmd.name == "psubscribe") {
					return aclDeniedChannel, string(ch)
				}
			}
		}
	}
	return aclOK, ""
}

func setReads(args [][]byte) bool {
	for _, a := range args[3:] {
		if eq(a, "get") {
			return true
		}
	}
	return false
}

func (a *aclUser) firstArgAllowed(id int, args [][]byte) bool {
	fa := a.firstArgs[id]
	if len(fa) == 0 || len(args) < 2 {
		return false
	}
	idx := 1
	if aclCommands().parent[id] >= 0 {
		idx = 2
	}
	if idx >= len(args) {
		return false
	}
	for _, f := range fa {
		if strings.EqualFold(f, string(args[idx])) {
			return true
		}
	}
	return false
}

// keyAllowed: a pattern with every permission the access needs matches.
func (a *aclUser) keyAllowed(key []byte, specFlags uint8) bool {
	if a.allKeys {
		return true
	}
	need := specFlags & (keyRead | keyWrite)
	for _, p := range a.keys {
		if p.flags&need == need && globMatch([]byte(p.pat), key) {
			return true
		}
	}
	return false
}

// channelAllowed: a channel is matched against the user's patterns; a
// pattern a client subscribes to must be one of them, literally.
func (a *aclUser) channelAllowed(ch []byte, literal bool) bool {
	if a.allChannels {
		return true
	}
	for _, p := range a.channels {
		if literal && p == string(ch) || !literal && globMatch([]byte(p), ch) {
			return true
		}
	}
	return false
}

// deniedFullname is the name a denial reports: "client|kill" for a
// subcommand.
func deniedFullname(cmd *command, args [][]byte) string {
	u := aclCommands()
	if id, ok := u.commandID(cmd.name, args); ok {
		return u.names[id]
	}
	return cmd.name
}
