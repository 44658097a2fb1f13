package server

// bitCommands are the bit family's commands. Not written yet.
func bitCommands() []*command { return nil }
