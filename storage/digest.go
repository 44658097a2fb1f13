package storage

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

type digest struct{ d *xxhash.Digest }

func newDigest() digest { return digest{xxhash.New()} }

func (d digest) add(b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	d.d.Write(n[:])
	d.d.Write(b)
}

func (d digest) sum() uint64 { return d.d.Sum64() }
