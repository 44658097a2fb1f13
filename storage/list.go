package storage

// The list family's ops (opListBase and up). Not written yet: it
// defines no op, so validate refuses every op of its range.

func (a *applier) listCmd(c *Cmd) Result { return errResult(ErrBadEntry) }

func listShape(c *Cmd) bool { return false }

func listOpName(o Op) string { return "" }
