package server

import (
	"slices"
	"strings"
	"testing"
)

// FuzzACLRules: any ACL SETUSER rules (one per line) either fail with a
// Redis-style error or build a user whose description (ACL LIST, GETUSER,
// the replicated record) parses back, strictly, into the same user with
// the same description. Parsing never panics.
func FuzzACLRules(f *testing.F) {
	for _, seed := range []string{
		"on\n>pw\n~session:*\n+@read\n+@write\n-@dangerous",
		"reset\n+@all\n-get\n+client|kill\n%R~r:*\n%W~w:*\n&news:*",
		"+select|0\n+get\n-@all\n+@hash\n-hgetall\nnopass\nskip-sanitize-payload",
		"allkeys\n~foo", "#abc\n!abc\n<nope", "(+get ~x)", "%~x\n%RRW~x\n%R\n~\n&", "+client|kill|x\n+get|\n+get|a b",
		"resetchannels\n&a\n&a\nallchannels\nresetkeys\n%RW~*\nnocommands\nallcommands",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		rules := strings.Split(text, "\n")
		if len(rules) > 200 {
			return
		}
		u := newACLUser("f")
		if msg := u.apply(rules); msg != "" {
			if !strings.HasPrefix(msg, "ERR Error in ACL SETUSER modifier '") {
				t.Fatalf("error %q", msg)
			}
			return
		}
		desc := u.rules()
		back, msg := parseACLUser("f", strings.Split(desc, " "))
		if msg != "" {
			t.Fatalf("rules %q: description %q does not parse: %s", rules, desc, msg)
		}
		if got := back.rules(); got != desc {
			t.Fatalf("rules %q: description %q parses back as %q", rules, desc, got)
		}
		if !slices.Equal(back.allowed, u.allowed) || back.allKeys != u.allKeys || back.allChannels != u.allChannels ||
			!slices.Equal(back.keys, u.keys) || !slices.Equal(back.channels, u.channels) || !slices.Equal(back.passwords, u.passwords) {
			t.Fatalf("rules %q: description %q rebuilds a different user", rules, desc)
		}
		// GETUSER's parts are the description's parts.
		for _, part := range []string{u.keysString(), u.commandRules()} {
			if part != "" && !strings.Contains(desc, part) {
				t.Fatalf("GETUSER part %q is not in ACL LIST's %q", part, desc)
			}
		}
	})
}
