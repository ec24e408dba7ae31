package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST scheme and browsers use
	"encoding/base64"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v3"
	pionturn "github.com/pion/turn/v4"
)

// Credentials returns a TURN REST credential for sessionID valid until
// now+CredentialTTL: username "expiry-unix:sessionID" and password
// base64(HMAC-SHA1(Secret, username)).
func (s *Server) Credentials(sessionID string, now time.Time) (username, password string) {
	username = strconv.FormatInt(now.Add(s.cfg.CredentialTTL).Unix(), 10) + ":" + sessionID
	return username, s.password(username)
}

func (s *Server) password(username string) string {
	m := hmac.New(sha1.New, s.cfg.Secret)
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// parseUsername splits "expiry:sessionID". The id is opaque to the relay;
// SessionLive decides whether it names a live session.
func parseUsername(username string) (expiry int64, sessionID string, ok bool) {
	exp, id, found := strings.Cut(username, ":")
	if !found || id == "" || len(id) > maxSessionID || exp == "" || len(exp) > 19 {
		return 0, "", false
	}
	for _, c := range exp {
		if c < '0' || c > '9' {
			return 0, "", false
		}
	}
	expiry, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return 0, "", false
	}
	return expiry, id, true
}

// Refusal kinds of the authentication hook, for counters and logs.
const (
	refuseMalformed = "malformed"
	refuseRealm     = "realm"
	refuseExpired   = "expired"
	refuseSession   = "session"
	refuseBanned    = "banned"
	refuseIntegrity = "integrity"
)

// authHandler is pion's AuthHandler. It returns the long-term key of a
// credential that is well formed, unexpired, for a live session and from an
// address that is not banned. pion then checks MESSAGE-INTEGRITY with that
// key (a constant-time HMAC comparison in pion/stun): a tampered username
// yields a key the client cannot match, a bad password the same.
//
// pion answers a refused request with 400; the refusal is marked here so the
// listener wrapper turns that answer into 401 (403 for a ban), the codes
// RFC 5389 and RFC 5766 prescribe and clients act on.
func (s *Server) authHandler(username, realm string, src net.Addr) ([]byte, bool) {
	kind := s.checkCredential(username, realm, src)
	if kind != "" {
		s.refuseAuth(src, kind)
		return nil, false
	}
	return pionturn.GenerateAuthKey(username, realm, s.password(username)), true
}

func (s *Server) checkCredential(username, realm string, src net.Addr) string {
	expiry, id, ok := parseUsername(username)
	switch {
	case !ok:
		return refuseMalformed
	case realm != s.cfg.Realm:
		return refuseRealm
	case expiry <= s.cfg.Clock().Unix():
		return refuseExpired
	}
	if s.cfg.Banned != nil {
		if a, ok := addrOf(src); ok && s.cfg.Banned(a.Addr()) {
			return refuseBanned
		}
	}
	if !s.cfg.SessionLive(id) {
		return refuseSession
	}
	return ""
}

// onAuth is pion's OnAuth event: a false verdict is a MESSAGE-INTEGRITY
// mismatch after authHandler accepted the username (wrong password or a
// tampered username).
func (s *Server) onAuth(src, _ net.Addr, _, _, _, _ string, verdict bool) {
	if !verdict {
		s.refuseAuth(src, refuseIntegrity)
	}
}

func (s *Server) refuseAuth(src net.Addr, kind string) {
	code := stun.CodeUnauthorized
	if kind == refuseBanned {
		s.stats.refusedBanned.Add(1)
		code = stun.CodeForbidden
	} else {
		s.stats.refusedAuth.Add(1)
	}
	s.marks.set(src, code)
	s.log.Debug("turn auth refused", "kind", kind)
}

// addrOf converts a UDP or TCP address to an unmapped netip.AddrPort.
func addrOf(a net.Addr) (netip.AddrPort, bool) {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	default:
		return ap, false
	}
	if !ap.Addr().IsValid() {
		return ap, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// refusalMarks remembers, per client transport address, the error code of a
// refusal decided by a hook while pion is about to send its own generic
// error answer. pion calls the hook and sends the answer on the same
// goroutine, right after each other, so the next error response written to
// that address is the one to rewrite.
type refusalMarks struct {
	n  atomic.Int32 // len(m), read without the lock on every write
	mu sync.Mutex   // guards m
	m  map[string]stun.ErrorCode
}

func markKey(a net.Addr) string { return a.Network() + "|" + a.String() }

// maxMarks bounds the marks left behind when pion could not send its
// answer; past it they are dropped, costing at most a 400 instead of a 401.
const maxMarks = 4096

func (r *refusalMarks) set(a net.Addr, code stun.ErrorCode) {
	r.mu.Lock()
	if r.m == nil || len(r.m) >= maxMarks {
		r.m = make(map[string]stun.ErrorCode)
	}
	r.m[markKey(a)] = code
	r.n.Store(int32(len(r.m)))
	r.mu.Unlock()
}

func (r *refusalMarks) take(a net.Addr) (stun.ErrorCode, bool) {
	if r.n.Load() == 0 {
		return 0, false
	}
	k := markKey(a)
	r.mu.Lock()
	defer r.mu.Unlock()
	code, ok := r.m[k]
	if ok {
		delete(r.m, k)
		r.n.Store(int32(len(r.m)))
	}
	return code, ok
}

// rewrite returns p, or, when p is a STUN error response and a refusal is
// marked for dst, the same response with the marked error code. Only an
// error response consumes the mark: relayed data written to the same client
// between the hook and pion's answer (an allocation's peer traffic) must not
// take it.
func (r *refusalMarks) rewrite(p []byte, dst net.Addr, realm string) []byte {
	if !isErrorResponse(p) {
		return p
	}
	code, ok := r.take(dst)
	if !ok {
		return p
	}
	m := &stun.Message{Raw: append([]byte(nil), p...)}
	if err := m.Decode(); err != nil || m.Type.Class != stun.ClassErrorResponse {
		return p
	}
	// No NONCE: pion's nonce is internal, and a 401 without one tells a
	// client that retrying with the same credential is pointless.
	out, err := stun.Build(stun.NewTransactionIDSetter(m.TransactionID), m.Type, code, stun.NewRealm(realm))
	if err != nil {
		return p
	}
	return out.Raw
}

// isErrorResponse is a cheap first look at a datagram written to a client:
// a STUN message (two zero bits, the magic cookie) of the error class (both
// class bits set, RFC 8489 section 5).
func isErrorResponse(p []byte) bool {
	return len(p) >= 20 && p[0]&0xc0 == 0 && p[0]&0x01 != 0 && p[1]&0x10 != 0 &&
		p[4] == 0x21 && p[5] == 0x12 && p[6] == 0xa4 && p[7] == 0x42
}
