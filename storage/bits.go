package storage

// The bit family's ops (opBitBase and up). Not written yet: it
// defines no op, so validate refuses every op of its range.

func (a *applier) bitCmd(c *Cmd) Result { return errResult(ErrBadEntry) }

func bitShape(c *Cmd) bool { return false }

func bitOpName(o Op) string { return "" }
