package server

import (
	"crypto/tls"
	"fmt"

	"github.com/keepkv/keepkv/replication"
)

// LoadClientTLS builds the TLS configuration for client connections. With
// caFile set and requireClientCert, clients must present a certificate
// signed by that CA.
func LoadClientTLS(certFile, keyFile, caFile string, requireClientCert bool) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("server: TLS certificate: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := replication.LoadCAPool(caFile)
		if err != nil {
			return nil, err
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.VerifyClientCertIfGiven
		if requireClientCert {
			conf.ClientAuth = tls.RequireAndVerifyClientCert
		}
	} else if requireClientCert {
		return nil, fmt.Errorf("server: requiring client certificates needs a CA file")
	}
	return conf, nil
}
