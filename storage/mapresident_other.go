//go:build !linux

package storage

// mapResident maps nothing outside Linux (see mapresident_linux.go).
func (db *DB) mapResident() int { return 0 }

// addressSpaceLimit is not looked up outside Linux: bbolt's mapping starts
// at 1 GiB there, as it always did.
func addressSpaceLimit() uint64 { return 4 << 30 }
