//go:build keepkv_broken_reads

package server

// brokenReads makes every node serve default reads from its local state
// without confirming leadership: deliberately wrong, for the robustness
// suite's self-test only.
const brokenReads = true
