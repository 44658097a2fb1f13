package server

// setCommands are the set family's commands. Not written yet.
func setCommands() []*command { return nil }
