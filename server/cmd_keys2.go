package server

// keyCommands2 are the generic key commands that work across types (COPY,
// MOVE, SWAPDB, OBJECT, ...). Not written yet.
func keyCommands2() []*command { return nil }
