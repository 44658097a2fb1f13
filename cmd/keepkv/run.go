package main

import (
	"context"
	"net/http"
	_ "net/http/pprof"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/keepkv/keepkv/server"
)

// run starts a node and serves until ctx is cancelled (SIGINT, SIGTERM),
// then shuts it down in order.
func run(ctx context.Context, c Config) error {
	logger := hclog.New(&hclog.LoggerOptions{
		Name: "keepkv", Level: hclog.LevelFromString(c.LogLevel), Output: os.Stderr,
	})
	id, err := nodeID(c.Dir, c.NodeID)
	if err != nil {
		return err
	}
	if c.PprofAddr != "" {
		go func() {
			logger.Info("serving pprof", "addr", c.PprofAddr)
			if err := http.ListenAndServe(c.PprofAddr, nil); err != nil {
				logger.Error("pprof server stopped", "error", err)
			}
		}()
	}
	sc := c.server(id)
	sc.Logger = logger
	s, err := server.Start(sc)
	if err != nil {
		return err
	}
	logger.Info("keepkv started", "addr", s.Addr().String(), "raft", c.RaftAddr, "dir", c.Dir, "id", id)
	select {
	case <-ctx.Done():
	case <-s.ShutdownRequested():
		logger.Info("SHUTDOWN requested by a client")
	}
	logger.Info("shutting down", "timeout", c.ShutdownTimeout)
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(c.ShutdownTimeout):
		// Everything acknowledged is in the fsynced Raft log: exiting now
		// is as safe as SIGKILL, and the restart replays what is missing.
		logger.Error("orderly shutdown did not finish in time; exiting anyway", "timeout", c.ShutdownTimeout)
		os.Exit(1)
		return nil
	}
}
