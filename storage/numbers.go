package storage

import (
	"math"
	"math/big"
	"strings"
)

// ParseInt parses b as Redis's string2ll does: an optional '-', no leading
// zeros, no '+', no spaces, within int64.
func ParseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (math.MaxUint64-9)/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// floatPrec is the mantissa precision of x87 long double, which Redis uses
// for INCRBYFLOAT; math/big gives the same rounding on every platform.
const floatPrec = 64

// maxFloatChars mirrors Redis's MAX_LONG_DOUBLE_CHARS.
const maxFloatChars = 5 * 1024

// ParseFloat parses b as Redis's string2ld does (strtold without leading
// space, trailing garbage or NaN).
func ParseFloat(b []byte) (*big.Float, bool) {
	if len(b) == 0 || len(b) >= maxFloatChars {
		return nil, false
	}
	s := string(b)
	switch strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(s, "+"), "-")) {
	case "inf", "infinity":
		return new(big.Float).SetInf(s[0] == '-'), true
	}
	if strings.ContainsAny(s, "_ \t\r\n\v\f") {
		return nil, false
	}
	// strtold reads hexadecimal floats too ("0x10", "0x1.8p3").
	base := 10
	if unsigned := strings.TrimLeft(s, "+-"); len(s)-len(unsigned) <= 1 && len(unsigned) > 2 && (unsigned[:2] == "0x" || unsigned[:2] == "0X") {
		base = 0
	}
	f, _, err := big.ParseFloat(s, base, floatPrec, big.ToNearestEven)
	if err != nil {
		return nil, false
	}
	// strtold's range, which math/big does not have: past long double's
	// largest value it returns HUGE_VALL, below half its smallest subnormal
	// zero, both with ERANGE, and string2ld refuses both. Without this a
	// value like 1e-202000000 parsed, and formatting the sum took minutes
	// of apply (decimal digits by the hundred million).
	if f.Sign() != 0 && !f.IsInf() {
		if e := f.MantExp(nil); e > 16384 || e < -16445 {
			return nil, false
		}
	}
	return f, true
}

// FormatFloat renders f as Redis's ld2string(LD_STR_HUMAN): "%.17Lf" with
// trailing zeros and a trailing dot removed, and "-0" written as "0".
func FormatFloat(f *big.Float) string {
	s := f.Text('f', 17)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// addFloat returns a+b at long-double precision, or false when the result is
// not finite.
func addFloat(a, b *big.Float) (*big.Float, bool) {
	if a.IsInf() || b.IsInf() {
		return nil, false
	}
	sum := new(big.Float).SetPrec(floatPrec).SetMode(big.ToNearestEven).Add(a, b)
	// x87 long double overflows past ~1.19e4932.
	if sum.MantExp(nil) > 16384 {
		return nil, false
	}
	return sum, true
}

// addInt64 returns a+b, or false if the sum overflows int64.
func addInt64(a, b int64) (int64, bool) {
	if (b < 0 && a < 0 && b < math.MinInt64-a) || (b > 0 && a > 0 && b > math.MaxInt64-a) {
		return 0, false
	}
	return a + b, true
}
