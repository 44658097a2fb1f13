//go:build !linux

package storage

// mapResident maps nothing outside Linux (see mapresident_linux.go).
func (db *DB) mapResident() int { return 0 }

// defaultMmapSize is InitialMmapSize's default outside Linux: 1 GiB, as it
// always was (on Windows bbolt grows the file to its mapping).
func defaultMmapSize() int { return 1 << 30 }
