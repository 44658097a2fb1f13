package storage

// The zset family's ops (opZSetBase and up). Not written yet: it
// defines no op, so validate refuses every op of its range.

func (a *applier) zsetCmd(c *Cmd) Result { return errResult(ErrBadEntry) }

func zsetShape(c *Cmd) bool { return false }

func zsetOpName(o Op) string { return "" }
