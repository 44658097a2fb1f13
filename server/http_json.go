package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// respValue is one parsed RESP2 reply.
type respValue struct {
	kind  byte // '+', '-', ':', '$', '*'
	str   []byte
	n     int64
	null  bool
	elems []respValue
}

var errShortReply = errors.New("truncated reply")

// parseRESP parses one RESP2 reply (what the engine writes for an HTTP
// session, which always speaks RESP2) and returns the rest of buf.
func parseRESP(buf []byte, depth int) (respValue, []byte, error) {
	if depth > maxReplyDepth {
		return respValue{}, nil, errors.New("reply nested too deeply")
	}
	i := bytes.Index(buf, []byte("\r\n"))
	if i < 1 {
		return respValue{}, nil, errShortReply
	}
	v := respValue{kind: buf[0]}
	line, rest := buf[1:i], buf[i+2:]
	switch v.kind {
	case '+', '-':
		v.str = line
		return v, rest, nil
	case ':':
		n, err := strconv.ParseInt(string(line), 10, 64)
		if err != nil {
			return v, nil, fmt.Errorf("bad integer %q", line)
		}
		v.n = n
		return v, rest, nil
	case '$':
		n, err := strconv.Atoi(string(line))
		if err != nil {
			return v, nil, fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			v.null = true
			return v, rest, nil
		}
		if len(rest) < n+2 {
			return v, nil, errShortReply
		}
		v.str = rest[:n]
		return v, rest[n+2:], nil
	case '*':
		n, err := strconv.Atoi(string(line))
		if err != nil {
			return v, nil, fmt.Errorf("bad array length %q", line)
		}
		if n < 0 {
			v.null = true
			return v, rest, nil
		}
		v.elems = make([]respValue, 0, min(n, 1024))
		for range n {
			var e respValue
			if e, rest, err = parseRESP(rest, depth+1); err != nil {
				return v, nil, err
			}
			v.elems = append(v.elems, e)
		}
		return v, rest, nil
	}
	return v, nil, fmt.Errorf("unexpected reply type %q", v.kind)
}

// appendJSON writes v as Upstash does: integers as numbers, nil as null,
// arrays as arrays, and strings (bulk, status, and errors nested in an
// array) as strings, base64-encoded with Upstash-Encoding: base64 except
// a command's plain "OK".
func (q *httpReq) appendJSON(b []byte, v respValue, depth int) []byte {
	switch v.kind {
	case ':':
		return strconv.AppendInt(b, v.n, 10)
	case '*':
		if v.null {
			return append(b, "null"...)
		}
		b = append(b, '[')
		for i, e := range v.elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = q.appendJSON(b, e, depth+1)
		}
		return append(b, ']')
	case '$':
		if v.null {
			return append(b, "null"...)
		}
	case '+':
		if depth == 0 && string(v.str) == "OK" {
			return append(b, `"OK"`...)
		}
	}
	if q.b64 {
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.str)
		return append(b, '"')
	}
	return appendJSONString(b, v.str)
}

// appendJSONString writes s as a JSON string; invalid UTF-8 becomes
// U+FFFD, as Upstash's responses without base64 encoding do.
func appendJSONString(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// parseJSONCommand reads POST /'s body: one command as a JSON array of
// strings, numbers or booleans.
func parseJSONCommand(body []byte, lim Limits) ([][]byte, string) {
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, "ERR failed to parse command: want a JSON array of strings, e.g. [\"SET\",\"key\",\"value\"]"
	}
	return commandArgs(raw, lim)
}

// parseJSONCommands reads /pipeline's and /multi-exec's body: a JSON
// array of commands.
func parseJSONCommands(body []byte, lim Limits) ([][][]byte, string) {
	var raw [][]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, "ERR failed to parse pipeline request: want a JSON array of commands, e.g. [[\"SET\",\"key\",\"value\"],[\"GET\",\"key\"]]"
	}
	if len(raw) == 0 {
		return nil, "ERR empty pipeline"
	}
	cmds := make([][][]byte, len(raw))
	for i, c := range raw {
		args, msg := commandArgs(c, lim)
		if msg != "" {
			return nil, msg
		}
		cmds[i] = args
	}
	return cmds, ""
}

// commandArgs converts one command's JSON elements to arguments: strings
// as they are, numbers as written (604800), booleans as true/false.
func commandArgs(raw []json.RawMessage, lim Limits) ([][]byte, string) {
	if len(raw) == 0 {
		return nil, "ERR empty command"
	}
	if int64(len(raw)) > lim.MaxMultibulk {
		return nil, "ERR Protocol error: invalid multibulk length"
	}
	args := make([][]byte, len(raw))
	for i, r := range raw {
		r = bytes.TrimSpace(r)
		switch {
		case len(r) > 0 && r[0] == '"':
			var s string
			if err := json.Unmarshal(r, &s); err != nil {
				return nil, "ERR failed to parse command: " + err.Error()
			}
			args[i] = []byte(s)
		case len(r) > 0 && (r[0] == '-' || (r[0] >= '0' && r[0] <= '9')):
			args[i] = append([]byte(nil), r...) // a valid JSON number, as written
		case string(r) == "true" || string(r) == "false":
			args[i] = append([]byte(nil), r...)
		default:
			return nil, fmt.Sprintf("ERR failed to parse command: argument %d is %s; want a string, a number or a boolean", i+1, jsonKind(r))
		}
	}
	if len(args[0]) == 0 {
		return nil, "ERR empty command"
	}
	return args, ""
}

func jsonKind(r []byte) string {
	switch {
	case string(r) == "null":
		return "null"
	case len(r) > 0 && r[0] == '[':
		return "an array"
	case len(r) > 0 && r[0] == '{':
		return "an object"
	}
	return "not valid"
}
