package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/keepkv/keepkv/storage"
)

const (
	testClusterSecret = "peerauth-test-secret-0123456789abcdef"
	wrongSecret       = "peerauth-wrong-secret-0123456789abcdef"
)

// strangerStream is a raft.StreamLayer that dials from a chosen loopback
// address, so the members' logs can name the stranger.
type strangerStream struct {
	net.Listener
	ip net.IP
}

func (s *strangerStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: s.ip}}
	return d.Dial("tcp", string(addr))
}

func strangerTransport(t *testing.T, ip string) *raft.NetworkTransport {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	tr := raft.NewNetworkTransport(&strangerStream{Listener: ln, ip: net.ParseIP(ip)}, 1, 3*time.Second, io.Discard)
	t.Cleanup(func() { tr.Close() })
	return tr
}

// peerHandshake is the dialer's side of the cluster-secret handshake
// (replication/peerauth.go), written from the wire format so the test does
// not trust the code it checks. It returns the connection when the member
// answered with a valid proof of secret.
func peerHandshake(t *testing.T, from, to, secret string) (net.Conn, error) {
	t.Helper()
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).Dial("tcp", to)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(15 * time.Second))
	mac := func(role string, own, peer []byte) []byte {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte("keepkv peer auth v1\x00" + role))
		m.Write(own)
		m.Write(peer)
		return m.Sum(nil)
	}
	const magic = "KKVPEER\x01"
	nc := make([]byte, 32)
	rand.Read(nc)
	c.Write(append([]byte(magic), nc...))
	theirs := make([]byte, len(magic)+32)
	if _, err := io.ReadFull(c, theirs); err != nil || string(theirs[:len(magic)]) != magic {
		c.Close()
		return nil, fmt.Errorf("no challenge: %v", err)
	}
	ns := theirs[len(magic):]
	c.Write(mac("client", nc, ns))
	proof := make([]byte, 32)
	if _, err := io.ReadFull(c, proof); err != nil {
		c.Close()
		return nil, fmt.Errorf("refused: %v", err)
	}
	if !hmac.Equal(proof, mac("server", ns, nc)) {
		c.Close()
		return nil, errors.New("the member's proof does not match")
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// fwdSet is a forwarded SET as a follower sends it on the Raft port
// (FWD <db> <proto> <origin> <request id> <user> <command...>).
func fwdSet(key, val string) string {
	args := []string{"FWD", "0", "2", "stranger", "stranger/1", "default", "SET", key, val}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

// readUntilClosed reads what a member sends before it closes the
// connection; a member that keeps it open past 15 s fails the test.
func readUntilClosed(t *testing.T, c net.Conn, what string) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	got, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the member kept the connection open (got %q)", what, got)
	}
	return string(got)
}

type memberState struct{ digest, members string }

func clusterState(t *testing.T, nodes []*clusterNode) []memberState {
	t.Helper()
	ctx := context.Background()
	var out []memberState
	for _, n := range nodes {
		c := nodeClient(n)
		d, err := c.Do(ctx, "DEBUG", "DIGEST").Text()
		if err != nil {
			t.Fatalf("%s DEBUG DIGEST: %v", n.id, err)
		}
		var out2 strings.Builder
		if err := runAdmin([]string{"--addr", n.addr(), "members"}, &out2); err != nil {
			t.Fatal(err)
		}
		// Keep id and address, drop the role column (leadership may move).
		var ms []string
		for _, l := range strings.Split(strings.TrimSpace(out2.String()), "\n") {
			if f := strings.Fields(l); len(f) >= 3 {
				ms = append(ms, f[0]+" "+f[1]+" "+f[2])
			}
		}
		out = append(out, memberState{d, strings.Join(ms, ", ")})
		c.Close()
	}
	return out
}

