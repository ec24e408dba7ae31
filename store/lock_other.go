//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package store

import (
	"errors"
	"time"
)

func lockPath(string, time.Duration) (func(bool), error) {
	return nil, errors.New("store: restore needs flock, which this system lacks; stop parley and copy the backup over parley.db")
}
