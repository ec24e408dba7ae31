// Package matcher pairs waiting people by mode, media and history: pure, in memory, time passed in.
package matcher

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Mode is how a person wants to be matched.
type Mode string

// The matching modes.
const (
	ModeRandom    Mode = "random"    // anyone
	ModeOpposite  Mode = "opposite"  // someone with a different preference, to debate a statement
	ModeInterests Mode = "interests" // someone sharing an interest, else anyone after InterestWait
)

// Media is how a pair talks; only people asking for the same media meet.
type Media string

// The media.
const (
	MediaText  Media = "text"
	MediaVideo Media = "video"
)

// Indexes into the per-mode and per-media arrays.
const (
	modeRandom = iota
	modeOpposite
	modeInterests
	nModes
)

const (
	mediaText = iota
	mediaVideo
	nMedia
)

var (
	modeNames  = [nModes]Mode{ModeRandom, ModeOpposite, ModeInterests}
	mediaNames = [nMedia]Media{MediaText, MediaVideo}
)

func modeIndex(m Mode) int {
	switch m {
	case ModeRandom:
		return modeRandom
	case ModeOpposite:
		return modeOpposite
	case ModeInterests:
		return modeInterests
	}
	return -1
}

func mediaIndex(m Media) int {
	switch m {
	case MediaText:
		return mediaText
	case MediaVideo:
		return mediaVideo
	}
	return -1
}

// Bounds on a Request, so that one person cannot make the engine's memory or work grow.
const (
	MaxIDLen       = 128 // bytes; session IDs are 64 hex characters
	MaxInterests   = 32  // distinct interests per request
	MaxInterestLen = 64  // bytes per interest
)

// Defaults for the zero values of Config.
const (
	DefaultInterestWait = 5 * time.Second
	DefaultMaxMeetings  = 2
)

// Request asks for a place in a queue.
type Request struct {
	ID         string
	Mode       Mode
	Media      Media
	Preference string   // opposite: a preference id from Topics (ErrBadPreference otherwise)
	Interests  []string // interests: already normalised by the caller (lower-case, trimmed)
}

// Pair is two people who should now talk.
type Pair struct {
	Offerer, Answerer string // the one who waited longer offers
	// Mode is the mode both asked for; ModeRandom when an interests person fell back to a
	// random one.
	Mode      Mode
	Media     Media
	Statement *Statement // opposite mode only; points into the engine's Topics (read-only)
	Shared    []string   // interests mode: interests both share, sorted (empty after a fallback)
}

// Count is the number of people waiting in one queue.
type Count struct {
	Mode  Mode
	Media Media
	N     int
}

// Config tunes the engine. Zero values mean the defaults.
type Config struct {
	// Topics lists the preferences for opposite mode and the statements to debate.
	// nil means DefaultTopics(). New keeps a copy.
	Topics *Topics
	// InterestWait is how long an interests person waits for a shared interest before
	// anyone will do. 0 means DefaultInterestWait (5s).
	InterestWait time.Duration
	// MaxMeetings is how often the same two may meet in one session; the next meeting
	// would be one too many. 0 means DefaultMaxMeetings (2).
	MaxMeetings int
}

func (c Config) validate() error {
	if c.InterestWait < 0 {
		return fmt.Errorf("%w: negative InterestWait %v", ErrBadConfig, c.InterestWait)
	}
	if c.MaxMeetings < 0 {
		return fmt.Errorf("%w: negative MaxMeetings %d", ErrBadConfig, c.MaxMeetings)
	}
	if c.Topics != nil {
		t := c.Topics.clone()
		t.fill()
		return t.validate()
	}
	return nil
}

// Engine holds the queues and the meeting histories.
//
// It is not safe for concurrent use: the caller serialises every call (one mutex around
// the engine is enough, since no call blocks or does I/O).
//
// Call Tick right after each Join, for latency, and every few hundred milliseconds, so
// that interests people fall back soon after InterestWait; nothing else ever needs it.
//
// Work is proportional to what changed: Join and Leave are O(1) plus the number of
// interests; Tick looks only at people who joined since the last Tick and at interests
// people whose wait ran out, and finds each one's oldest compatible partner from the
// heads of ordered lists, skipping only people it must not meet again.
type Engine struct {
	topics   *Topics
	prefs    map[string]int // preference id -> index into topics.Preferences
	wait     time.Duration
	maxMeet  int
	now      time.Time // latest time seen: the engine's time never runs backwards
	seq      uint64    // join counter: lower means waiting longer
	tick     uint64    // Tick counter, to put an entry on the visit list once
	nextStmt int       // round-robin over topics.Statements

	sessions map[string]*session
	counts   [nModes][nMedia]int
	queued   int

	// The queues. Every list is ordered by seq (oldest first).
	random   [nMedia]list
	opposite [nMedia][]list           // one list per preference
	interest [nMedia]map[string]*list // one list per interest; empty lists are deleted
	pending  list                     // interests people still within InterestWait: their deadlines in order
	fallback [nMedia]list             // interests people past InterestWait

	newcomers []*entry   // joined since the last Tick; stale once left or replaced
	visit     []*entry   // scratch for Tick
	scratch   []string   // scratch for Join: interests being checked
	free      []*session // records to reuse, at most maxFree
	formed    []formed   // scratch for Tick

	work uint64 // entries Tick visited and list nodes it examined: lets tests check it follows change
}

