package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keepkv/keepkv/replication"
	"github.com/keepkv/keepkv/storage"
)

// Redis's error replies, word for word; clients and test suites match them.
const (
	errSyntax        = "ERR syntax error"
	errNotInteger    = "ERR value is not an integer or out of range"
	errNotFloat      = "ERR value is not a valid float"
	errWrongType     = "WRONGTYPE Operation against a key holding the wrong kind of value"
	errOverflow      = "ERR increment or decrement would overflow"
	errDecrOverflow  = "ERR decrement would overflow"
	errNaN           = "ERR increment would produce NaN or Infinity"
	errNoSuchKey     = "ERR no such key"
	errDBIndex       = "ERR DB index is out of range"
	errInvalidCursor = "ERR invalid cursor"
	errOffset        = "ERR offset is out of range"
	errTooLarge      = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	errNoProto       = "NOPROTO unsupported protocol version"
	errNoAuthConfig  = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
	errNXandXX       = "ERR NX and XX, GT or LT options at the same time are not compatible"
	errGTandLT       = "ERR GT and LT options at the same time are not compatible"
)

// errKeyTooLong is keepkv's own: a key, field or member becomes a bbolt
// key, which is limited to 32 KiB.
var errKeyTooLong = fmt.Sprintf("ERR key, field or member too long: keepkv accepts at most %d bytes", storage.MaxKeyLen)

func errArity(name string) string {
	return fmt.Sprintf("ERR wrong number of arguments for '%s' command", strings.ToLower(name))
}

func errExpireTime(name string) string {
	return fmt.Sprintf("ERR invalid expire time in '%s' command", strings.ToLower(name))
}

func errUnknownCommand(args [][]byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ERR unknown command '%.128s', with args beginning with: ", args[0])
	for _, a := range args[1:] {
		if b.Len() >= 128 {
			break
		}
		fmt.Fprintf(&b, "'%.128s' ", a)
	}
	return b.String()
}

// storageError translates a deterministic command error.
func storageError(err error) string {
	var ce storage.CmdError
	switch {
	case errors.As(err, &ce):
		return string(ce)
	case errors.Is(err, storage.ErrWrongType):
		return errWrongType
	case errors.Is(err, storage.ErrNotInteger):
		return errNotInteger
	case errors.Is(err, storage.ErrNotFloat):
		return errNotFloat
	case errors.Is(err, storage.ErrOverflow):
		return errOverflow
	case errors.Is(err, storage.ErrNaN):
		return errNaN
	case errors.Is(err, storage.ErrNoSuchKey):
		return errNoSuchKey
	case errors.Is(err, storage.ErrTooLarge):
		return errTooLarge
	case errors.Is(err, storage.ErrKeyTooLong):
		return errKeyTooLong
	case errors.Is(err, storage.ErrInternal):
		return "ERR " + err.Error() + "; nothing was changed"
	}
	return "ERR " + err.Error()
}

// clusterError translates a replication failure.
func clusterError(err error) string {
	var catching *errCatchingUp
	switch {
	case errors.As(err, &catching):
		return "TRYAGAIN " + catching.Error()
	case errors.Is(err, replication.ErrNoLeader):
		return "CLUSTERDOWN no leader elected; try again later"
	case errors.Is(err, replication.ErrNotLeader):
		return "TRYAGAIN this node is not the leader"
	case errors.Is(err, replication.ErrNotReady):
		return "TRYAGAIN leader is catching up; try again later"
	case errors.Is(err, replication.ErrUnknownOutcome):
		return "TRYAGAIN leadership lost; the write may or may not have been applied"
	case errors.Is(err, replication.ErrClosed):
		return "ERR server is shutting down"
	case errors.Is(err, context.DeadlineExceeded):
		return "TRYAGAIN timed out waiting for the cluster"
	}
	return "ERR " + err.Error()
}
