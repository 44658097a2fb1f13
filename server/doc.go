// Package server is keepkv's RESP front end: the listener (tidwall/redcon),
// per-connection state (SELECT, HELLO, CLIENT, AUTH), the command table and
// its handlers, and the leader-side expiry driver.
//
// A command's arity, flags and routing come from its table entry. Writes
// are validated here, turned into storage.Cmd values stamped with the
// leader's clock and absolute deadlines, and proposed through replication;
// all writes of a client's pipeline are proposed together before any reply
// is awaited. Reads wait for the replication read barrier and are served
// from a storage read transaction. server never touches bbolt directly.
package server
