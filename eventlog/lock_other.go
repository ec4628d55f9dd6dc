//go:build !unix

package eventlog

import (
	"errors"
	"fmt"
	"os"
)

// LockFile is the name of the lock file inside a data dir.
const LockFile = "thinkstream.lock"

// ErrLocked is returned by LockDir when another process holds the data dir.
var ErrLocked = errors.New("data dir is in use")

// Lock is a hold on a data dir. Without flock this platform gets no
// protection against two servers on one data dir.
type Lock struct{}

// LockDir creates the data dir; it cannot exclude other processes here.
func LockDir(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return &Lock{}, nil
}

// Close releases the lock.
func (l *Lock) Close() error { return nil }