// session is what the engine knows about one ID. It exists while the ID is queued or has
// relations, and no longer, so memory is bounded by people waiting plus live histories.
type session struct {
	id   string
	ent  *entry // &e while queued, else nil
	e    entry  // reused by every Join of this ID: no allocation per join
	rels rels
}

// entry is one place in a queue. The preference lives here only and is cleared as soon
// as the person leaves the queue or is paired.
type entry struct {
	s        *session
	seq      uint64
	deadline time.Time // interests: when the person falls back to random
	mode     int8
	media    int8
	queued   bool
	fellBack bool    // interests: past InterestWait
	pref     int     // opposite
	mark     uint64  // last Tick that put the entry on the visit list
	q        node    // random[media], opposite[media][pref], or pending then fallback[media]
	in       []inode // interests: one per interest, on that interest's list
}

// inode is an interest of an entry and its place on that interest's list; one slice of
// them (reused by the next Join of the same ID) holds both.
type inode struct {
	node
	name string
}

type formed struct {
	seq uint64 // the offerer's
	p   Pair
}

// New returns an empty engine.
func New(cfg Config) (*Engine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		wait:     cfg.InterestWait,
		maxMeet:  cfg.MaxMeetings,
		sessions: make(map[string]*session),
	}
	if e.wait == 0 {
		e.wait = DefaultInterestWait
	}
	if e.maxMeet == 0 {
		e.maxMeet = DefaultMaxMeetings
	}
	if cfg.Topics == nil {
		e.topics = DefaultTopics()
	} else {
		e.topics = cfg.Topics.clone()
		e.topics.fill()
	}
	e.prefs = make(map[string]int, len(e.topics.Preferences))
	for i, p := range e.topics.Preferences {
		e.prefs[p.ID] = i
	}
	for m := range nMedia {
		e.opposite[m] = make([]list, len(e.topics.Preferences))
		e.interest[m] = make(map[string]*list)
	}
	return e, nil
}

// Topics returns the engine's topics, for the welcome message and for looking up a
// statement by id on resume. Read-only.
func (e *Engine) Topics() *Topics { return e.topics }

// advance moves the engine's clock; a now earlier than one already seen counts as the
// latest, so the order of arrival is the order of waiting.
func (e *Engine) advance(now time.Time) time.Time {
	if now.After(e.now) {
		e.now = now
	}
	return e.now
}

// Join puts r.ID in the queue for r.Mode and r.Media, or replaces its place if it is
// already queued (the new request waits from now). On error nothing changes.
// A Preference is ignored outside opposite mode, Interests outside interests mode.
// Duplicate and empty interests are dropped.
func (e *Engine) Join(now time.Time, r Request) error {
	if r.ID == "" || len(r.ID) > MaxIDLen {
		return ErrBadID
	}
	mo, md := modeIndex(r.Mode), mediaIndex(r.Media)
	if mo < 0 {
		return ErrBadMode
	}
	if md < 0 {
		return ErrBadMedia
	}
	pref := -1
	interests := e.scratch[:0]
	switch mo {
	case modeOpposite:
		if r.Preference == "" {
			return ErrNoPreference
		}
		p, ok := e.prefs[r.Preference]
		if !ok {
			return ErrBadPreference
		}
		pref = p
	case modeInterests:
		var err error
		if interests, err = normInterests(interests, r.Interests); err != nil {
			return err
		}
	}
	now = e.advance(now)

	s := e.sessions[r.ID]
	if s == nil {
		s = e.newSession(r.ID)
	} else if s.ent != nil {
		e.unqueue(s.ent)
	}
	e.seq++
	x := &s.e
	*x = entry{s: s, seq: e.seq, mode: int8(mo), media: int8(md), queued: true, pref: pref, in: x.in[:0]}
	switch mo {
	case modeRandom:
		e.random[md].push(&x.q, x)
	case modeOpposite:
		e.opposite[md][pref].push(&x.q, x)
	case modeInterests:
		x.deadline = now.Add(e.wait)
		e.pending.push(&x.q, x)
		x.in = slices.Grow(x.in, len(interests))[:len(interests)]
		for i, it := range interests {
			l := e.interest[md][it]
			if l == nil {
				l = new(list)
				e.interest[md][it] = l
			}
			x.in[i].name = it
			l.push(&x.in[i].node, x)
		}
		clear(interests)
		e.scratch = interests[:0]
	}
	s.ent = x
	e.counts[mo][md]++
	e.queued++
	// Without Ticks, stale newcomers (left or replaced) would pile up: drop them now and then.
	if len(e.newcomers) >= 64 && len(e.newcomers) >= 2*e.queued {
		e.newcomers = slices.DeleteFunc(e.newcomers, func(x *entry) bool { return !x.queued })
	}
	e.newcomers = append(e.newcomers, x)
	return nil
}

