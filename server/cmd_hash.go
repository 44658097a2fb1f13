package server

// hashCommands are the hash family's commands. Not written yet.
func hashCommands() []*command { return nil }
