// Package sockio writes to a socket without waiting for it: what the
// socket's buffer takes now is written, and the rest is the caller's.
package sockio

import (
	"errors"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// TryWriter is a connection that can write without waiting.
type TryWriter interface {
	// TryWrite writes what of b the socket's buffer takes now, maybe
	// nothing, and never waits. An error means the socket failed.
	TryWrite(b []byte) (int, error)
}

// For returns nc's TryWriter: nc itself when it is one, a TCP socket's,
// or nil (TLS, where a write cannot stop inside a record, and other
// connections).
func For(nc net.Conn) TryWriter {
	switch c := nc.(type) {
	case TryWriter:
		return c
	case *net.TCPConn:
		rc, err := c.SyscallConn()
		if err != nil {
			return nil
		}
		return rawWriter{rc}
	}
	return nil
}

type rawWriter struct{ rc syscall.RawConn }

// TryWrite makes one write(2) on the non-blocking socket. It sets no
// deadline: a deadline near enough to matter would wake the runtime's
// network poller for every write, which costs more than the write.
func (w rawWriter) TryWrite(b []byte) (int, error) {
	var n int
	var werr error
	err := w.rc.Write(func(fd uintptr) bool {
		n, werr = unix.Write(int(fd), b)
		return true // never wait for the socket
	})
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, nil // a deadline an earlier write left has passed: nothing written
	case err != nil:
		return 0, err
	case werr == unix.EAGAIN || werr == unix.EINTR:
		return 0, nil
	case werr != nil:
		return 0, werr
	}
	return max(n, 0), nil
}
