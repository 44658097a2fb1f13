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
	// A file whose pages can be dropped: not on a tmpfs (as /tmp may be),
	// so the package's own dir first.
	var path string
	var total int
	for _, parent := range []string{".", "/var/tmp", os.TempDir()} {
		if p, n, ok := uncachedFile(t, parent, 8<<20); ok {
			path, total = p, n
			break
		}
	}
	if path == "" {
		t.Fatal("no file system here drops a file's clean pages on POSIX_FADV_DONTNEED (tried ., /var/tmp and the temp dir): the test cannot start from an uncached file")
	}
	// The reads are asynchronous, but the kernel counts them to this
	// process as it queues them, before readAheadFile returns.
	read := readBytes(t)
	readAheadFile(path)
	if got := readBytes(t) - read; got < int64(total*os.Getpagesize())*9/10 {
		t.Fatalf("readAheadFile read %d bytes of an uncached %d-page file, want nearly all", got, total)
	}
}

// uncachedFile writes a file of size bytes in a new dir under parent, and
// drops its pages from the page cache; false if they stay cached (a tmpfs).
func uncachedFile(t *testing.T, parent string, size int) (string, int, bool) {
	t.Helper()
	dir, err := os.MkdirTemp(parent, "readahead-")
	if err != nil {
		return "", 0, false
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "raft.db")
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil { // clean pages can be dropped
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	cached, total := residentPages(t, path)
	return path, total, cached <= total/4
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