// TestClusterSecretRefusesStrangers: a 3-process cluster sharing a secret
// keeps working (forwarding, joins), while strangers without the secret or
// with a wrong one cannot vote, append entries, install a snapshot, forward
// a command or join: every attempt is refused before it is read, logged with
// the stranger's address, and the cluster's state and membership are
// unchanged.
func TestClusterSecretRefusesStrangers(t *testing.T) {
	nodes := startCluster(t, 3, "--cluster-secret", testClusterSecret)
	leader := leaderOf(t, nodes, nodes[0])
	follower := aFollower(nodes, leader)
	ctx := context.Background()
	fc := nodeClient(follower)
	defer fc.Close()
	for i := range 50 {
		if err := fc.Set(ctx, fmt.Sprint("peerauth:", i), i, 0).Err(); err != nil {
			t.Fatalf("a write forwarded between members with the secret: %v", err)
		}
	}
	// The wire format as documented: with the right secret a peer is
	// accepted and its FWD is served (this also checks the test's own
	// handshake, so its refusals below mean something).
	good, err := peerHandshake(t, "127.0.0.1", leader.raftAddr(), testClusterSecret)
	if err != nil {
		t.Fatalf("the documented handshake with the right secret: %v", err)
	}
	fmt.Fprint(good, fwdSet("peerauth:handshake", "ok"))
	gr := bufio.NewReader(good)
	if line, _ := gr.ReadString('\n'); line != "+OK\r\n" {
		t.Fatalf("FWD after a good handshake: %q", line)
	}
	checkFwdEntry(t, good, gr)
	good.Close()
	waitConverged(t, nodes, leader)
	before := clusterState(t, nodes)
	lc := nodeClient(leader)
	defer lc.Close()
	term := infoField(t, lc, "raft_term")

	// 1. Raft RPCs from a node without the secret (hashicorp/raft's own
	// transport, from 127.0.0.21): vote, append entries, install snapshot.
	tr := strangerTransport(t, "127.0.0.21")
	evil := storage.Entry{Now: time.Now().UnixMilli(), Cmds: []storage.Cmd{{Op: storage.OpSet, Keys: [][]byte{[]byte("peerauth:injected")}, Vals: [][]byte{[]byte("pwned")}}}}
	for _, n := range nodes {
		c := nodeClient(n)
		last := infoField(t, c, "raft_last_index")
		c.Close()
		target := raft.ServerAddress(n.raftAddr())
		hdr := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("stranger"), Addr: []byte("127.0.0.21:1")}
		var vr raft.RequestVoteResponse
		err := tr.RequestVote(raft.ServerID(n.id), target, &raft.RequestVoteRequest{
			RPCHeader: hdr, Term: term + 100, LastLogIndex: last + 1000, LastLogTerm: term + 100,
		}, &vr)
		if err == nil {
			t.Errorf("%s answered a stranger's RequestVote (granted=%v, term %d)", n.id, vr.Granted, vr.Term)
		}
		var ar raft.AppendEntriesResponse
		err = tr.AppendEntries(raft.ServerID(n.id), target, &raft.AppendEntriesRequest{
			RPCHeader: hdr, Term: term + 100, PrevLogEntry: last, PrevLogTerm: term, LeaderCommitIndex: last + 1,
			Entries: []*raft.Log{{Index: last + 1, Term: term + 100, Type: raft.LogCommand, Data: evil.Encode()}},
		}, &ar)
		if err == nil {
			t.Errorf("%s answered a stranger's AppendEntries (success=%v)", n.id, ar.Success)
		}
		var sr raft.InstallSnapshotResponse
		err = tr.InstallSnapshot(raft.ServerID(n.id), target, &raft.InstallSnapshotRequest{
			RPCHeader: hdr, SnapshotVersion: raft.SnapshotVersionMax, Term: term + 100, LastLogIndex: last + 1000, LastLogTerm: term + 100, Size: 5,
		}, &sr, strings.NewReader("bogus"))
		if err == nil {
			t.Errorf("%s answered a stranger's InstallSnapshot (success=%v)", n.id, sr.Success)
		}
		t.Logf("%s: RequestVote, AppendEntries and InstallSnapshot from a stranger: refused (last error: %v)", n.id, err)
	}

	// 2. A forwarded SET in RESP to the leader's Raft port, no secret
	// (127.0.0.22): no reply, the connection is closed.
	raw, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.22")}}).Dial("tcp", leader.raftAddr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(raw, fwdSet("peerauth:forwarded", strings.Repeat("x", 64)))
	if got := readUntilClosed(t, raw, "FWD without a secret"); got != "" {
		t.Errorf("FWD without a secret got a reply: %q", got)
	}
	raw.Close()

	// 3. The same with a wrong secret (127.0.0.23): refused at the proof,
	// and the FWD sent anyway gets nothing.
	if c, err := peerHandshake(t, "127.0.0.23", leader.raftAddr(), wrongSecret); err == nil {
		fmt.Fprint(c, fwdSet("peerauth:forwarded", "wrong-secret"))
		t.Errorf("a wrong secret was accepted; FWD got %q", readUntilClosed(t, c, "FWD with a wrong secret"))
		c.Close()
	} else {
		t.Logf("handshake with a wrong secret: %v", err)
	}

	// 4. Stranger processes try to join: one without a secret (127.0.0.24),
	// one with a wrong secret (127.0.0.25).
	// 5. A stranger with a wrong secret that lists itself among the members
	// (--peers) campaigns for votes (127.0.0.26).
	var peers []string
	for _, n := range nodes {
		peers = append(peers, n.id+"="+n.raftAddr())
	}
	for _, s := range []struct {
		name, ip string
		args     []string
		waitFor  string
	}{
		{"stranger-nosecret", "127.0.0.24", []string{"--join", leader.raftAddr()}, "join failed"},
		{"stranger-wrongsecret", "127.0.0.25", []string{"--join", leader.raftAddr(), "--cluster-secret", wrongSecret}, "join failed"},
		{"stranger-candidate", "127.0.0.26", nil, "entering candidate state"},
	} {
		port := freePort(t)
		raftAddr := fmt.Sprintf("%s:%d", s.ip, port+10000)
		args := append([]string{"--node-id", s.name, "--addr", fmt.Sprintf("%s:%d", s.ip, port)}, clusterFlags...)
		args = append(args, s.args...)
		if s.name == "stranger-candidate" {
			args = append(args, "--cluster-secret", wrongSecret, "--peers", strings.Join(append(peers, s.name+"="+raftAddr), ","))
		}
		dir := filepath.Join(t.TempDir(), s.name)
		p := startProcUntil(t, "keepkv started", dir, port, args...)
		waitLogCount(t, dir+".log", s.waitFor, 2)
		if s.name == "stranger-candidate" {
			// Its vote requests reach every member and are refused there.
			for _, n := range nodes {
				waitLogCount(t, n.dir+".log", "peer="+s.ip+":", 1)
			}
		}
		p.kill()
		log, _ := os.ReadFile(dir + ".log")
		for _, l := range strings.Split(string(log), "\n") {
			if strings.Contains(l, s.waitFor) || strings.Contains(l, "failed to make requestVote RPC") {
				t.Logf("%s: %s", s.name, l)
				break
			}
		}
	}

	// Every refusal is in the members' logs with the stranger's address,
	// and no log quotes either secret.
	for _, ip := range []string{"127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24", "127.0.0.25", "127.0.0.26"} {
		waitLogCount(t, leader.dir+".log", "peer="+ip+":", 1)
	}
	leaderLog, _ := os.ReadFile(leader.dir + ".log")
	for _, l := range strings.Split(string(leaderLog), "\n") {
		if strings.Contains(l, "refused a peer connection") {
			t.Logf("leader: %s", l)
		}
	}
	for _, n := range nodes {
		b, _ := os.ReadFile(n.dir + ".log")
		if strings.Contains(string(b), testClusterSecret) || strings.Contains(string(b), wrongSecret) {
			t.Fatalf("%s's log quotes a cluster secret", n.id)
		}
	}

	// Nothing changed: same digest and membership on every member, no
	// stranger's term adopted, nothing injected, and the cluster still
	// serves writes through a follower.
	if got := infoField(t, lc, "raft_term"); got >= term+100 {
		t.Errorf("a member adopted the stranger's term %d", got)
	}
	after := clusterState(t, nodes)
	for i, n := range nodes {
		if after[i] != before[i] {
			t.Errorf("%s changed: before %+v, after %+v", n.id, before[i], after[i])
		}
		if strings.Contains(after[i].members, "stranger") || strings.Count(after[i].members, ",") != 2 {
			t.Errorf("%s members after the strangers tried: %s", n.id, after[i].members)
		}
		c := nodeClient(n)
		conn := c.Conn()
		if err := conn.ReadOnly(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"peerauth:injected", "peerauth:forwarded"} {
			if v, err := conn.Get(ctx, k).Result(); err == nil {
				t.Errorf("%s holds %s = %q", n.id, k, v)
			}
		}
		conn.Close()
		c.Close()
	}
	t.Logf("digest on every member before and after: %s; members: %s", before[0].digest, before[0].members)
	if err := fc.Set(ctx, "peerauth:after", "1", 0).Err(); err != nil {
		t.Fatalf("the cluster stopped serving after the strangers: %v", err)
	}
}

