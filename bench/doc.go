// Package bench holds keepkv's benchmark harness: run.sh starts keepkv and
// redis-server (appendfsync always) side by side on loopback and runs the
// redis-benchmark matrix, printing a markdown table with ratios. It is not
// run by go test.
package bench
