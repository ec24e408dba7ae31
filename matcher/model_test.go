package matcher

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

// model is an independent, deliberately naive statement of the matching rules: a map of
// waiting people, pair-keyed histories, and a Tick that repeatedly forms the compatible
// pair whose older member has waited longest (ties: that member's longest-waiting partner).
// It shares no code with the engine.
type model struct {
	wait  time.Duration
	lwait time.Duration
	langs []string
	max   int
	prefs []string
	stmts []string
	next  int
	now   time.Time
	seq   int
	q     map[string]*mEntry
	avoid map[[2]string]bool
	met   map[[2]string]int
}

type mEntry struct {
	id        string
	seq       int
	joined    time.Time
	mode      Mode
	media     Media
	pref      string
	interests []string
	lang      string
}

func newModel(cfg Config, topics *Topics) *model {
	m := &model{
		wait:  cfg.InterestWait,
		max:   cfg.MaxMeetings,
		q:     map[string]*mEntry{},
		avoid: map[[2]string]bool{},
		met:   map[[2]string]int{},
	}
	if m.wait == 0 {
		m.wait = 5 * time.Second
	}
	m.lwait, m.langs = cfg.LanguageWait, cfg.Languages
	if m.lwait == 0 {
		m.lwait = 10 * time.Second
	}
	if m.max == 0 {
		m.max = 2
	}
	for _, p := range topics.Preferences {
		m.prefs = append(m.prefs, p.ID)
	}
	for _, s := range topics.Statements {
		m.stmts = append(m.stmts, s.ID)
	}
	return m
}