// TestExposedRaftNeedsAuthentication: a Raft address other hosts can reach,
// with neither a secret nor mutual TLS, is refused at start with the fix in
// the message; --insecure-peers or a secret lets it start.
func TestExposedRaftNeedsAuthentication(t *testing.T) {
	port := freePort(t)
	dir := filepath.Join(t.TempDir(), "exposed")
	args := []string{"--dir", dir, "--addr", fmt.Sprintf("127.0.0.1:%d", port),
		"--raft-addr", fmt.Sprintf("0.0.0.0:%d", port+10000), "--raft-advertise", fmt.Sprintf("127.0.0.1:%d", port+10000)}
	cmd := exec.Command(keepkvBinary(t), args...)
	cmd.Env = append(os.Environ(), "KEEPKV_CLUSTER_SECRET=", "KEEPKV_INSECURE_PEERS=")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("an exposed, unauthenticated Raft address started (err %v):\n%s", err, out)
	}
	for _, want := range []string{"refusing to start", "Raft address 0.0.0.0:", "reachable from other hosts", "KEEPKV_CLUSTER_SECRET", "--cluster-secret", "--tls-cluster", "--insecure-peers"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("the refusal does not say %q:\n%s", want, out)
		}
	}
	t.Logf("refusal: %s", strings.TrimSpace(string(out)))
	if _, err := os.Stat(dir); err == nil {
		t.Error("the refused start created its data dir")
	}

	// A file with the secret (and a previous one, for rotation) is enough.
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte(testClusterSecret+"\n"+wrongSecret+"\n"), 0o600)
	p := startProc(t, dir, port, append(args[4:], "--cluster-secret-file", secretFile)...)
	p.kill()
	// --insecure-peers overrides, as protected mode's switch does.
	p = startProc(t, dir, port, append(args[4:], "--insecure-peers")...)
	p.kill()
	// A short secret is refused without being quoted.
	out, err = exec.Command(keepkvBinary(t), append(args, "--cluster-secret", "tooshort")...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "at least 16 characters") || strings.Contains(string(out), "tooshort") {
		t.Fatalf("a short secret: %v\n%s", err, out)
	}
}

