//go:build unix

package eventlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the name of the lock file inside a data dir.
const LockFile = "thinkstream.lock"

// ErrLocked is returned by LockDir when another process holds the data dir.
var ErrLocked = errors.New("data dir is in use")

// Lock is an exclusive hold on a data dir: two embedded JetStream servers
// writing one store corrupt it, so a second process must refuse to start.
type Lock struct {
	f *os.File
}

// LockDir takes the data dir for this process (creating it if needed), or
// fails at once with ErrLocked naming the pid of the holder. The lock is an
// flock, so the kernel releases it when the process dies, however it dies: a
// lock file left behind by kill -9 does not block the next start.
func LockDir(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data dir: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
					holder = "pid " + strconv.Itoa(pid)
				}
			}
			return nil, &lockedError{fmt.Sprintf("data dir %s is in use by %s (another thinkstream serve or doctor?)", dir, holder)}
		}
		return nil, fmt.Errorf("data dir: lock %s: %w", path, err)
	}
	// The pid is for the message above only; the flock is what excludes.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Close releases the lock. The file stays: removing it would let a process
// that opened it just before lock a file nobody else can see.
func (l *Lock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	err := l.f.Close()
	l.f = nil
	return err
}

// lockedError says who holds the data dir; it is ErrLocked.
type lockedError struct{ msg string }

func (e *lockedError) Error() string        { return e.msg }
func (e *lockedError) Is(target error) bool { return target == ErrLocked }
