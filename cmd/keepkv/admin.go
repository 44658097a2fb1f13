package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

const adminUsage = `Usage: keepkv raft [--addr host:port] [--password pw] <subcommand> [args]

Sends RAFT <subcommand> to a running node (any member; membership changes
are forwarded to the leader):

  info                     this node's Raft state
  members                  the cluster's members: id, Raft address, suffrage, role
  leader                   the leader's id and Raft address
  join <id> <raft-addr>    add a node: a non-voter until it has caught up, then a voter
  remove <id>              remove a member
  transfer [<id>]          hand leadership to another voter
  snapshot                 snapshot now and compact the log
`

// runAdmin implements "keepkv raft ...", writing to out.
func runAdmin(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("keepkv raft", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "127.0.0.1:6379", "a member's client (or Raft) address")
	password := fs.String("password", "", "password, if the node requires one")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		fmt.Fprint(out, adminUsage)
		if err != nil {
			return err
		}
		return fmt.Errorf("missing subcommand")
	}
	c := redis.NewClient(&redis.Options{Addr: *addr, Password: *password, MaxRetries: -1, DisableIdentity: true})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := []any{"RAFT"}
	for _, a := range fs.Args() {
		cmd = append(cmd, a)
	}
	v, err := c.Do(ctx, cmd...).Result()
	if err != nil {
		return err
	}
	printReply(out, v)
	return nil
}

func printReply(out io.Writer, v any) {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if row, ok := e.([]any); ok {
				parts := make([]string, len(row))
				for i := range row {
					parts[i] = fmt.Sprint(row[i])
				}
				fmt.Fprintln(out, strings.Join(parts, "\t"))
				continue
			}
			fmt.Fprintln(out, e)
		}
	case string:
		fmt.Fprint(out, strings.ReplaceAll(v, "\r\n", "\n"))
		if !strings.HasSuffix(v, "\n") {
			fmt.Fprintln(out)
		}
	default:
		fmt.Fprintln(out, v)
	}
}
