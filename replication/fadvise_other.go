//go:build !linux

package replication

// readAheadFile does nothing outside Linux (see fadvise_linux.go).
func readAheadFile(string) {}
