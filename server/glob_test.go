package server

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// refGlob is the reference for globMatch's semantics: the recursive
// matcher keepkv used before issue 13 (refGlobRec, copied unchanged), which
// follows Redis's stringmatchlen but is exponential on patterns like
// "a*a*a*…b", so only call it on short inputs. The one deliberate change is
// the empty subject: stringmatchlen's loop runs only while both pattern and
// string are non-empty, so Redis matches "" against the empty pattern only
// (KEYS "**" does not return the key ""; TestGlobAgainstRedis checks it),
// while the old matcher let "*" match it.
func refGlob(p, s []byte) bool {
	if len(s) == 0 {
		return len(p) == 0
	}
	return refGlobRec(p, s)
}

func refGlobRec(p, s []byte) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if refGlobRec(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if len(s) == 0 {
				return false
			}
			s = s[1:]
		case '[':
			if len(s) == 0 {
				return false
			}
			var ok bool
			p, ok = refMatchClass(p[1:], s[0])
			if !ok {
				return false
			}
			s = s[1:]
			continue
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if len(s) == 0 || p[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		p = p[1:]
	}
	return len(s) == 0
}

func refMatchClass(p []byte, c byte) ([]byte, bool) {
	not := len(p) > 0 && p[0] == '^'
	if not {
		p = p[1:]
	}
	match := false
	for len(p) > 0 && p[0] != ']' {
		switch {
		case p[0] == '\\' && len(p) >= 2:
			if p[1] == c {
				match = true
			}
			p = p[2:]
		case len(p) >= 3 && p[1] == '-':
			lo, hi := p[0], p[2]
			if lo > hi {
				lo, hi = hi, lo
			}
			if c >= lo && c <= hi {
				match = true
			}
			p = p[3:]
		default:
			if p[0] == c {
				match = true
			}
			p = p[1:]
		}
	}
	if len(p) > 0 {
		p = p[1:]
	}
	return p, match != not
}

// globAlphabet holds every byte the pattern syntax gives a meaning to, and
// two plain ones.
const globAlphabet = "ab*?[]^-\\"

// allStrings returns every string of length 0..maxLen over alphabet.
func allStrings(alphabet string, maxLen int) [][]byte {
	out := [][]byte{{}}
	prev := [][]byte{{}}
	for range maxLen {
		var next [][]byte
		for _, s := range prev {
			for i := range len(alphabet) {
				next = append(next, append(slices.Clip(s), alphabet[i]))
			}
		}
		out = append(out, next...)
		prev = next
	}
	return out
}

func randomString(r *rand.Rand, alphabet string, maxLen int) []byte {
	b := make([]byte, r.IntN(maxLen+1))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return b
}

// TestGlobMatchesReference checks globMatch against refGlob: exhaustively
// for every pattern of up to 4 bytes over the syntax alphabet against every
// subject of up to 3 bytes, then on random longer pairs.
func TestGlobMatchesReference(t *testing.T) {
	patterns := allStrings(globAlphabet, 4)
	subjects := allStrings(globAlphabet, 3)
	if testing.Short() {
		subjects = allStrings("a-\\]", 3)
	}
	checked := 0
	for _, p := range patterns {
		for _, s := range subjects {
			if got, want := globMatch(p, s), refGlob(p, s); got != want {
				t.Fatalf("globMatch(%q, %q) = %v, reference says %v", p, s, got, want)
			}
			checked++
		}
	}
	r := rand.New(rand.NewPCG(13, 13))
	n := 300_000
	if testing.Short() {
		n = 30_000
	}
	for range n {
		p := randomString(r, globAlphabet, 10)
		s := randomString(r, globAlphabet, 10)
		if r.IntN(2) == 0 {
			s = randomString(r, "ab", 12) // subjects the plain parts can match
		}
		if got, want := globMatch(p, s), refGlob(p, s); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, reference says %v", p, s, got, want)
		}
		checked++
	}
	t.Logf("%d pattern/subject pairs agree", checked)
}

