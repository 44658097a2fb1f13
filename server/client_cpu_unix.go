//go:build unix

package server

import (
	"fmt"
	"syscall"
)

// infoCPU is INFO's CPU section: the process's CPU time (getrusage), as
// Redis reports it.
func infoCPU() [][2]string {
	var self, children syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &self) != nil || syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children) != nil {
		return nil
	}
	sec := func(tv syscall.Timeval) string { return fmt.Sprintf("%d.%06d", tv.Sec, tv.Usec) }
	return [][2]string{
		{"used_cpu_sys", sec(self.Stime)}, {"used_cpu_user", sec(self.Utime)},
		{"used_cpu_sys_children", sec(children.Stime)}, {"used_cpu_user_children", sec(children.Utime)},
	}
}
