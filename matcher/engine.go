// Package matcher pairs waiting people by mode, media, language and history: pure, in memory, time passed in.
package matcher

import (
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
	MediaAudio Media = "audio" // voice only
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
	mediaAudio
	nMedia
)

var (
	modeNames  = [nModes]Mode{ModeRandom, ModeOpposite, ModeInterests}
	mediaNames = [nMedia]Media{MediaText, MediaVideo, MediaAudio}
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
	case MediaAudio:
		return mediaAudio
	}
	return -1
}

// Bounds on a Request, so that one person cannot make the engine's memory or work grow.
const (
	MaxIDLen       = 128 // bytes; session IDs are 64 hex characters
	MaxInterests   = 32  // distinct interests per request
	MaxInterestLen = 64  // bytes per interest
	MaxLanguages   = 32  // languages in Config.Languages
	MaxLanguageLen = 16  // bytes per language
)

// Defaults for the zero values of Config.
const (
	DefaultInterestWait = 5 * time.Second
	DefaultLanguageWait = 10 * time.Second
	DefaultMaxMeetings  = 2
)

// Request asks for a place in a queue.
type Request struct {
	ID         string
	Mode       Mode
	Media      Media
	Preference string   // opposite: a preference id from Topics (ErrBadPreference otherwise)
	Interests  []string // interests: already normalised by the caller (lower-case, trimmed)
	// Language is the chat language the person declared, one of Config.Languages, or
	// empty for none. Within LanguageWait they meet only people of the same language;
	// after it, also people without one and others past their own wait.
	Language string
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
	Language  string     // the language both declared; empty when they differ or have none
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
	// Languages are the chat languages a Request may declare (short codes such as "en";
	// at most MaxLanguages). nil means none: a Request with a Language is refused.
	Languages []string
	// LanguageWait is how long a person with a language waits for someone of the same
	// language before people without one, or with another past their own wait, will do.
	// 0 means DefaultLanguageWait (10s).
	LanguageWait time.Duration
}

