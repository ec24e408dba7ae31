package signaling

import (
	"errors"
	"net/http"
	"strings"

	"github.com/parley-chat/parley/signaling/proto"
)

// Sentinel errors of the transport. Wire errors are proto's; these are the
// refusals of an upgrade, mapped to HTTP by httpStatus.
var (
	ErrTooManyConns       = errors.New("signaling: too many connections from this address")
	ErrServerFull         = errors.New("signaling: the server is full, try again soon")
	ErrTooManySessions    = errors.New("signaling: too many new sessions from this address, try again in a minute")
	ErrTooManyFromNetwork = errors.New("signaling: too many new connections from this network, try again in a minute")
	ErrOrigin             = errors.New("signaling: origin not allowed")
	ErrNoAddress          = errors.New("signaling: cannot tell the client address")
	ErrClosing            = errors.New("signaling: the server is shutting down")
	// ErrNoSession refuses to bring a connection without a session token
	// of its own to a new leader (reattach.go).
	ErrNoSession = errors.New("signaling: the connection has no session to bring over")
)

// httpStatus maps an upgrade refusal to its HTTP status: the one place
// where errors meet HTTP.
func httpStatus(err error) int {
	switch {
	case errors.Is(err, ErrTooManyConns), errors.Is(err, ErrServerFull), errors.Is(err, ErrTooManySessions), errors.Is(err, ErrTooManyFromNetwork):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrOrigin):
		return http.StatusForbidden
	case errors.Is(err, ErrNoAddress):
		return http.StatusBadRequest
	case errors.Is(err, ErrClosing), errors.Is(err, proto.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// httpText is the body of a refusal: the sentinel's text, never more.
func httpText(err error) string {
	for _, e := range []error{ErrTooManyConns, ErrServerFull, ErrTooManySessions, ErrTooManyFromNetwork, ErrOrigin, ErrNoAddress, ErrClosing} {
		if errors.Is(err, e) {
			return strings.TrimPrefix(e.Error(), "signaling: ")
		}
	}
	if errors.Is(err, proto.ErrUnavailable) {
		return proto.MessageOf(proto.ErrUnavailable)
	}
	return "internal error"
}
