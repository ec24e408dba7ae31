//go:build !unix

package turn

import "syscall"

// Without SO_REUSEPORT the relay runs one UDP read loop.
const reusePortSupported = false

func reusePort(_, _ string, _ syscall.RawConn) error { return nil }
