package storage

// The key family's ops (opKeyBase and up). Not written yet: it
// defines no op, so validate refuses every op of its range.

func (a *applier) keyCmd(c *Cmd) Result { return errResult(ErrBadEntry) }

func keyShape(c *Cmd) bool { return false }

func keyOpName(o Op) string { return "" }
