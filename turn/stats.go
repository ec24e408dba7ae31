package turn

import "sync/atomic"

// Stats are the relay's counters: aggregates only, ready for a Prometheus
// collector (counters except Allocations, a gauge).
type Stats struct {
	Allocations      int    // allocations now
	AllocationsTotal uint64 // allocations ever created
	BytesRelayed     uint64 // payload bytes through relay sockets, both directions
	PacketsRelayed   uint64 // datagrams through relay sockets, both directions
	Dropped          uint64 // datagrams a client asked to relay that the peer policy refused
	Held             uint64 // peer datagrams held for a permission on its way (hold.go)
	Refused          Refused
}

// Refused counts refused requests by kind.
type Refused struct {
	Auth   uint64 // 401: malformed, expired, tampered or wrong credential, ended session
	Banned uint64 // 403: the client's address is banned
	Quota  uint64 // 486: an allocation over a quota
	Policy uint64 // 403: CreatePermission or ChannelBind to a forbidden peer
	Conns  uint64 // TCP or TLS connections over a cap, closed at accept
	Frames uint64 // TCP or TLS connections closed for a frame that is not TURN or too long
}

type counters struct {
	allocTotal, bytes, packets, dropped, held               atomic.Uint64
	refusedAuth, refusedBanned, refusedQuota, refusedPolicy atomic.Uint64
	refusedConns, refusedFrames                             atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Allocations:      s.quotas.current(),
		AllocationsTotal: s.stats.allocTotal.Load(),
		BytesRelayed:     s.stats.bytes.Load(),
		PacketsRelayed:   s.stats.packets.Load(),
		Dropped:          s.stats.dropped.Load(),
		Held:             s.stats.held.Load(),
		Refused: Refused{
			Auth:   s.stats.refusedAuth.Load(),
			Banned: s.stats.refusedBanned.Load(),
			Quota:  s.stats.refusedQuota.Load(),
			Policy: s.stats.refusedPolicy.Load(),
			Conns:  s.stats.refusedConns.Load(),
			Frames: s.stats.refusedFrames.Load(),
		},
	}
}
