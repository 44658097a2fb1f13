package server

import (
	"bytes"
	"math"

	"github.com/keepkv/keepkv/storage"
)

// Argument parsing shared by the handlers.

func eq(arg []byte, word string) bool {
	return len(arg) == len(word) && bytes.EqualFold(arg, []byte(word))
}

func parseInt(b []byte) (int64, bool) { return storage.ParseInt(b) }

// expireUnit says how an expire argument is read.
type expireUnit struct {
	ms       int64 // 1000 for seconds, 1 for milliseconds
	absolute bool
}

var (
	unitEX   = expireUnit{ms: 1000}
	unitPX   = expireUnit{ms: 1}
	unitEXAT = expireUnit{ms: 1000, absolute: true}
	unitPXAT = expireUnit{ms: 1, absolute: true}
)

// deadline turns an expire argument into an absolute Unix-ms deadline, as
// Redis's getExpireMillisecondsOrReply does. positive requires the value to
// be above zero (SET, SETEX, GETEX); EXPIRE accepts any value.
func (u expireUnit) deadline(arg []byte, now int64, positive bool, name string) (int64, string) {
	v, ok := parseInt(arg)
	if !ok {
		return 0, errNotInteger
	}
	if positive && v <= 0 {
		return 0, errExpireTime(name)
	}
	if v > math.MaxInt64/u.ms || v < math.MinInt64/u.ms {
		return 0, errExpireTime(name)
	}
	v *= u.ms
	if !u.absolute {
		if (v > 0 && now > math.MaxInt64-v) || (v < 0 && now < math.MinInt64-v) {
			return 0, errExpireTime(name)
		}
		v += now
	}
	return v, ""
}

// checkValue enforces the value-size limit.
func (x *execCtx) checkValue(v []byte) string {
	if int64(len(v)) > x.s.cfg.MaxValueSize {
		return errTooLarge
	}
	return ""
}