func (c Config) validate() error {
	if c.InterestWait < 0 {
		return fmt.Errorf("%w: negative InterestWait %v", ErrBadConfig, c.InterestWait)
	}
	if c.MaxMeetings < 0 {
		return fmt.Errorf("%w: negative MaxMeetings %d", ErrBadConfig, c.MaxMeetings)
	}
	if c.LanguageWait < 0 {
		return fmt.Errorf("%w: negative LanguageWait %v", ErrBadConfig, c.LanguageWait)
	}
	if len(c.Languages) > MaxLanguages {
		return fmt.Errorf("%w: %d languages, at most %d", ErrBadConfig, len(c.Languages), MaxLanguages)
	}
	for i, l := range c.Languages {
		if l == "" || len(l) > MaxLanguageLen || slices.Contains(c.Languages[:i], l) {
			return fmt.Errorf("%w: language %d empty, too long or repeated", ErrBadConfig, i)
		}
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
	topics    *Topics
	prefs     map[string]int // preference id -> index into topics.Preferences
	langs     map[string]int // language -> its slot (slotFirst and up)
	langNames []string       // by slot; empty for slotNone and slotCrossed
	slots     int            // language slots per media: none, crossed, then one per language
	wait      time.Duration
	lwait     time.Duration
	maxMeet   int
	now       time.Time // latest time seen: the engine's time never runs backwards
	seq       uint64    // join counter: lower means waiting longer
	tick      uint64    // Tick counter, to put an entry on the visit list once
	nextStmt  int       // round-robin over topics.Statements

	sessions map[string]*session
	counts   [nModes][nMedia]int
	queued   int
	crossed  [nMedia]int // people queued on the crossed pool's lists

	// The queues, one set per pool (see pool). Every list is ordered by seq (oldest first).
	random   []list
	opposite [][]list           // one list per preference
	interest []map[string]*list // one list per interest; empty lists are deleted
	fallback []list             // interests people past InterestWait
	pending  list               // interests people still within InterestWait: their deadlines in order
	lpending list               // people with a language still within LanguageWait, likewise

	newcomers []*entry   // joined since the last Tick; stale once left or replaced
	visit     []*entry   // scratch for Tick
	scratch   []string   // scratch for Join: interests being checked
	free      []*session // records to reuse, at most maxFree
	formed    []formed   // scratch for Tick
	wide      []int      // scratch for Tick: pools whose random people meet a faller

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
//
// Everyone is on the lists of their own pool (media and language, or media and no
// language). Someone with a language who is past LanguageWait has crossed: they are also
// on the lists of the crossed pool of their media, through a second set of nodes.
type entry struct {
	s         *session
	seq       uint64
	deadline  time.Time // interests: when the person falls back to random
	ldeadline time.Time // with a language: when they cross
	mode      int8
	media     int8
	lang      int8 // slotNone or the language's slot
	queued    bool
	fellBack  bool // interests: past InterestWait
	crossed   bool // with a language: past LanguageWait
	pref      int  // opposite
	own       int  // the pool of media and lang
	mark      uint64
	q         node    // random, opposite[pref], or pending then fallback, of the own pool
	in        []inode // interests: one per interest, on that interest's list of the own pool
	xq        node    // crossed: the same on the crossed pool's lists (interests: fallback only)
	xin       []inode // crossed interests: on the crossed pool's interest lists
	lq        node    // on lpending until crossed
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
		lwait:    cfg.LanguageWait,
		maxMeet:  cfg.MaxMeetings,
		sessions: make(map[string]*session),
		langs:    make(map[string]int, len(cfg.Languages)),
		slots:    slotFirst + len(cfg.Languages),
	}
	if e.wait == 0 {
		e.wait = DefaultInterestWait
	}
	if e.lwait == 0 {
		e.lwait = DefaultLanguageWait
	}
	e.langNames = make([]string, e.slots)
	for i, l := range cfg.Languages {
		e.langs[l] = slotFirst + i
		e.langNames[slotFirst+i] = l
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
	pools := nMedia * e.slots
	e.random, e.fallback = make([]list, pools), make([]list, pools)
	e.opposite, e.interest = make([][]list, pools), make([]map[string]*list, pools)
	for p := range pools {
		e.opposite[p] = make([]list, len(e.topics.Preferences))
		e.interest[p] = make(map[string]*list)
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
	lang := slotNone
	if r.Language != "" {
		l, ok := e.langs[r.Language]
		if !ok {
			return ErrBadLanguage
		}
		lang = l
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
	own := e.pool(md, lang)
	*x = entry{s: s, seq: e.seq, mode: int8(mo), media: int8(md), lang: int8(lang), queued: true, pref: pref, own: own,
		in: x.in[:0], xin: x.xin[:0]}
	switch mo {
	case modeRandom:
		e.random[own].push(&x.q, x)
	case modeOpposite:
		e.opposite[own][pref].push(&x.q, x)
	case modeInterests:
		x.deadline = now.Add(e.wait)
		e.pending.push(&x.q, x)
		x.in = slices.Grow(x.in, len(interests))[:len(interests)]
		for i, it := range interests {
			x.in[i].name = it
			e.interestList(own, it).push(&x.in[i].node, x)
		}
		clear(interests)
		e.scratch = interests[:0]
	}
	if lang != slotNone {
		x.ldeadline = now.Add(e.lwait)
		e.lpending.push(&x.lq, x)
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
// and languages together: an aggregate for the public stats, in time proportional to the
// preference list and the pools.
func (e *Engine) WaitingByPreference() map[string]int {
	out := make(map[string]int, len(e.topics.Preferences))
	for i, p := range e.topics.Preferences {
		for pool := range e.opposite {
			if pool%e.slots != slotCrossed { // the crossed are on their own pool's list too
				out[p.ID] += e.opposite[pool][i].n
			}
		}
	}
	return out
}

// unqueue removes x from every list and forgets its request (preference and language
// included). The caller decides whether the session record goes too.
func (e *Engine) unqueue(x *entry) {
	x.q.list.remove(&x.q)
	if x.xq.list != nil {
		x.xq.list.remove(&x.xq)
	}
	if x.lq.list != nil {
		x.lq.list.remove(&x.lq)
	}
	if x.crossed {
		e.crossed[x.media]--
	}
	e.dropInterests(x.own, x.in)
	e.dropInterests(e.pool(int(x.media), slotCrossed), x.xin)
	e.counts[x.mode][x.media]--
	e.queued--
	x.queued = false
	clear(x.in)
	clear(x.xin)
	x.pref, x.in, x.xin, x.fellBack, x.crossed, x.lang = -1, x.in[:0], x.xin[:0], false, false, slotNone
	x.s.ent = nil
}

// dropInterests takes nodes off the interest lists of pool p, deleting lists left empty.
func (e *Engine) dropInterests(p int, in []inode) {
	for i := range in {
		n := &in[i].node
		l := n.list
		l.remove(n)
		if l.head == nil {
			delete(e.interest[p], in[i].name)
		}
	}
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
		in, xin := s.e.in[:0], s.e.xin[:0]
		*s = session{id: id}
		s.e.in, s.e.xin = in, xin
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
