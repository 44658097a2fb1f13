package server

// listCommands are the list family's commands. Not written yet.
func listCommands() []*command { return nil }
