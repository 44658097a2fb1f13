//go:build !unix

package server

// infoCPU is INFO's CPU section: empty where keepkv cannot read the
// process's CPU time.
func infoCPU() [][2]string { return nil }