func TestClusterSecretFlags(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	exposed := []string{"--raft-addr", "0.0.0.0:16379", "--raft-advertise", "10.0.0.1:16379"}
	if _, err := parseFlags(exposed, getenv); err == nil || !strings.Contains(err.Error(), "KEEPKV_CLUSTER_SECRET") {
		t.Fatalf("exposed Raft without a secret: %v", err)
	}
	env["KEEPKV_CLUSTER_SECRET"] = testClusterSecret
	c, err := parseFlags(exposed, getenv)
	if err != nil || c.server("n1").Raft.ClusterSecret != testClusterSecret {
		t.Fatalf("secret from the environment: %v", err)
	}
	env["KEEPKV_CLUSTER_SECRET_OLD"] = wrongSecret
	if c, err = parseFlags(exposed, getenv); err != nil || c.server("n1").Raft.ClusterSecretOld != wrongSecret {
		t.Fatalf("old secret from the environment: %v", err)
	}
	delete(env, "KEEPKV_CLUSTER_SECRET")
	if _, err := parseFlags(nil, getenv); err == nil {
		t.Fatal("an old secret without a current one was accepted")
	}
	delete(env, "KEEPKV_CLUSTER_SECRET_OLD")
	env["KEEPKV_INSECURE_PEERS"] = "true"
	if _, err := parseFlags(exposed, getenv); err != nil {
		t.Fatalf("--insecure-peers from the environment: %v", err)
	}
	delete(env, "KEEPKV_INSECURE_PEERS")

	file := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(file, []byte("  "+testClusterSecret+"\r\n"+wrongSecret+"\n\n"), 0o600)
	c, err = parseFlags(append(exposed, "--cluster-secret-file", file), getenv)
	if err != nil || c.ClusterSecret != testClusterSecret || c.ClusterSecretOld != wrongSecret {
		t.Fatalf("secret file: %v", err)
	}
	if _, err := parseFlags([]string{"--cluster-secret-file", file, "--cluster-secret", testClusterSecret}, getenv); err == nil {
		t.Fatal("both --cluster-secret and --cluster-secret-file were accepted")
	}
	os.WriteFile(file, []byte("a\nb\nc\n"), 0o600)
	if _, err := parseFlags([]string{"--cluster-secret-file", file}, getenv); err == nil {
		t.Fatal("a secret file of three lines was accepted")
	}
	os.WriteFile(file, []byte("short-secret\n"), 0o600)
	if _, err := parseFlags([]string{"--cluster-secret-file", file}, getenv); err == nil || strings.Contains(err.Error(), "short-secret") {
		t.Fatalf("a short secret from a file: %v", err)
	}
	if _, err := parseFlags([]string{"--cluster-secret-file", filepath.Join(t.TempDir(), "missing")}, getenv); err == nil {
		t.Fatal("a missing secret file was accepted")
	}
}