// globKeys are stored in redis-server and keepkv for TestGlobAgainstRedis;
// they contain every byte the pattern syntax gives a meaning to.
var globKeys = []string{
	"", "a", "b", "ab", "aab", "abc", "abab", "ba", "A", "z", "-", "^", "]", "[", "*", "?", "\\",
	"a*b", "a?b", "a[b", "a]b", "a\\b", "a\\", "a-b", "a^b", "a\\\\b", "user:1", "user:2",
	"user:10", "session:x", "xyz", "zyx", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
}

// globPatterns are asked of both servers with KEYS and SCAN MATCH.
var globPatterns = []string{
	"*", "**", "a*", "*b", "*a*", "a*b", "?", "??", "a?b", "???", "",
	"[ab]", "[ab]*", "[^a]", "[^a]*", "[a-c]", "[c-a]", "[a-c]*", "[c-a]*", "[z-a]",
	"a[bc]", "a[b-]", "a[-b]", "[-]", "[\\-]", "[a\\-z]", "[!a]", "[]", "[]]", "[^]", "[^]]",
	"a\\*b", "a\\?b", "a\\[b", "a[\\]]b", "a[\\[]b", "[\\^]", "\\a", "\\*", "\\?", "\\\\",
	"a\\\\b", "a[\\\\]b", "a\\", "\\", "[\\", "[\\]",
	"a[b", "a[", "[", "[a-", "[a-c", "[^", "a[^", "*[", "[*", "[?]", "a[*]b", "a[?]b",
	"user:*", "user:?", "user:[12]", "user:[^1]*", "user:1*", "*:*", "?????????",
	"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
	"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*", "*a", "a*a", "*z*", "[a-z][a-z][a-z]",
}

