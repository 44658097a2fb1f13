//go:build !linux

package storage

// mapResident maps nothing outside Linux (see mapresident_linux.go).
func (db *DB) mapResident() int { return 0 }
