package storage

import "errors"

// CmdError is a deterministic command error whose text is the reply, in
// Redis's wording (e.g. "ERR hash value is not an integer"). The
// collection families use it for their own errors.
type CmdError string

func (e CmdError) Error() string { return string(e) }

// Deterministic command errors. They are returned as a Result's Err, never as
// an ApplyBatch error, and server translates them to Redis's wording.
var (
	// ErrWrongType is returned when a command meets a key holding another type.
	ErrWrongType = errors.New("storage: wrong type")
	// ErrNotInteger is returned when a value is not an integer or out of range.
	ErrNotInteger = errors.New("storage: value is not an integer")
	// ErrNotFloat is returned when a value is not a valid float.
	ErrNotFloat = errors.New("storage: value is not a valid float")
	// ErrOverflow is returned when an increment or decrement would overflow.
	ErrOverflow = errors.New("storage: increment or decrement would overflow")
	// ErrNaN is returned when INCRBYFLOAT would produce NaN or Infinity.
	ErrNaN = errors.New("storage: increment would produce NaN or Infinity")
	// ErrNoSuchKey is returned by RENAME when the source key does not exist.
	ErrNoSuchKey = errors.New("storage: no such key")
	// ErrTooLarge is returned when a value would exceed the entry's size limit.
	ErrTooLarge = errors.New("storage: string exceeds maximum allowed size")
	// ErrInternal is returned for a command whose apply panicked; it was
	// rolled back and changed nothing.
	ErrInternal = errors.New("internal error")
	// ErrKeyTooLong is returned by a command that would store a key,
	// field or member longer than MaxKeyLen.
	ErrKeyTooLong = errors.New("key, field or member too long")
	// ErrBadEntry is returned for a log entry that cannot be decoded.
	ErrBadEntry = errors.New("storage: malformed log entry")
	// ErrBadSnapshot is returned by Restore for a stream that is not a keepkv snapshot.
	ErrBadSnapshot = errors.New("storage: not a keepkv snapshot")
	// ErrClosed is returned by operations on a closed DB.
	ErrClosed = errors.New("storage: database is closed")
)