// normInterests appends the distinct non-empty interests of in to out.
func normInterests(out, in []string) ([]string, error) {
	for _, s := range in {
		if s == "" || slices.Contains(out, s) {
			continue
		}
		if len(s) > MaxInterestLen || len(out) == MaxInterests {
			clear(out) // out is the engine's scratch: keep no rejected input in it
			return nil, ErrBadInterests
		}
		out = append(out, s)
	}
	return out, nil
}

// Leave takes id out of its queue; false if it was not queued. Its history stays.
func (e *Engine) Leave(id string) bool {
	s := e.sessions[id]
	if s == nil || s.ent == nil {
		return false
	}
	e.unqueue(s.ent)
	e.dropIfEmpty(s)
	return true
}

// Queued reports whether id is waiting in a queue.
func (e *Engine) Queued(id string) bool {
	s := e.sessions[id]
	return s != nil && s.ent != nil
}

// Waiting returns how many people wait in each queue, every mode and media, in a fixed order.
func (e *Engine) Waiting() []Count {
	out := make([]Count, 0, nModes*nMedia)
	for mo := range nModes {
		for md := range nMedia {
			out = append(out, Count{Mode: modeNames[mo], Media: mediaNames[md], N: e.counts[mo][md]})
		}
	}
	return out
}

// WaitingByPreference counts the people waiting in opposite mode per preference id, all media
// together: an aggregate for the public stats, in time proportional to the preference list.
func (e *Engine) WaitingByPreference() map[string]int {
	out := make(map[string]int, len(e.topics.Preferences))
	for i, p := range e.topics.Preferences {
		for md := range nMedia {
			out[p.ID] += e.opposite[md][i].n
		}
	}
	return out
}

// unqueue removes x from every list and forgets its request (preference included).
// The caller decides whether the session record goes too.
func (e *Engine) unqueue(x *entry) {
	x.q.list.remove(&x.q)
	for i := range x.in {
		n := &x.in[i].node
		l := n.list
		l.remove(n)
		if l.head == nil {
			delete(e.interest[x.media], x.in[i].name)
		}
	}
	e.counts[x.mode][x.media]--
	e.queued--
	x.queued = false
	clear(x.in)
	x.pref, x.in, x.fellBack = -1, x.in[:0], false
	x.s.ent = nil
}

func (e *Engine) dropIfEmpty(s *session) {
	if s.ent == nil && s.rels.len() == 0 {
		e.dropSession(s)
	}
}

// maxFree bounds the records kept for reuse. Reusing them halves the garbage of a chat
// (the GC, not the matching, was most of the cost), and the bound returns memory after a peak.
const maxFree = 1024

func (e *Engine) newSession(id string) *session {
	var s *session
	if n := len(e.free); n > 0 {
		s = e.free[n-1]
		e.free[n-1] = nil
		e.free = e.free[:n-1]
		in := s.e.in[:0]
		*s = session{id: id}
		s.e.in = in
	} else {
		s = &session{id: id}
	}
	e.sessions[id] = s
	return s
}

// dropSession deletes a record that is neither queued nor related to anyone. Nothing
// else points to it: relations are symmetric, and a stale newcomer pointer sees an entry
// that is not queued, or, once reused, a queued one that Tick may visit again harmlessly.
func (e *Engine) dropSession(s *session) {
	delete(e.sessions, s.id)
	if len(e.free) < maxFree {
		s.id, s.rels = "", rels{}
		e.free = append(e.free, s)
	}
}