// TestClusterSecretRotationMixedPhases: during a rotation, nodes in
// different phases (sending the old secret and accepting the new one, or
// sending the new one and accepting the old one) form one cluster.
func TestClusterSecretRotationMixedPhases(t *testing.T) {
	dir := t.TempDir()
	phase1 := filepath.Join(dir, "phase1")
	phase2 := filepath.Join(dir, "phase2")
	os.WriteFile(phase1, []byte(testClusterSecret+"\n"+wrongSecret+"\n"), 0o600)
	os.WriteFile(phase2, []byte(wrongSecret+"\n"+testClusterSecret+"\n"), 0o600)
	nodes := startCluster(t, 2, "--cluster-secret-file", phase1)
	n := &clusterNode{id: "n3", dir: filepath.Join(dir, "n3"), port: freePort(t)}
	args := append([]string{"--node-id", n.id, "--join", nodes[0].raftAddr(), "--cluster-secret-file", phase2}, clusterFlags...)
	n.p = startProcUntil(t, "joined the cluster", n.dir, n.port, args...)
	nodes = append(nodes, n)
	leader := leaderOf(t, nodes, nodes[0])
	ctx := context.Background()
	for _, via := range nodes {
		c := nodeClient(via)
		if err := c.Set(ctx, "rotation:"+via.id, via.id, 0).Err(); err != nil {
			t.Fatalf("write through %s with mixed secrets: %v", via.id, err)
		}
		c.Close()
	}
	waitConverged(t, nodes, leader)
	// The new node's log shows no refusal: every link authenticated.
	if n := countLines(n.dir+".log", "refused a peer connection"); n != 0 {
		t.Fatalf("n3 refused %d peer connections during the rotation", n)
	}
}

// checkFwdEntry sends FWDENTRY (a write a former leader settles, see
// server/settle.go) on an authenticated peer connection: a malformed entry
// and one without request ids are refused; a well-formed one applies, and
// sent again with the same request id it answers the same result without
// applying twice.
func checkFwdEntry(t *testing.T, c net.Conn, r *bufio.Reader) {
	t.Helper()
	send := func(entry []byte) string {
		fmt.Fprintf(c, "*2\r\n$8\r\nFWDENTRY\r\n$%d\r\n%s\r\n", len(entry), entry)
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("FWDENTRY: %v", err)
		}
		if line[0] != '$' {
			return line
		}
		n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		body := make([]byte, n+2)
		if _, err := io.ReadFull(r, body); err != nil {
			t.Fatal(err)
		}
		return "$" + string(body[:n])
	}
	if got := send([]byte("garbage")); got != "-ERR malformed FWDENTRY\r\n" {
		t.Fatalf("a malformed FWDENTRY: %q", got)
	}
	incr := storage.Cmd{Op: storage.OpIncrBy, Keys: [][]byte{[]byte("peerauth:settled")}, Int: 1}
	bare := storage.Entry{Now: time.Now().UnixMilli(), Cmds: []storage.Cmd{incr}}
	if got := send(bare.Encode()); got != "-ERR malformed FWDENTRY\r\n" {
		t.Fatalf("FWDENTRY without request ids: %q", got)
	}
	withID := bare
	withID.Reqs = [][]byte{[]byte("peerauth/settle/1")}
	for i := range 2 {
		got := send(withID.Encode())
		if got[0] != '$' {
			t.Fatalf("FWDENTRY %d: %q", i, got)
		}
		res, err := storage.DecodeResults([]byte(got[1:]))
		if err != nil || len(res) != 1 || res[0].Int != 1 {
			t.Fatalf("FWDENTRY %d answered %+v, %v; want INCRBY's 1 both times", i, res, err)
		}
	}
}
