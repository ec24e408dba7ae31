package proto

import (
	"sync/atomic"
	"time"
)

// What the server forwards of a signal (issue 10, point 12).
//
// The server passes signaling between two browsers and must never become a
// channel for anything else. So a signal is not checked and then forwarded
// as sent: it is parsed into the values WebRTC needs and written anew from
// them. Every line, field, identifier and order that a modified client could
// fill freely is either dropped, written by the server (o=, s=, t=, c=, the
// m= port, a=rtcp, msid and CNAME identifiers, candidate foundations and
// related addresses), or held to the shapes browsers and pion use (ICE
// credentials, fingerprints, mids, codecs, parameters, candidates). What is
// left is what two peers must be able to tell each other: their addresses,
// ports, ICE credentials, certificate fingerprint, SSRCs and codec choices;
// covert_test.go measures how many bits of those a sender still chooses
// (about 280 in a trickled candidate, and under a fifth of the bytes of any
// signal), for the per-chat budget of signaling to bound.
//
// Simulcast (a=rid, a=simulcast) is not supported: its lines are dropped,
// and the peers fall back to one encoding.
//
// The hide-my-IP policy. When a person asked to hide their address, only
// relay candidates of theirs are forwarded, and the addresses written in
// o=, c= and a=rtcp are the unspecified address (they always are), so the
// partner never learns it, even from a client that ignores the setting. The
// related address of a relay candidate (the person's own address as the
// relay saw it) is blanked, as it is on every candidate.

// sessionVersion returns the o= session version for a description cleaned
// now. RFC 3264 wants the version of a PeerConnection's descriptions to grow
// with each renegotiation; the sender's own version would be 64 bits of its
// choosing. The server writes the time in milliseconds instead, made
// strictly increasing within the process, so it grows with every
// description a sender sends (signals of one sender are cleaned in order)
// and carries nothing but the time the signal passed. Across servers (a
// resumed session on another node) it stays increasing as long as their
// clocks agree to within the time between two renegotiations.
func sessionVersion(now time.Time) uint64 {
	v := uint64(now.UnixMilli())
	for {
		last := lastVersion.Load()
		if v <= last {
			v = last + 1
		}
		if lastVersion.CompareAndSwap(last, v) {
			return v
		}
	}
}

var lastVersion atomic.Uint64