// Tick forms every pair that can form at now and returns them, oldest offerer first.
//
// The result is the same as this greedy rule over everyone waiting: take the person who
// has waited longest among those with any compatible partner, pair them with their
// longest-waiting compatible partner, repeat. Equivalently, going from oldest to
// youngest, each person takes the longest-waiting compatible person older than them.
// Since after every Tick nobody waiting is compatible with anybody else, only people who
// joined since, and people whose interest wait ran out (with those who could now meet
// them), can have an older partner; Tick visits only them.
func (e *Engine) Tick(now time.Time) []Pair {
	now = e.advance(now)
	e.tick++
	v := e.visit[:0]
	for _, x := range e.newcomers {
		e.work++
		if x.queued && x.mark != e.tick {
			x.mark = e.tick
			v = append(v, x)
		}
	}
	clear(e.newcomers)
	e.newcomers = e.newcomers[:0]

	// Interests people whose wait ran out fall back. Deadlines are in join order, so
	// they come off the head of one list. A fallen-back person can now meet random
	// people and other fallen-back people, older or younger: those are visited too.
	var crossed [nMedia]bool
	for n := e.pending.head; n != nil && !n.e.deadline.After(now); n = e.pending.head {
		x := n.e
		e.pending.remove(n)
		x.fellBack = true
		e.fallback[x.media].push(n, x)
		crossed[x.media] = true
		if x.mark != e.tick {
			x.mark = e.tick
			v = append(v, x)
		}
		e.work++
	}
	for md := range nMedia {
		if !crossed[md] {
			continue
		}
		// Before this Tick nobody in these lists could meet anybody, so apart from this
		// Tick's newcomers and fallers they hold only people blocked from each other: few.
		for _, l := range [2]*list{&e.random[md], &e.fallback[md]} {
			for n := l.head; n != nil; n = n.next {
				e.work++
				if n.e.mark != e.tick {
					n.e.mark = e.tick
					v = append(v, n.e)
				}
			}
		}
	}
	if len(v) == 0 {
		e.visit = v
		return nil
	}
	if len(v) > 1 {
		slices.SortFunc(v, func(a, b *entry) int { return cmp.Compare(a.seq, b.seq) })
	}

	f := e.formed[:0]
	for _, y := range v {
		if !y.queued {
			continue // cannot happen (earlier visits take only people older than themselves); cheap to keep
		}
		if c := e.oldestOlder(y); c != nil {
			f = append(f, formed{seq: c.seq, p: e.pair(c, y)})
		}
	}
	clear(v)
	e.visit = v[:0]
	if len(f) > 1 {
		slices.SortFunc(f, func(a, b formed) int { return cmp.Compare(a.seq, b.seq) })
	}
	var pairs []Pair
	if len(f) > 0 {
		pairs = make([]Pair, len(f))
	}
	for i := range f {
		p := f[i].p
		if p.Mode == ModeOpposite {
			// Assigned after sorting so that the rotation follows the documented order.
			p.Statement = &e.topics.Statements[e.nextStmt]
			e.nextStmt = (e.nextStmt + 1) % len(e.topics.Statements)
		}
		pairs[i] = p
	}
	clear(f)
	e.formed = f[:0]
	return pairs
}

// oldestOlder returns the longest-waiting person who joined before y and may meet y now.
func (e *Engine) oldestOlder(y *entry) *entry {
	var best *entry
	limit := y.seq
	try := func(l *list) {
		if c := e.first(l, y, limit); c != nil {
			best, limit = c, c.seq
		}
	}
	md := y.media
	switch y.mode {
	case modeRandom:
		try(&e.random[md])
		try(&e.fallback[md])
	case modeOpposite:
		for p := range e.opposite[md] {
			if p != y.pref {
				try(&e.opposite[md][p])
			}
		}
	case modeInterests:
		for i := range y.in {
			try(y.in[i].list)
		}
		if y.fellBack {
			try(&e.fallback[md])
			try(&e.random[md])
		}
	}
	return best
}

// first returns the oldest entry on l that joined before limit and that y may meet.
// Everyone on the lists oldestOlder passes is compatible with y by mode and media, so the
// walk skips only people y must not meet again: it is bounded by y's history.
func (e *Engine) first(l *list, y *entry, limit uint64) *entry {
	rs := &y.s.rels
	for n := l.head; n != nil && n.e.seq < limit; n = n.next {
		e.work++
		if rs.len() == 0 {
			return n.e
		}
		if r := rs.get(n.e.s); r.avoid || int(r.met) >= e.maxMeet {
			continue
		}
		return n.e
	}
	return nil
}

// pair records the meeting of c (older) and y and takes both out of their queues.
func (e *Engine) pair(c, y *entry) Pair {
	p := Pair{Offerer: c.s.id, Answerer: y.s.id, Media: mediaNames[c.media], Mode: ModeRandom}
	if c.mode == y.mode {
		p.Mode = modeNames[c.mode]
		if c.mode == modeInterests {
			p.Shared = shared(c.in, y.in)
		}
	}
	r := c.s.rels.get(y.s)
	r.met++
	relate(c.s, y.s, r)
	e.unqueue(c)
	e.unqueue(y)
	return p
}

func shared(a, b []inode) []string {
	var out []string
	for i := range a {
		for j := range b {
			if a[i].name == b[j].name {
				out = append(out, a[i].name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}
