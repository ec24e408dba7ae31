//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// lockPath takes the lock bbolt takes on a database file (flock, exclusive),
// creating an empty file when there is none, without reading it: Restore
// may replace a file bbolt could not open. unlock(replaced) lets it go and
// removes a file lockPath created that nothing replaced.
func lockPath(path string, timeout time.Duration) (unlock func(replaced bool), err error) {
	_, serr := os.Lstat(path)
	created := errors.Is(serr, fs.ErrNotExist)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close() // a file it created is someone else's now: leave it
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%w (%s)", ErrLocked, path)
			}
			return nil, fmt.Errorf("store: locking %s: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond) // flock has no timeout: poll, as bbolt does
	}
	return func(replaced bool) {
		if created && !replaced {
			os.Remove(path) // still locked: nobody opened it meanwhile
		}
		f.Close()
	}, nil
}
