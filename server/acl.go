package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Perm is what a user may run.
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

// User is a named user with a password. Only a SHA-256 of the password is
// kept, as Redis's ACL does.
type User struct {
	Name string
	Perm Perm
	hash [32]byte
}

// NewUser returns a user with the given password.
func NewUser(name, password string, perm Perm) (User, error) {
	if name == "" || strings.ContainsAny(name, " \t\r\n") {
		return User{}, errors.New("user names cannot be empty or contain spaces")
	}
	if name == "default" {
		return User{}, errors.New(`the "default" user is configured with --requirepass`)
	}
	if password == "" {
		return User{}, fmt.Errorf("user %s needs a password", name)
	}
	return User{Name: name, Perm: perm, hash: sha256.Sum256([]byte(password))}, nil
}

// ParseUsersFile parses lines "name permission password" (the password is
// the rest of the line); blank lines and lines starting with # are skipped.
func ParseUsersFile(text string) ([]User, error) {
	var users []User
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("users file line %d: want \"name permission password\"", i+1)
		}
		perm, err := ParsePerm(f[1])
		if err != nil {
			return nil, fmt.Errorf("users file line %d: %v", i+1, err)
		}
		pw := strings.TrimSpace(strings.SplitN(line, f[1], 2)[1])
		u, err := NewUser(f[0], pw, perm)
		if err != nil {
			return nil, fmt.Errorf("users file line %d: %v", i+1, err)
		}
		if seen[u.Name] {
			return nil, fmt.Errorf("users file line %d: user %s defined twice", i+1, u.Name)
		}
		seen[u.Name] = true
		users = append(users, u)
	}
	return users, nil
}

// authenticate checks a user and password in constant time with respect to
// the password, and returns the user's permission.
func (s *Server) authenticate(user, pass []byte) (Perm, bool) {
	h := sha256.Sum256(pass)
	if string(user) == "default" {
		if s.cfg.Password == "" {
			return PermAdmin, true // nopass, as Redis's default user
		}
		want := sha256.Sum256([]byte(s.cfg.Password))
		return PermAdmin, subtle.ConstantTimeCompare(h[:], want[:]) == 1
	}
	for _, u := range s.cfg.Users {
		if u.Name == string(user) {
			return u.Perm, subtle.ConstantTimeCompare(h[:], u.hash[:]) == 1
		}
	}
	return 0, false
}

// authRequired: the default user has a password, so every connection
// starts unauthenticated.
func (s *Server) authRequired() bool { return s.cfg.Password != "" }

// allowed reports whether perm may run cmd with args.
func allowed(perm Perm, cmd *command, args [][]byte) bool {
	switch {
	case cmd.flags&flagAdmin != 0 || (cmd.adminIf != nil && cmd.adminIf(args)):
		return perm >= PermAdmin
	case cmd.flags&flagWrite != 0:
		return perm >= PermWrite || (cmd.read != nil && len(args) == 2) // GETEX without options reads
	}
	return perm >= PermRead
}

func errNoPerm(user, cmd string) string {
	return fmt.Sprintf("NOPERM User %s has no permissions to run the '%s' command", user, cmd)
}

func cmdACL(x *execCtx, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	switch {
	case sub == "whoami" && len(args) == 2:
		x.w.BulkString(x.st.user)
	case sub == "list" && len(args) == 2:
		lines := []string{aclLine("default", x.s.cfg.Password == "", PermAdmin, sha256.Sum256([]byte(x.s.cfg.Password)))}
		for _, u := range x.s.cfg.Users {
			lines = append(lines, aclLine(u.Name, false, u.Perm, u.hash))
		}
		x.w.Array(len(lines))
		for _, l := range lines {
			x.w.BulkString(l)
		}
	case sub == "users" && len(args) == 2:
		x.w.Array(1 + len(x.s.cfg.Users))
		x.w.BulkString("default")
		for _, u := range x.s.cfg.Users {
			x.w.BulkString(u.Name)
		}
	case sub == "help" && len(args) == 2:
		writeHelp(x.w, "ACL", "WHOAMI", "    Return the current connection username.", "LIST", "    Show users and their rules (password digests only).", "USERS", "    List all the registered usernames.")
	case sub == "setuser" || sub == "deluser":
		x.w.Error("ERR ACL " + strings.ToUpper(sub) + " is not supported by keepkv: define users with --users-file")
	default:
		x.w.Error(fmt.Sprintf("ERR unknown subcommand or wrong number of arguments for '%.128s'. Try ACL HELP.", args[1]))
	}
}

func aclLine(name string, nopass bool, perm Perm, hash [32]byte) string {
	pass := "#" + hex.EncodeToString(hash[:])
	if nopass {
		pass = "nopass"
	}
	cats := map[Perm]string{PermRead: "+@read +@connection", PermWrite: "+@read +@write +@connection", PermAdmin: "+@all"}[perm]
	return fmt.Sprintf("user %s on %s ~* &* %s", name, pass, cats)
}

// protectedDenied is Redis's protected-mode refusal, word for word.
const protectedDenied = "DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside."

// protectedRefuses reports whether protected mode refuses a client at
// remote: no password for the default user and a non-loopback peer.
func (s *Server) protectedRefuses(remote string) bool {
	if !s.cfg.ProtectedMode || s.cfg.Password != "" {
		return false
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return true
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}