func pkey(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

func (m *model) clock(now time.Time) {
	if now.After(m.now) {
		m.now = now
	}
}

func (m *model) join(now time.Time, r Request) error {
	if r.ID == "" || len(r.ID) > 128 {
		return ErrBadID
	}
	if r.Mode != ModeRandom && r.Mode != ModeOpposite && r.Mode != ModeInterests {
		return ErrBadMode
	}
	if r.Media != MediaText && r.Media != MediaVideo && r.Media != MediaAudio {
		return ErrBadMedia
	}
	if r.Language != "" && !slices.Contains(m.langs, r.Language) {
		return ErrBadLanguage
	}
	x := &mEntry{id: r.ID, mode: r.Mode, media: r.Media, lang: r.Language}
	switch r.Mode {
	case ModeOpposite:
		if r.Preference == "" {
			return ErrNoPreference
		}
		if !slices.Contains(m.prefs, r.Preference) {
			return ErrBadPreference
		}
		x.pref = r.Preference
	case ModeInterests:
		set := map[string]bool{}
		for _, s := range r.Interests {
			if s == "" {
				continue
			}
			if len(s) > 64 {
				return ErrBadInterests
			}
			set[s] = true
		}
		if len(set) > 32 {
			return ErrBadInterests
		}
		x.interests = slices.Sorted(maps.Keys(set))
	}
	m.clock(now)
	m.seq++
	x.seq, x.joined = m.seq, m.now
	m.q[r.ID] = x
	return nil
}

func (m *model) leave(id string) bool {
	_, ok := m.q[id]
	delete(m.q, id)
	return ok
}

func (m *model) forget(id string) {
	delete(m.q, id)
	for k := range m.avoid {
		if k[0] == id || k[1] == id {
			delete(m.avoid, k)
		}
	}
	for k := range m.met {
		if k[0] == id || k[1] == id {
			delete(m.met, k)
		}
	}
}

func (m *model) doAvoid(a, b string) {
	if a == "" || b == "" || a == b || len(a) > 128 || len(b) > 128 {
		return
	}
	m.avoid[pkey(a, b)] = true
}

func (m *model) restore(id string, h History) {
	if id == "" || len(id) > 128 {
		return
	}
	for _, p := range h.Avoid {
		m.doAvoid(id, p)
	}
	for p, n := range h.Met {
		if p != "" && p != id && len(p) <= 128 && n > m.met[pkey(id, p)] {
			m.met[pkey(id, p)] = n
		}
	}
}

func (m *model) history(id string) History {
	var h History
	for k := range m.avoid {
		if k[0] == id {
			h.Avoid = append(h.Avoid, k[1])
		} else if k[1] == id {
			h.Avoid = append(h.Avoid, k[0])
		}
	}
	slices.Sort(h.Avoid)
	for k, n := range m.met {
		if n <= 0 || k[0] != id && k[1] != id {
			continue
		}
		if h.Met == nil {
			h.Met = map[string]int{}
		}
		if k[0] == id {
			h.Met[k[1]] = n
		} else {
			h.Met[k[0]] = n
		}
	}
	return h
}

func (m *model) past(x *mEntry) bool { return m.now.Sub(x.joined) >= m.wait }

// open says whether x may meet people of another language or none: it declared none, or
// waited LanguageWait for its own.
func (m *model) open(x *mEntry) bool { return x.lang == "" || m.now.Sub(x.joined) >= m.lwait }

func (m *model) sharedOf(a, b *mEntry) []string {
	var out []string
	for _, s := range a.interests {
		if slices.Contains(b.interests, s) {
			out = append(out, s)
		}
	}
	return out
}

func (m *model) compatible(a, b *mEntry) bool {
	if a.id == b.id || a.media != b.media || m.avoid[pkey(a.id, b.id)] || m.met[pkey(a.id, b.id)] >= m.max {
		return false
	}
	if a.lang != b.lang && !(m.open(a) && m.open(b)) {
		return false
	}
	switch {
	case a.mode == ModeRandom && b.mode == ModeRandom:
		return true
	case a.mode == ModeOpposite && b.mode == ModeOpposite:
		return a.pref != b.pref
	case a.mode == ModeInterests && b.mode == ModeInterests:
		return len(m.sharedOf(a, b)) > 0 || m.past(a) && m.past(b)
	case a.mode == ModeInterests && b.mode == ModeRandom:
		return m.past(a)
	case a.mode == ModeRandom && b.mode == ModeInterests:
		return m.past(b)
	}
	return false
}

func (m *model) waiting() []*mEntry {
	w := slices.Collect(maps.Values(m.q))
	slices.SortFunc(w, func(a, b *mEntry) int { return a.seq - b.seq })
	return w
}

// firstPair is the compatible pair whose older member waited longest, or nil.
func (m *model) firstPair() (a, b *mEntry) {
	w := m.waiting()
	for i, a := range w {
		for _, b := range w[i+1:] {
			if m.compatible(a, b) {
				return a, b
			}
		}
	}
	return nil, nil
}

func (m *model) tick(now time.Time) []Pair {
	m.clock(now)
	var out []Pair
	for {
		a, b := m.firstPair()
		if a == nil {
			return out
		}
		p := Pair{Offerer: a.id, Answerer: b.id, Media: a.media, Mode: ModeRandom}
		if a.mode == b.mode {
			p.Mode = a.mode
		}
		if p.Mode == ModeInterests {
			p.Shared = m.sharedOf(a, b)
		}
		if a.lang == b.lang {
			p.Language = a.lang
		}
		if p.Mode == ModeOpposite {
			p.Statement = &Statement{ID: m.stmts[m.next]}
			m.next = (m.next + 1) % len(m.stmts)
		}
		m.met[pkey(a.id, b.id)]++
		delete(m.q, a.id)
		delete(m.q, b.id)
		out = append(out, p)
	}
}

// pairString renders a pair for comparison (statements by id only).
func pairString(p Pair) string {
	st := ""
	if p.Statement != nil {
		st = p.Statement.ID
	}
	s := fmt.Sprintf("%s+%s %s/%s st=%q shared=%q", p.Offerer, p.Answerer, p.Mode, p.Media, st, p.Shared)
	if p.Language != "" {
		s += " lang=" + p.Language
	}
	return s
}

func pairStrings(ps []Pair) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = pairString(p)
	}
	return out
}

