package replication

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// residentPages returns how many of the file's pages the page cache holds
// (mincore over a mapping of it).
func residentPages(t *testing.T, path string) (resident, total int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(data)
	ps := os.Getpagesize()
	vec := make([]byte, (len(data)+ps-1)/ps)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	for _, v := range vec {
		resident += int(v & 1)
	}
	return resident, len(vec)
}

// A restarting node reads raft.db ahead before opening it: readAheadFile
// has the kernel read the whole of a file the page cache held none of.
func TestReadAheadFileReadsTheWholeFile(t *testing.T) {
	// Not t.TempDir: /tmp may be a tmpfs, whose pages cannot be dropped.
	dir, err := os.MkdirTemp(".", "readahead-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "raft.db")
	if err := os.WriteFile(path, make([]byte, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil { // clean pages can be dropped
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	f.Close()
	before, total := residentPages(t, path)
	if before > total/4 {
		t.Fatalf("%d of %d pages still cached after dropping them: this file system keeps them (tmpfs?)", before, total)
	}
	// The reads are asynchronous, but the kernel counts them to this
	// process as it queues them, before readAheadFile returns.
	read := readBytes(t)
	readAheadFile(path)
	if got := readBytes(t) - read; got < int64(total*os.Getpagesize())*9/10 {
		t.Fatalf("readAheadFile read %d bytes of an uncached %d-page file, want nearly all", got, total)
	}
}

// readBytes returns the bytes this process has had read from storage
// (read_bytes in /proc/self/io).
func readBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Fatalf("this test needs /proc/self/io: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "read_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no read_bytes in /proc/self/io: %q", b)
	return 0
}
