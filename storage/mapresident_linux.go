package storage

import (
	"math"
	"os"
	"unsafe"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// mapResidentChunk is how much of the file mapResident looks at under one
// read transaction (and one hold of flushMu).
const mapResidentChunk = 64 << 20

// mapResident maps into the process the pages of the bbolt file that the
// page cache already holds (mincore), with MADV_POPULATE_READ, a chunk at a
// time, and returns how many pages it mapped.
//
// A fresh mapping (a restart, a restored snapshot) maps nothing: every
// page a read touches first costs a minor fault even when the file is
// cached, and on this kind of machine (a PVM guest) a fault costs tens of
// microseconds. GET -P 16 over 10M sessions ran at 27k req/s with 0.47
// faults per GET in the first 400k GETs after a restart, and at 140k once
// the pages were mapped. Mapping them in the kernel is far cheaper (a
// probe: 0.2 s for a cached 5.3 GB file; keepkv maps 11 GB in about 2 s
// after a restart). Pages not in the page cache are left alone: reading
// them would compete with the node's own reads for the disk (a cold start
// maps its pages as its reads bring them in).
//
// Like mapWritten, it goes a chunk at a time (viewBetweenCommits); the
// read transaction keeps bbolt from remapping the file meanwhile. It stops
// early when the DB closes, and for good on a kernel without
// MADV_POPULATE_READ (before 5.14).
func (db *DB) mapResident() (mapped int) {
	pageSize := os.Getpagesize()
	vec := make([]byte, mapResidentChunk/pageSize)
	for off := 0; ; off += mapResidentChunk {
		more := false
		open := db.viewBetweenCommits(func(tx *bolt.Tx) {
			size := int(tx.Size())
			if off >= size {
				return
			}
			n, ok := populateResident(db.bolt.Info().Data+uintptr(off), min(mapResidentChunk, size-off), pageSize, vec)
			mapped += n
			more = ok
		})
		if !open || !more {
			return mapped
		}
	}
}

// populateResident maps the resident pages of [addr, addr+length) (addr is
// page aligned), run by run; false if the kernel refused.
func populateResident(addr uintptr, length, pageSize int, vec []byte) (int, bool) {
	pages := (length + pageSize - 1) / pageSize
	vec = vec[:pages]
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, addr, uintptr(length), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		return 0, false
	}
	mapped := 0
	for i := 0; i < pages; {
		if vec[i]&1 == 0 {
			i++
			continue
		}
		j := i
		for j < pages && vec[j]&1 != 0 {
			j++
		}
		if e := populate(addr+uintptr(i*pageSize), (j-i)*pageSize); e != 0 {
			return mapped, false
		}
		mapped += j - i
		i = j
	}
	return mapped, true
}

// defaultMmapSize is InitialMmapSize's default: mmapSizeFor the process's
// address-space limit.
func defaultMmapSize() int { return mmapSizeFor(addressSpaceLimit()) }

// mmapSizeFor returns InitialMmapSize's default under an address-space
// limit (RLIMIT_AS; 0: none): 64 GiB, or a quarter of the limit when that
// is less, but at least 1 GiB, bbolt's own step. bbolt grew its mapping 1
// GiB at a time: loading 10M sessions (a 9.3 GiB file) remapped it nine
// times, and GET right after the load ran at 0.13x of GET over 100k keys.
// A mapping is address space only, but a process under an address-space
// limit (ulimit -v) could not make one of 64 GiB.
func mmapSizeFor(limit uint64) int {
	size := uint64(min(64<<30, math.MaxInt>>1+1))
	if limit > 0 && limit/4 < size {
		size = limit / 4
	}
	return int(max(size, 1<<30))
}

// populate maps [addr, addr+length) with MADV_POPULATE_READ, again (a
// few times) when a signal (Go's preemption sends them) interrupted it or
// the kernel asked to retry.
func populate(addr uintptr, length int) (e unix.Errno) {
	for range 16 {
		_, _, e = unix.Syscall(unix.SYS_MADVISE, addr, uintptr(length), unix.MADV_POPULATE_READ)
		if e != unix.EINTR && e != unix.EAGAIN {
			return e
		}
	}
	return e
}

// addressSpaceLimit returns the process's address-space limit (RLIMIT_AS),
// 0 when there is none.
func addressSpaceLimit() uint64 {
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_AS, &l); err != nil || l.Cur == unix.RLIM_INFINITY {
		return 0
	}
	return l.Cur
}
