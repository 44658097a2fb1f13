package server

import "strings"

// Lua 5.1's parser refuses a chunk nested more than LUAI_MAXCCALLS (200)
// "syntax levels" deep: brackets, blocks, and chains of the
// right-associative operators (.. and ^), which it parses recursively.
// gopher-lua has no such limit, and its compiler recurses over the syntax
// tree and takes time quadratic in some nestings, so a small script could
// overflow the Go stack (which kills the process) or stall apply. Before
// compiling, syntaxLevels scans the chunk's tokens and measures its
// nesting as Lua 5.1 would, closely enough to refuse what Lua 5.1 refuses.

const maxSyntaxLevels = 200

// maxElseifs bounds the elseif branches of a chunk: Lua 5.1 parses them
// in a loop, gopher-lua as nested statements (time quadratic in their
// number).
const maxElseifs = 2000

// syntaxTooDeep reports the line where src nests deeper than
// maxSyntaxLevels (brackets and blocks, plus the run of right-associative
// operators within the innermost one), or 0.
func syntaxTooDeep(src string) int {
	var (
		depth int
		chain int   // .. and ^ since the expression began
		saved []int // chain of each enclosing level
		line  = 1
		elifs int // elseif branches, which gopher-lua nests
	)
	open := func() {
		saved = append(saved, chain)
		chain = 0
		depth++
	}
	closeLevel := func() {
		if depth > 0 {
			depth--
		}
		if n := len(saved); n > 0 {
			chain = saved[n-1]
			saved = saved[:n-1]
		}
	}
	for i := 0; i < len(src); {
		if depth+chain > maxSyntaxLevels || elifs > maxElseifs {
			return line + strings.Count(src[:i], "\n")
		}
		c := src[i]
		switch {
		case c == '-' && strings.HasPrefix(src[i:], "--"):
			i += 2
			if n := longBracket(src[i:]); n >= 0 {
				i += skipLong(src[i:], n)
			} else {
				for i < len(src) && src[i] != '\n' {
					i++
				}
			}
		case c == '[' && longBracket(src[i:]) >= 0:
			i += skipLong(src[i:], longBracket(src[i:]))
		case c == '"' || c == '\'':
			i++
			for i < len(src) && src[i] != c && src[i] != '\n' {
				if src[i] == '\\' {
					i++
				}
				i++
			}
			i++
		case c == '(' || c == '[' || c == '{':
			open()
			i++
		case c == ')' || c == ']' || c == '}':
			closeLevel()
			i++
		case c == '.' && strings.HasPrefix(src[i:], ".."):
			if strings.HasPrefix(src[i:], "...") {
				i += 3
				continue
			}
			chain++
			i += 2
		case c == '^':
			chain++
			i++
		case c == ',' || c == ';' || c == '=':
			chain = 0
			i++
		case isAlpha(int(c)) || c == '_':
			j := i
			for j < len(src) && (isAlpha(int(src[j])) || isDigit(int(src[j])) || src[j] == '_') {
				j++
			}
			switch src[i:j] {
			case "function", "do", "then", "repeat":
				open()
			case "end", "until":
				closeLevel()
			case "elseif":
				closeLevel()
				elifs++
			case "local", "return", "if", "while", "for", "in", "else", "break":
				chain = 0
			}
			i = j
		default:
			i++
		}
	}
	if depth+chain > maxSyntaxLevels || elifs > maxElseifs {
		return strings.Count(src, "\n") + 1
	}
	return 0
}

// longBracket returns the level of a long bracket "[==[" at the start of
// s, or -1.
func longBracket(s string) int {
	if len(s) == 0 || s[0] != '[' {
		return -1
	}
	n := 1
	for n < len(s) && s[n] == '=' {
		n++
	}
	if n < len(s) && s[n] == '[' {
		return n - 1
	}
	return -1
}

// skipLong returns the length of the long string or comment of level
// at the start of s (all of s when it is not closed).
func skipLong(s string, level int) int {
	end := "]" + strings.Repeat("=", level) + "]"
	if i := strings.Index(s[level+2:], end); i >= 0 {
		return level + 2 + i + len(end)
	}
	return len(s)
}
