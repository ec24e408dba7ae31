package turn

import "errors"

// Sentinel errors. Messages never carry an address or a credential.
var (
	ErrNoSecret            = errors.New("turn: a secret is required")
	ErrNoSessionLive       = errors.New("turn: SessionLive is required")
	ErrNoListener          = errors.New("turn: no listener configured")
	ErrBadListen           = errors.New("turn: bad listen address")
	ErrBadPublicIP         = errors.New("turn: public IP must be an IPv4 address")
	ErrBadRelayPorts       = errors.New("turn: bad relay port range")
	ErrBadLimit            = errors.New("turn: limits must not be negative")
	ErrNoPermissionHandler = errors.New("turn: a listener lacks the peer address policy")
	ErrListen              = errors.New("turn: cannot listen")
	ErrClosed              = errors.New("turn: server closed")
	ErrCloseTimeout        = errors.New("turn: close timed out waiting for relay goroutines")
	ErrRelayPort           = errors.New("turn: requested relay port outside the relay range")
	ErrTCPRelay            = errors.New("turn: TCP relay allocations are not supported")

	errBadFrame     = errors.New("turn: not TURN framing")
	errFrameTooLong = errors.New("turn: frame over the size limit")
)