// checkTick checks the engine's pairs against the rules, independently of how either
// side computes them, using the model's state from before the Tick; then compares them
// with the model's own Tick and checks liveness.
func checkTick(t *testing.T, e *Engine, m *model, now time.Time, got []Pair) {
	t.Helper()
	m.clock(now)
	inPair := map[string]bool{}
	for _, p := range got {
		a, b := m.q[p.Offerer], m.q[p.Answerer]
		switch {
		case a == nil || b == nil:
			t.Fatalf("pair %s: a member was not waiting", pairString(p))
		case a.id == b.id:
			t.Fatalf("self pair %s", pairString(p))
		case inPair[a.id] || inPair[b.id]:
			t.Fatalf("pair %s: someone is in two pairs", pairString(p))
		case e.Queued(a.id) || e.Queued(b.id):
			t.Fatalf("pair %s: a member is still queued", pairString(p))
		case a.media != b.media || p.Media != a.media:
			t.Fatalf("pair %s: media mismatch %s/%s", pairString(p), a.media, b.media)
		case a.lang != b.lang && !(m.open(a) && m.open(b)):
			t.Fatalf("pair %s: languages %q and %q before the wait", pairString(p), a.lang, b.lang)
		case p.Language != "" && (p.Language != a.lang || p.Language != b.lang):
			t.Fatalf("pair %s: language %q for %q and %q", pairString(p), p.Language, a.lang, b.lang)
		case m.avoid[pkey(a.id, b.id)]:
			t.Fatalf("pair %s: avoided", pairString(p))
		case m.met[pkey(a.id, b.id)] >= m.max:
			t.Fatalf("pair %s: meeting %d", pairString(p), m.met[pkey(a.id, b.id)]+1)
		case a.seq > b.seq:
			t.Fatalf("pair %s: the offerer waited less", pairString(p))
		}
		inPair[a.id], inPair[b.id] = true, true
		switch {
		case a.mode == ModeOpposite || b.mode == ModeOpposite:
			if a.mode != b.mode || a.pref == b.pref || p.Statement == nil || p.Mode != ModeOpposite {
				t.Fatalf("pair %s: bad opposite pair (%s %q, %s %q)", pairString(p), a.mode, a.pref, b.mode, b.pref)
			}
			if _, ok := e.Topics().StatementByID(p.Statement.ID); !ok {
				t.Fatalf("pair %s: statement not from topics", pairString(p))
			}
		case a.mode == ModeInterests && b.mode == ModeInterests:
			sh := m.sharedOf(a, b)
			if len(sh) == 0 && !(m.past(a) && m.past(b)) || !slices.Equal(sh, p.Shared) {
				t.Fatalf("pair %s: interests %q and %q, past %v %v", pairString(p), a.interests, b.interests, m.past(a), m.past(b))
			}
		case a.mode == ModeInterests && !m.past(a), b.mode == ModeInterests && !m.past(b):
			t.Fatalf("pair %s: interests person paired with random before the wait", pairString(p))
		}
		if p.Mode != ModeOpposite && p.Statement != nil {
			t.Fatalf("pair %s: statement outside opposite mode", pairString(p))
		}
	}
	want := m.tick(now)
	if g, w := pairStrings(got), pairStrings(want); !slices.Equal(g, w) {
		t.Fatalf("at %v Tick formed\n%q\nthe model (oldest first) forms\n%q", now.Format("15:04:05.000"), g, w)
	}
	if a, b := m.firstPair(); a != nil {
		t.Fatalf("liveness: %s and %s could meet but still wait", a.id, b.id)
	}
}

// compareState checks queue membership, counts and histories of every id in ids.
func compareState(t *testing.T, e *Engine, m *model, ids []string) {
	t.Helper()
	counts := map[[2]string]int{}
	for _, x := range m.q {
		counts[[2]string{string(x.mode), string(x.media)}]++
	}
	for _, c := range e.Waiting() {
		if w := counts[[2]string{string(c.Mode), string(c.Media)}]; c.N != w {
			t.Fatalf("Waiting %s/%s = %d, model %d", c.Mode, c.Media, c.N, w)
		}
	}
	for _, id := range ids {
		if _, ok := m.q[id]; e.Queued(id) != ok {
			t.Fatalf("Queued(%s) = %v, model %v", id, e.Queued(id), ok)
		}
		if g, w := e.History(id), m.history(id); !slices.Equal(g.Avoid, w.Avoid) || !maps.Equal(g.Met, w.Met) {
			t.Fatalf("History(%s) = %+v, model %+v", id, g, w)
		}
	}
	if err := e.check(); err != nil {
		t.Fatal(err)
	}
}

func sameErr(got, want error) bool {
	if want == nil {
		return got == nil
	}
	return errors.Is(got, want)
}
