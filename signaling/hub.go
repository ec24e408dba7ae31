package signaling

import (
	"errors"
	"github.com/parley-chat/parley/store/prefix"
	"net/netip"
	"time"

	"github.com/parley-chat/parley/matcher"
	"github.com/parley-chat/parley/turn"
)

// handle runs one validated-in-shape message on the reader goroutine.
func (s *Server) handle(c *conn, sess *session, m *Inbound) error {
	now := s.cfg.Clock()
	if !c.hello {
		if m.Type != TypeHello {
			return ErrNotHello
		}
		if m.V != ProtocolVersion {
			return ErrBadVersion
		}
		c.hello = true
		s.metrics.countMessage(m.Type)
		s.hello(c, sess, now)
		return nil
	}
	switch m.Type {
	case TypeHello:
		return ErrAlreadyHello
	case TypeSignal:
		if err := validateSignal(m.Data); err != nil {
			return err
		}
		s.metrics.countMessage(m.Type)
		return s.signal(sess, m.Data, now)
	case TypeJoin, TypeNext, TypeReport:
		if !c.actionLimiter.Allow() {
			return ErrRateLimited
		}
	case TypeLeave, TypeBye:
	default:
		return ErrUnknownType
	}
	s.metrics.countMessage(m.Type)
	switch m.Type {
	case TypeJoin:
		j, err := validateJoin(m, s.cfg.HideIPDefault)
		if err != nil {
			return err
		}
		return s.joinChecked(c, sess, j, now)
	case TypeNext:
		return s.next(sess, now)
	case TypeLeave:
		reason := ReasonLeave
		if m.Reason == ReasonFailed {
			reason = ReasonFailed
		}
		s.leave(sess, reason, now)
		return nil
	case TypeBye:
		// Nothing changes until the socket closes; no answer, the page is
		// going away.
		c.byeAt = now
		return nil
	default: // report
		if !reportReasons[m.Reason] {
			return ErrBadReason
		}
		return s.report(c, sess, m.Reason, now)
	}
}

