package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// server is one process under test: a keepkv node or a redis-server.
type server struct {
	name string
	port int
	dir  string
	args []string
	bin  string
	cmd  *exec.Cmd
	log  *os.File
	// pprof is a keepkv node's --pprof-addr, set when the matrix profiles.
	pprof string
}

func (s *server) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// start launches the process and waits until it answers a write.
func (s *server) start(ctx context.Context) error {
	if err := s.launch(); err != nil {
		return err
	}
	return s.awaitWritable(ctx, 30*time.Second)
}

// awaitWritable polls with a write until it succeeds: another process's
// progress, for which no event can be awaited.
func (s *server) awaitWritable(ctx context.Context, limit time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	deadline := time.Now().Add(limit)
	for {
		err := c.Set(ctx, "bench:ping", "1", 0).Err()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s on %s not serving after %v: %v (log: %s)", s.name, s.addr(), limit, err, s.log.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the process with sig and waits for it.
func (s *server) stop(sig syscall.Signal) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	s.cmd.Wait()
	s.cmd = nil
	s.log.Close()
}

// majorFaults returns how many page faults of the process had to read
// from disk so far (field 12 of /proc/<pid>/stat).
func (s *server) majorFaults() int64 { return s.statField(12) }

// statField returns field n (1-based, as proc(5) numbers them; n ≥ 3) of
// /proc/<pid>/stat, 0 if it cannot be read.
func (s *server) statField(n int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:])) // fields 3 onwards
	if len(f) < n-2 {
		return 0
	}
	v, _ := strconv.ParseInt(f[n-3], 10, 64)
	return v
}

// rss returns the process's resident set size in bytes.
func (s *server) rss() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			var kb int64
			fmt.Sscan(f[1], &kb)
			return kb << 10
		}
	}
	return 0
}

func keepkvNode(bin, dir string, port int, extra ...string) *server {
	args := append([]string{"--addr", fmt.Sprintf("127.0.0.1:%d", port), "--dir", filepath.Join(dir, "data"), "--log-level", "warn"}, extra...)
	args = append(args, strings.Fields(*flagKeepkv)...)
	s := &server{name: "keepkv", port: port, dir: dir, bin: bin, args: args}
	if *flagProfile && !*flagScale && !*flagHTTP {
		s.pprof = fmt.Sprintf("127.0.0.1:%d", port+pprofPortOffset)
		s.args = append(s.args, "--pprof-addr", s.pprof)
	}
	return s
}

// redisConfigs are the Redis persistence settings keepkv is compared with.
var redisConfigs = []struct{ name, flags string }{
	{"redis off", "--appendonly no"},
	{"redis everysec", "--appendonly yes --appendfsync everysec"},
	{"redis always", "--appendonly yes --appendfsync always"},
}

func redisServer(name, flags, dir string, port int) *server {
	args := append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--logfile", "log.txt"}, strings.Fields(flags)...)
	return &server{name: name, port: port, dir: dir, bin: "redis-server", args: args}
}

// startCluster starts three keepkv nodes; the first bootstraps, the others
// join it. It returns once all three are voters.
func startCluster(ctx context.Context, bin, dir string, port int) ([]*server, error) {
	var nodes []*server
	for i := range 3 {
		extra := []string{"--node-id", fmt.Sprintf("n%d", i+1)}
		if i > 0 {
			extra = append(extra, "--join", fmt.Sprintf("127.0.0.1:%d", port+10000))
		}
		n := keepkvNode(bin, filepath.Join(dir, fmt.Sprintf("n%d", i+1)), port+i, extra...)
		n.name = fmt.Sprintf("keepkv 3-node n%d", i+1)
		if i == 0 {
			if err := n.start(ctx); err != nil {
				return nodes, err
			}
		} else if err := n.launch(); err != nil {
			return nodes, err
		}
		nodes = append(nodes, n)
	}
	c := redis.NewClient(&redis.Options{Addr: nodes[0].addr()})
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		members, _ := c.Do(ctx, "RAFT", "MEMBERS").Slice()
		voters := 0
		for _, m := range members {
			if f, ok := m.([]any); ok && len(f) == 4 && f[2] == "voter" {
				voters++ // a joining node is a non-voter until it has caught up
			}
		}
		if voters == 3 {
			break
		}
		if time.Now().After(deadline) {
			return nodes, fmt.Errorf("3-node cluster not formed after 30s (logs in %s)", dir)
		}
		time.Sleep(50 * time.Millisecond) // joins are other processes' progress
	}
	for _, n := range nodes[1:] {
		if err := n.awaitWritable(ctx, 30*time.Second); err != nil {
			return nodes, err
		}
	}
	return nodes, nil
}

// launch starts the process, output appended to dir/log.txt, without
// waiting for it to serve.
func (s *server) launch() error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	log, err := os.OpenFile(filepath.Join(s.dir, "log.txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	s.log = log
	s.cmd = exec.Command(s.bin, s.args...)
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}

// buildKeepkv compiles ./cmd/keepkv into dir.
func buildKeepkv(dir string) (string, error) {
	bin := filepath.Join(dir, "keepkv")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/keepkv")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/keepkv (run from the repository root): %w", err)
	}
	return bin, nil
}

// requireTools fails clearly when redis-server or redis-benchmark is absent.
func requireTools() error {
	var missing []string
	for _, t := range []string{"redis-server", "redis-benchmark"} {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s not found: install Debian's redis-server and redis-tools (apt-get install redis-server redis-tools)", strings.Join(missing, ", "))
	}
	return nil
}
