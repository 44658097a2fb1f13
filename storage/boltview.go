package storage

import bolt "go.etcd.io/bbolt"

// boltView is a read-only bbolt transaction whose buckets are opened at
// most once. A read-only Tx does not keep the buckets it opens: every
// Tx.Bucket call searches the root page again and allocates a Bucket,
// which cost 12 % of an SPOP's CPU when each element seek opened the
// elements bucket anew. Readers and the applier hold one by value, so a
// read allocates nothing more for it.
type boltView struct {
	tx *bolt.Tx
	// opened buckets: the databases' by number, then the named ones,
	// then the databases' dead buckets (dead.go).
	b [2*NumDBs + 3]*bolt.Bucket
	// the databases' filed marks (dead.go), once read
	mark     [NumDBs]int64
	markRead [NumDBs]bool
}

const (
	viewElems = NumDBs + iota
	viewExpiry
	viewSys
	viewDead // + db
)

func (v *boltView) bucket(i int) *bolt.Bucket {
	if b := v.b[i]; b != nil {
		return b
	}
	var name []byte
	switch i {
	case viewElems:
		name = bucketElems
	case viewExpiry:
		name = bucketExpiry
	case viewSys:
		name = bucketSys
	default:
		if i >= viewDead {
			name = deadBuckets[i-viewDead]
		} else {
			name = dbBuckets[i]
		}
	}
	v.b[i] = v.tx.Bucket(name)
	return v.b[i]
}

func (v *boltView) data(db uint8) *bolt.Bucket { return v.bucket(int(db)) }
func (v *boltView) elems() *bolt.Bucket        { return v.bucket(viewElems) }
func (v *boltView) expiry() *bolt.Bucket       { return v.bucket(viewExpiry) }
func (v *boltView) sys() *bolt.Bucket          { return v.bucket(viewSys) }
