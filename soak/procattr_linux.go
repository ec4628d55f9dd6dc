package soak

import "syscall"

// childAttr makes the kernel kill a server whose suite died, so that an
// interrupted soak leaves no servers behind on a shared machine.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
