package storage

// The set family's ops (opSetBase and up). Not written yet: it
// defines no op, so validate refuses every op of its range.

func (a *applier) setCmd(c *Cmd) Result { return errResult(ErrBadEntry) }

func setShape(c *Cmd) bool { return false }

func setOpName(o Op) string { return "" }
