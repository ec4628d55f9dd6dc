//go:build unix

package gguf

import (
	"os"
	"syscall"
)

// mapFile maps size bytes of fd read-only. Pages are read from the file
// (or the page cache) on first touch, so opening a model costs nothing
// and unused tensors never occupy memory. The file must not be truncated
// while mapped: touching a vanished page kills the process with SIGBUS.
func mapFile(fd *os.File, size int) ([]byte, func() error, error) {
	data, err := syscall.Mmap(int(fd.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