// hello attaches the connection to its session, answers welcome, and
// resumes whatever the session was doing.
func (s *Server) hello(c *conn, sess *session, now time.Time) {
	var ice = s.iceServers(sess.id, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	resumed := sess.token == ""
	sess.token = ""
	sess.connecting--
	if old := sess.conn; old != nil && old != c {
		old.close(CloseTakenOver, "session opened elsewhere")
	}
	sess.conn = c
	sess.addr = c.addr
	sess.stopGrace()
	state := "idle"
	switch {
	case sess.state == statePaired:
		state = "paired"
	case sess.state == stateQueued, sess.wasQueued && sess.join != nil:
		state = "queued"
	}
	c.send(encode(&Outbound{
		Type:          TypeWelcome,
		State:         state,
		V:             ProtocolVersion,
		Resumed:       boolPtr(resumed),
		ICEServers:    ice,
		Preferences:   s.cfg.Topics.Preferences,
		Features:      features,
		Limits:        s.limits(),
		HideIPDefault: boolPtr(s.cfg.HideIPDefault),
	}))
	s.markDirty(sess, now)
	if sess.missed != "" {
		c.send(encode(&Outbound{Type: TypePartnerLeft, Reason: sess.missed}))
		sess.missed = ""
	}
	switch {
	case sess.state == statePaired && sess.partner != nil:
		p := sess.partner
		if p.conn != nil {
			s.sendMatched(sess, true)
			s.sendMatched(p, true)
		} else {
			c.send(encode(&Outbound{Type: TypePartnerReconnecting}))
		}
	case sess.wasQueued && sess.join != nil:
		sess.wasQueued = false
		s.enqueueLocked(sess, now)
		s.tickLocked(now)
	}
}

func (s *Server) iceServers(id string, now time.Time) []turn.ICEServer {
	if s.cfg.ICEServers == nil {
		return nil
	}
	return s.cfg.ICEServers(id, now)
}

func (s *Server) limits() *Limits {
	return &Limits{
		MaxFrameBytes:       MaxFrameBytes,
		MaxNameLength:       MaxNameLength,
		MaxInterests:        MaxInterests,
		MaxInterestLength:   MaxInterestLength,
		ResumeWindowSeconds: int(s.cfg.ResumeWindow / time.Second),
		ByeWindowSeconds:    int(s.cfg.ByeWindow / time.Second),
		MessagesPerSecond:   int(s.cfg.MessagesPerSecond),
	}
}

// joinChecked checks the ban outside the lock (it reads the store) and
// then joins.
func (s *Server) joinChecked(c *conn, sess *session, j Join, now time.Time) error {
	ban, banned, err := s.store.Banned(now, c.addr)
	if err != nil {
		s.log.Error("ban check failed", "err", err)
		return ErrInternal
	}
	if banned {
		s.enforceBan(now, c.prefix, ban.Until)
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.Mode == matcher.ModeOpposite && !s.knownPreference(j.Preference) {
		return ErrBadPreference
	}
	if sess.state == statePaired {
		s.endPairLocked(sess, ReasonLeave, false, now)
	}
	sess.join = &j
	sess.rec.Name, sess.rec.Mode, sess.rec.Media = j.Name, string(j.Mode), string(j.Media)
	sess.rec.Interests, sess.rec.HideIP = j.Interests, j.HideIP
	if err := s.enqueueLocked(sess, now); err != nil {
		return err
	}
	s.tickLocked(now)
	return nil
}

func (s *Server) knownPreference(id string) bool {
	for _, p := range s.cfg.Topics.Preferences {
		if p.ID == id {
			return true
		}
	}
	return false
}

// enqueueLocked puts the session in the queue of its last join.
func (s *Server) enqueueLocked(sess *session, now time.Time) error {
	j := sess.join
	err := s.eng.Join(now, matcher.Request{ID: sess.id, Mode: j.Mode, Media: j.Media, Preference: j.Preference, Interests: j.Interests})
	if err != nil {
		if errors.Is(err, matcher.ErrBadPreference) || errors.Is(err, matcher.ErrNoPreference) {
			return ErrBadPreference
		}
		return ErrBadMode
	}
	sess.state = stateQueued
	sess.queuedAt = now
	s.markDirty(sess, now)
	if sess.conn != nil {
		sess.conn.send(encode(&Outbound{Type: TypeQueued, Mode: string(j.Mode), Media: string(j.Media)}))
	}
	return nil
}

// tickLocked runs the matcher and tells both people of every new pair.
func (s *Server) tickLocked(now time.Time) {
	for _, p := range s.eng.Tick(now) {
		a, b := s.sessions[p.Offerer], s.sessions[p.Answerer]
		if a == nil || b == nil || a.conn == nil || b.conn == nil {
			// Cannot happen while the queue only holds connected people;
			// requeue whoever is still here rather than lose them.
			for _, x := range []*session{a, b} {
				if x != nil && x.conn != nil && x.join != nil {
					_ = s.enqueueLocked(x, now)
				}
			}
			continue
		}
		pair := newPairID()
		var stID string
		if p.Statement != nil {
			stID = p.Statement.ID
		}
		for _, x := range [...]struct {
			me, other *session
			role      string
		}{{a, b, "offerer"}, {b, a, "answerer"}} {
			x.me.state = statePaired
			x.me.partner = x.other
			x.me.statement = p.Statement
			x.me.shared = p.Shared
			x.me.pairedAt = now
			if !x.me.queuedAt.IsZero() {
				s.metrics.observeMatched(now.Sub(x.me.queuedAt))
			}
			x.me.rec.Pair, x.me.rec.Partner, x.me.rec.Role, x.me.rec.Statement = pair, x.other.id, x.role, stID
			s.markDirty(x.me, now)
		}
		s.daily.pairFormed(now)
		s.metrics.pairs.Add(1)
		s.sendMatched(a, false)
		s.sendMatched(b, false)
	}
}

func (s *Server) sendMatched(sess *session, resumed bool) {
	if sess.conn == nil {
		return
	}
	m := &Outbound{
		Type:      TypeMatched,
		Pair:      sess.rec.Pair,
		Role:      sess.rec.Role,
		Partner:   &PartnerInfo{Name: sess.partner.rec.Name},
		Mode:      sess.rec.Mode,
		Media:     sess.rec.Media,
		Statement: sess.statement,
		Shared:    sess.shared,
		Resumed:   boolPtr(resumed),
		HideIP:    boolPtr(sess.hideIP()),
	}
	sess.conn.send(encode(m))
}

// signal forwards one validated signal to the partner, after the hide-IP
// policy of the sender. Nobody else can be reached.
func (s *Server) signal(sess *session, d *SignalData, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.state != statePaired || sess.partner == nil {
		return ErrNotPaired
	}
	s.touch(sess, now)
	p := sess.partner
	if p.conn == nil {
		return nil // the partner is reconnecting; both negotiate again on resume
	}
	if sess.hideIP() {
		var ok bool
		if d, ok = applyHideIP(d); !ok {
			s.metrics.stripped.Add(1)
			return nil
		}
	}
	p.conn.send(encode(&Outbound{Type: TypeSignal, Data: d}))
	s.metrics.forwarded.Add(1)
	return nil
}

// next ends the chat and puts both people back in the queue; the one who
// pressed next never meets that partner again.
func (s *Server) next(sess *session, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch sess.state {
	case statePaired:
		// The one who pressed next queues first, so a person already
		// waiting meets them rather than the one they skipped.
		p := sess.partner
		s.endPairLocked(sess, ReasonNext, true, now)
		s.requeueLocked(sess, now)
		if p != nil && p.conn != nil {
			s.requeueLocked(p, now)
		}
		s.tickLocked(now)
		return nil
	case stateQueued:
		sess.conn.send(encode(&Outbound{Type: TypeQueued, Mode: sess.rec.Mode, Media: sess.rec.Media}))
		return nil
	}
	if sess.join == nil {
		return ErrNotQueued
	}
	if err := s.enqueueLocked(sess, now); err != nil {
		return err
	}
	s.tickLocked(now)
	return nil
}

// requeueLocked puts a person back in the queue of their last join, or
// tells them they are idle when that join cannot be repeated (after a
// restart the preference of opposite mode is gone: it is never stored).
func (s *Server) requeueLocked(sess *session, now time.Time) {
	if sess.join != nil && s.enqueueLocked(sess, now) == nil {
		return
	}
	sess.state = stateIdle
	if sess.conn != nil {
		sess.conn.send(encode(&Outbound{Type: TypeLeft}))
	}
}

// leave ends the chat (the partner hears reason: leave, or failed when this
// browser could not connect) or leaves the queue.
func (s *Server) leave(sess *session, reason string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch sess.state {
	case statePaired:
		s.endPairLocked(sess, reason, false, now)
	case stateQueued:
		s.eng.Leave(sess.id)
		sess.state = stateIdle
		s.markDirty(sess, now)
	}
	if sess.conn != nil {
		sess.conn.send(encode(&Outbound{Type: TypeLeft}))
	}
}

// endPairLocked ends sess's chat: the partner is told why and left idle.
// avoid keeps the two apart from now on.
func (s *Server) endPairLocked(sess *session, reason string, avoid bool, now time.Time) {
	p := sess.partner
	if p != nil {
		if avoid {
			s.eng.Avoid(sess.id, p.id)
		}
		if p.partner == sess {
			p.state = stateIdle
			p.partner = nil
			p.rec.Pair, p.rec.Partner, p.rec.Role, p.rec.Statement = "", "", "", ""
			p.lastPartner, p.lastPartnerAddr, p.lastPartnerAt = sess.id, sess.addr, now
			s.markDirty(p, now)
			if p.conn != nil {
				p.conn.send(encode(&Outbound{Type: TypePartnerLeft, Reason: reason}))
			} else {
				// Away in their resume window: they learn it when they
				// return; the window's timer forgets them if they do not.
				p.missed = reason
			}
		}
		sess.lastPartner, sess.lastPartnerAddr, sess.lastPartnerAt = p.id, p.addr, now
		if !sess.pairedAt.IsZero() {
			s.daily.chatEnded(now, now.Sub(sess.pairedAt))
			s.metrics.observeChat(now.Sub(sess.pairedAt))
		}
		p.pairedAt = time.Time{}
	}
	sess.state = stateIdle
	sess.partner = nil
	sess.pairedAt = time.Time{}
	sess.statement, sess.shared = nil, nil
	sess.rec.Pair, sess.rec.Partner, sess.rec.Role, sess.rec.Statement = "", "", "", ""
	s.markDirty(sess, now)
}

// report records a report against the current partner, or the last one
// within ReportGrace, ends the chat, and bans the partner's address when
// enough different people reported it.
func (s *Server) report(c *conn, sess *session, reason string, now time.Time) error {
	s.mu.Lock()
	var target netip.Addr
	switch {
	case sess.state == statePaired && sess.partner != nil:
		target = sess.partner.addr
		s.endPairLocked(sess, ReasonLeave, true, now) // true: the two never meet again
	case sess.lastPartner != "" && now.Sub(sess.lastPartnerAt) <= s.cfg.ReportGrace:
		target = sess.lastPartnerAddr
		s.eng.Avoid(sess.id, sess.lastPartner)
	}
	if target.IsValid() {
		sess.lastPartner = "" // one report per chat
	}
	s.mu.Unlock()
	if !target.IsValid() {
		return ErrNothingToReport
	}
	s.metrics.reports.Add(1)
	ban, banned, err := s.store.Report(now, target, c.addr, reason)
	if err != nil {
		s.log.Error("storing a report failed", "err", err)
		return ErrInternal
	}
	c.send(encode(&Outbound{Type: TypeReported}))
	if banned {
		s.metrics.bans.Add(1)
		s.log.Info("address banned after reports", "until", ban.Until.UTC().Format(time.RFC3339))
		s.enforceBan(now, prefix.Of(target), ban.Until)
	}
	return nil
}

// enforceBan ends every live session from the banned prefix: the person sees
// until when, the partner learns the chat ended because of a ban.
func (s *Server) enforceBan(now time.Time, prefix netip.Prefix, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sess := range s.sessions {
		if sess.conn == nil || sess.conn.prefix != prefix {
			continue
		}
		switch sess.state {
		case statePaired:
			s.endPairLocked(sess, ReasonBanned, true, now)
		case stateQueued:
			s.eng.Leave(sess.id)
			sess.state = stateIdle
		}
		sess.banned = true
		// The session ends with the ban: its record goes, so its relay
		// credentials die with it even once it has left memory.
		sess.erased = true
		s.persist.remove(sess.id)
		s.sessionEnded(sess.id)
		sess.conn.send(bannedMessage(until))
		sess.conn.close(CloseBanned, "banned")
	}
}

func bannedMessage(until time.Time) []byte {
	return encode(&Outbound{Type: TypeBanned, Until: until.UTC().Format(time.RFC3339)})
}

// disconnected runs when a socket closes. A paired person keeps the pair for
// the resume window; a queued one gets their place back if they return in
// time.
func (s *Server) disconnected(c *conn, sess *session, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess == nil {
		return
	}
	if !c.hello {
		sess.connecting-- // it never got past hello
	}
	if sess.conn != c {
		// Never attached, or taken over by a newer connection.
		s.forgetIfGoneLocked(sess)
		return
	}
	sess.conn = nil
	if s.closing {
		return // the pair stays in the store; the next process resumes it
	}
	s.markDirty(sess, now)
	// A page that said bye just before its socket closed was closed or
	// reloaded: a reload returns within the bye window, a closed tab never.
	window, reason := s.cfg.ResumeWindow, ReasonGone
	if !c.byeAt.IsZero() && now.Sub(c.byeAt) <= s.cfg.ByeWindow {
		window, reason = s.cfg.ByeWindow, ReasonClosed
	}
	switch sess.state {
	case statePaired:
		if p := sess.partner; p != nil && p.conn != nil {
			p.conn.send(encode(&Outbound{Type: TypePartnerReconnecting}))
		}
		s.startGraceLocked(sess, window, reason)
	case stateQueued:
		s.eng.Leave(sess.id)
		sess.state = stateIdle
		sess.wasQueued = true
		s.startGraceLocked(sess, window, reason)
	default:
		if !sess.banned {
			s.startGraceLocked(sess, window, reason)
		} else {
			s.forgetIfGoneLocked(sess)
		}
	}
}

// startGraceLocked holds sess for window; if it has not returned by then,
// its chat ends and the partner hears reason (gone, or closed after bye).
func (s *Server) startGraceLocked(sess *session, window time.Duration, reason string) {
	sess.stopGrace()
	var t *time.Timer
	t = time.AfterFunc(window, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if sess.grace != t || sess.conn != nil || s.closing {
			return
		}
		sess.grace = nil
		now := s.cfg.Clock()
		sess.wasQueued = false
		if sess.state == statePaired {
			s.endPairLocked(sess, reason, false, now)
		}
		s.forgetIfGoneLocked(sess)
	})
	sess.grace = t
}

// forgetIfGoneLocked drops a session from memory once nothing there needs
// it; the store keeps it until its TTL, and a return within that time loads
// it again.
func (s *Server) forgetIfGoneLocked(sess *session) {
	if sess.conn != nil || sess.connecting > 0 || sess.grace != nil || sess.state == statePaired {
		return
	}
	s.persist.final(sess.id, s.snapshot(sess)) // its last state, if not yet written
	s.eng.Forget(sess.id)
	delete(s.sessions, sess.id)
}

// forget removes a session everywhere in memory now (DELETE /api/me).
func (s *Server) forgetLocked(sess *session, now time.Time) {
	if sess.state == statePaired {
		s.endPairLocked(sess, ReasonLeave, false, now)
	}
	if sess.state == stateQueued {
		s.eng.Leave(sess.id)
	}
	sess.stopGrace()
	sess.erased = true
	if sess.conn != nil {
		sess.conn.close(1000, "session erased")
		sess.conn = nil
	}
	s.eng.Forget(sess.id)
	delete(s.sessions, sess.id)
	s.sessionEnded(sess.id)
}
