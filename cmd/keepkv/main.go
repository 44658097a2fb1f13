// Command keepkv runs a keepkv node: a durable, replicated, Redis-compatible
// key-value store for web sessions. With no flags it serves RESP on
// 127.0.0.1:6379 with its data in ./keepkv-data, as a one-node cluster.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "raft" {
		if err := runAdmin(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "keepkv raft:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "keepkv:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "keepkv:", err)
		os.Exit(1)
	}
}