// TestGlobAgainstRedis stores keys whose bytes exercise the pattern syntax
// in redis-server and in keepkv, and checks that KEYS and SCAN MATCH return
// the same set for every pattern, and that globMatch agrees key by key.
func TestGlobAgainstRedis(t *testing.T) {
	ctx := context.Background()
	rc := client(t, startRedis(t), 2)
	kc := client(t, startServer(t, nil).Addr().String(), 2)
	for _, k := range globKeys {
		if err := rc.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := kc.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range globPatterns {
		want, err := rc.Keys(ctx, p).Result()
		if err != nil {
			t.Fatalf("redis KEYS %q: %v", p, err)
		}
		slices.Sort(want)
		got, err := kc.Keys(ctx, p).Result()
		if err != nil {
			t.Fatalf("keepkv KEYS %q: %v", p, err)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("KEYS %q: keepkv %q, redis-server %q", p, got, want)
		}
		scanned, err := scanAll(ctx, kc, p)
		if err != nil {
			t.Fatalf("keepkv SCAN MATCH %q: %v", p, err)
		}
		if !slices.Equal(scanned, want) {
			t.Errorf("SCAN MATCH %q: keepkv %q, redis-server %q", p, scanned, want)
		}
		var direct []string
		for _, k := range globKeys {
			// KEYS and SCAN take "*" to mean no pattern (see globMatch).
			if p == "*" || globMatch([]byte(p), []byte(k)) {
				direct = append(direct, k)
			}
		}
		slices.Sort(direct)
		if !slices.Equal(direct, want) {
			t.Errorf("globMatch %q: %q, redis-server %q", p, direct, want)
		}
	}
}

// scanAll runs a whole SCAN MATCH pattern in small pages and returns what
// it saw, sorted (duplicates kept).
func scanAll(ctx context.Context, c *redis.Client, pattern string) ([]string, error) {
	var out []string
	var cursor uint64
	for {
		// Not c.Scan: go-redis leaves out MATCH "" (which matches only the
		// empty key), and this wants to send it.
		v, err := c.Do(ctx, "SCAN", cursor, "MATCH", pattern, "COUNT", 7).Slice()
		if err != nil {
			return nil, err
		}
		if len(v) != 2 {
			return nil, fmt.Errorf("SCAN reply %v", v)
		}
		for _, k := range v[1].([]any) {
			out = append(out, k.(string))
		}
		if cursor, err = strconv.ParseUint(v[0].(string), 10, 64); err != nil {
			return nil, err
		}
		if cursor == 0 {
			break
		}
	}
	slices.Sort(out)
	return out, nil
}

// TestGlobBombIsFast runs the patterns that made the recursive matcher
// backtrack exponentially. Each must finish well inside a second; under the
// old matcher the first takes minutes, so this fails on its deadline rather
// than hanging the suite. Then the same bomb goes through KEYS and SCAN
// MATCH of a running node, which must keep answering other clients.
func TestGlobBombIsFast(t *testing.T) {
	bomb := []byte(strings.Repeat("a*", 20) + "b")
	cases := []struct {
		p, s []byte
		want bool
	}{
		{bomb, bytes.Repeat([]byte("a"), 40), false},
		{bomb, bytes.Repeat([]byte("a"), 1000), false},
		{[]byte(strings.Repeat("*a", 20) + "*b"), bytes.Repeat([]byte("a"), 1000), false},
		{[]byte(strings.Repeat("*?", 30) + "*b"), bytes.Repeat([]byte("a"), 1000), false},
		{[]byte(strings.Repeat("*[a-c]", 30) + "*[^a]"), bytes.Repeat([]byte("a"), 1000), false},
		{[]byte(strings.Repeat("a*", 20) + "b"), append(bytes.Repeat([]byte("a"), 999), 'b'), true},
		{[]byte(strings.Repeat("*a", 500)), bytes.Repeat([]byte("a"), 5000), true},
		{[]byte(strings.Repeat("*a", 500) + "b"), bytes.Repeat([]byte("a"), 5000), false},
		// The new matcher's own worst case: every attempt after the star
		// reads 500 tokens before failing, 5000 times.
		{[]byte("*" + strings.Repeat("a", 500) + "b"), bytes.Repeat([]byte("a"), 5000), false},
		{[]byte("*" + strings.Repeat("[a-c]", 500) + "b"), bytes.Repeat([]byte("a"), 5000), false},
	}
	for i, c := range cases {
		done := make(chan bool, 1)
		start := time.Now()
		go func() { done <- globMatch(c.p, c.s) }()
		select {
		case got := <-done:
			if got != c.want {
				t.Fatalf("case %d: globMatch(%.40q…, %d bytes) = %v, want %v", i, c.p, len(c.s), got, c.want)
			}
			t.Logf("case %d: %d-byte pattern, %d-byte subject: %v", i, len(c.p), len(c.s), time.Since(start))
		case <-time.After(5 * time.Second):
			// The goroutine is left running: the old matcher would not
			// return for minutes.
			t.Fatalf("case %d: globMatch(%.40q…, %d bytes) still running after 5s", i, c.p, len(c.s))
		}
	}

	ctx := context.Background()
	s := startServer(t, nil)
	c := client(t, s.Addr().String(), 2)
	other := client(t, s.Addr().String(), 2)
	if err := c.Set(ctx, strings.Repeat("a", 40), "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, strings.Repeat("a", 1000), "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if keys, err := c.Keys(tctx, string(bomb)).Result(); err != nil || len(keys) != 0 {
		t.Fatalf("KEYS bomb = %q, %v; want no keys", keys, err)
	}
	if keys, _, err := c.Scan(tctx, 0, string(bomb), 1000).Result(); err != nil || len(keys) != 0 {
		t.Fatalf("SCAN MATCH bomb = %q, %v; want no keys", keys, err)
	}
	if err := other.Set(tctx, "after", "1", 0).Err(); err != nil {
		t.Fatalf("SET after the bomb: %v", err)
	}
}

// FuzzGlob compares globMatch with the reference matcher. Inputs are capped
// (and the number of stars with them) so that the exponential reference
// stays fast.
func FuzzGlob(f *testing.F) {
	for _, p := range globPatterns {
		f.Add([]byte(p), []byte("a*b"))
		f.Add([]byte(p), []byte("aab"))
	}
	f.Add([]byte("a[\\]]b"), []byte("a]b"))
	f.Add([]byte("[^a-"), []byte("b"))
	f.Fuzz(func(t *testing.T, p, s []byte) {
		if len(p) > 16 || len(s) > 32 || bytes.Count(p, []byte("*")) > 5 {
			t.Skip()
		}
		if got, want := globMatch(p, s), refGlob(p, s); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, reference says %v", p, s, got, want)
		}
	})
}
