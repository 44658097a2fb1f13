package server

// globMatch reports whether s matches the Redis glob pattern p: '*', '?',
// '[abc]', '[^a]', '[a-z]' and '\' escapes, byte-wise and case-sensitive,
// as Redis's stringmatchlen. Like Redis: a range may be reversed ([z-a]),
// '\' escapes inside a class too, a '[' class with no closing ']' runs to
// the end of the pattern, a trailing lone '\' matches a literal '\', and an
// empty s matches only the empty pattern (stringmatchlen's loop never runs
// on an empty string, so even "*" does not match it: KEYS and SCAN treat a
// pattern of exactly "*" as "no pattern", as Redis does, and so return the
// empty key).
//
// It runs in O(len(p) × len(s)) time and allocates nothing, whatever the
// pattern (promise 6: no glob bomb stalls a node). Every token other than
// '*' matches exactly one byte, so a greedy left-to-right match only ever
// needs to backtrack to the most recent star: if the pattern after that
// star cannot match from some position, no earlier star's choice helps.
// The pattern is never tokenised up front: each attempt re-reads tokens
// from a token boundary, which parses them exactly as a left-to-right scan
// of the whole pattern would.
func globMatch(p, s []byte) bool {
	if len(s) == 0 {
		return len(p) == 0
	}
	var (
		starP []byte // pattern just after the last star; nil before any star
		starS = -1   // where in s the last star's attempt starts
		si    = 0
	)
	for {
		if len(p) > 0 && p[0] == '*' {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if len(p) == 0 {
				return true // a trailing star matches any rest
			}
			starP, starS = p, si
			continue
		}
		if si == len(s) {
			// Only a non-star token (which needs a byte) or nothing is left.
			// Letting the last star take more bytes only leaves fewer for
			// the fixed-width tokens after it, so no backtrack can help.
			return len(p) == 0
		}
		if len(p) > 0 {
			if rest, ok := matchOne(p, s[si]); ok {
				p, si = rest, si+1
				continue
			}
		}
		// Mismatch, or pattern exhausted with bytes left: the last star
		// takes one more byte (starS < si < len(s) keeps this in range).
		if starS < 0 {
			return false
		}
		starS++
		p, si = starP, starS
	}
}

// matchOne matches c against the single-byte token at the start of p (a
// literal, an escape, '?' or a class; never '*'). It returns the pattern
// after the token and whether c matched.
func matchOne(p []byte, c byte) ([]byte, bool) {
	switch p[0] {
	case '?':
		return p[1:], true
	case '[':
		return matchClass(p[1:], c)
	case '\\':
		if len(p) >= 2 {
			p = p[1:]
		}
	}
	return p[1:], p[0] == c
}

// matchClass matches c against the class starting after '['. It returns
// the pattern after the class and whether c matched.
func matchClass(p []byte, c byte) ([]byte, bool) {
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
		p = p[1:] // skip ']'
	}
	return p, match != not
}
