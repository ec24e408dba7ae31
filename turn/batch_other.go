//go:build !linux

package turn

import "net"

const batchSupported = false

func gsoSupported(*net.UDPConn) bool { return false }

func gsoControl(b []byte, _ int) []byte { return b[:0] }
