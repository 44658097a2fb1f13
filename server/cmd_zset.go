package server

// zsetCommands are the zset family's commands. Not written yet.
func zsetCommands() []*command { return nil }
