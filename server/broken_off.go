//go:build !keepkv_broken_reads

package server

// brokenReads is true only in a binary built with -tags keepkv_broken_reads,
// which the robustness suite uses to prove it catches stale "linearizable"
// reads. Normal builds compile the broken path away.
const brokenReads = false
