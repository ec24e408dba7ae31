package turn

import (
	"encoding/binary"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSupported: recvmmsg and sendmmsg exist on Linux; elsewhere x/net
// reads and writes one datagram per call anyway.
const batchSupported = true

// gsoSupported reports whether the kernel segments UDP for this socket
// (UDP_SEGMENT, Linux 4.18): one sendmsg then carries a run of equal-sized
// datagrams to one destination, built and routed once by the kernel.
func gsoSupported(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	_ = rc.Control(func(fd uintptr) {
		_, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		ok = err == nil
	})
	return ok
}

// gsoControl is the control message asking the kernel to cut the buffer
// into datagrams of size bytes (the last may be shorter).
func gsoControl(b []byte, size int) []byte {
	n := unix.CmsgSpace(2)
	b = b[:n]
	clear(b)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.IPPROTO_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[unix.CmsgLen(0):], uint16(size))
	return b
}
