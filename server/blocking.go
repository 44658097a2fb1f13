package server

import "github.com/keepkv/keepkv/storage"

// wakeBlocked is told, on the FSM goroutine, of the keys that applied
// commands gave new elements to. Blocking commands are not written yet.
func (s *Server) wakeBlocked(ready []storage.KeyRef) {}
