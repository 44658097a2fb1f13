package server

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"

	"github.com/keepkv/keepkv/replication"
	"github.com/keepkv/keepkv/server/tlstest"
	"github.com/redis/go-redis/v9"
)

func TestTLSClientsBesidePlaintext(t *testing.T) {
	dir := t.TempDir()
	srv := tlstest.Generate(t, dir, "server")
	cli := tlstest.Generate(t, dir, "client")
	other := tlstest.Generate(t, dir, "stranger")
	conf, err := LoadClientTLS(srv.Cert, srv.Key, cli.CA, true)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *Config) { c.TLSAddr = "127.0.0.1:0"; c.TLS = conf })
	ctx := context.Background()
	roots, err := replication.LoadCAPool(srv.CA)
	if err != nil {
		t.Fatal(err)
	}
	withCert := func(f tlstest.Files) *redis.Client {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(&redis.Options{Addr: s.TLSAddr().String(), MaxRetries: -1, DisableIdentity: true,
			TLSConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"}})
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := withCert(cli)
	if err := c.Set(ctx, "session:tls", "v", 0).Err(); err != nil {
		t.Fatalf("TLS client: %v", err)
	}
	plain := client(t, s.Addr().String(), 3)
	if v, err := plain.Get(ctx, "session:tls").Result(); err != nil || v != "v" {
		t.Fatalf("plaintext port beside TLS: %q, %v", v, err)
	}
	// A client certificate from another CA is refused.
	if err := withCert(other).Ping(ctx).Err(); err == nil {
		t.Fatal("a client certificate from an unknown CA was accepted")
	}
	// Plaintext spoken to the TLS port gets nowhere.
	p := redis.NewClient(&redis.Options{Addr: s.TLSAddr().String(), MaxRetries: -1, DisableIdentity: true})
	defer p.Close()
	if err := p.Ping(ctx).Err(); err == nil || strings.Contains(err.Error(), "PONG") {
		t.Fatalf("plaintext on the TLS port: %v", err)
	}
}
