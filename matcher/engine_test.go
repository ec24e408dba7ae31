package matcher

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// op is one step of a scenario; offsets are from t0.
type op func(t *testing.T, e *Engine)

func join(at time.Duration, id string, mode Mode, media Media, prefOrInterests ...string) op {
	return func(t *testing.T, e *Engine) {
		t.Helper()
		r := Request{ID: id, Mode: mode, Media: media}
		if mode == ModeOpposite && len(prefOrInterests) > 0 {
			r.Preference = prefOrInterests[0]
		} else {
			r.Interests = prefOrInterests
		}
		if err := e.Join(t0.Add(at), r); err != nil {
			t.Fatalf("Join(%+v): %v", r, err)
		}
	}
}

// joinL joins with a language.
func joinL(at time.Duration, id, lang string, mode Mode, media Media, prefOrInterests ...string) op {
	return func(t *testing.T, e *Engine) {
		t.Helper()
		r := Request{ID: id, Mode: mode, Media: media, Language: lang}
		if mode == ModeOpposite && len(prefOrInterests) > 0 {
			r.Preference = prefOrInterests[0]
		} else {
			r.Interests = prefOrInterests
		}
		if err := e.Join(t0.Add(at), r); err != nil {
			t.Fatalf("Join(%+v): %v", r, err)
		}
	}
}

// tick expects exactly these pairs, written "offerer+answerer", in this order.
func tick(at time.Duration, want ...string) op {
	return func(t *testing.T, e *Engine) {
		t.Helper()
		got := e.Tick(t0.Add(at))
		var g []string
		for _, p := range got {
			g = append(g, p.Offerer+"+"+p.Answerer)
		}
		if !slices.Equal(g, want) {
			t.Fatalf("Tick(+%v) = %q, want %q", at, g, want)
		}
	}
}

func avoid(a, b string) op { return func(_ *testing.T, e *Engine) { e.Avoid(a, b) } }
func forget(id string) op  { return func(_ *testing.T, e *Engine) { e.Forget(id) } }
func leave(id string, want bool) op {
	return func(t *testing.T, e *Engine) {
		t.Helper()
		if got := e.Leave(id); got != want {
			t.Fatalf("Leave(%s) = %v, want %v", id, got, want)
		}
	}
}
func restore(id string, h History) op { return func(_ *testing.T, e *Engine) { e.Restore(id, h) } }

const (
	R, O, I = ModeRandom, ModeOpposite, ModeInterests
	T, V, A = MediaText, MediaVideo, MediaAudio
	s       = time.Second
)

func TestRules(t *testing.T) {
	langs := Config{Languages: []string{"en", "nl"}}
	tests := []struct {
		name string
		cfg  Config
		ops  []op
	}{
		{"random pairs the two waiting", Config{}, []op{
			join(0, "a", R, T), tick(0), join(s, "b", R, T), tick(s, "a+b")}},
		{"the longer waiter offers", Config{}, []op{
			join(0, "b", R, T), join(s, "a", R, T), tick(s, "b+a")}},
		{"the longest-waiting compatible candidate wins", Config{}, []op{
			avoid("a", "b"), join(0, "a", R, T), join(s, "b", R, T), tick(s),
			join(2*s, "c", R, T), tick(2*s, "a+c")}},
		{"media must match", Config{}, []op{
			join(0, "a", R, T), join(0, "b", R, V), tick(0),
			join(s, "c", R, V), tick(s, "b+c")}},
		{"modes do not mix", Config{}, []op{
			join(0, "a", R, T), join(0, "b", O, T, "left"), join(0, "c", I, T, "chess"), tick(0)}},
		{"no self pair: joining twice replaces", Config{}, []op{
			join(0, "a", R, T), join(s, "a", R, T), tick(s), join(2*s, "b", R, T), tick(2*s, "a+b")}},
		{"avoid holds both ways", Config{}, []op{
			avoid("b", "a"), join(0, "a", R, T), join(0, "b", R, T), tick(0),
			join(s, "c", R, T), tick(s, "a+c")}},
		{"avoid the other way round", Config{}, []op{
			avoid("a", "b"), join(0, "b", R, T), join(0, "a", R, T), tick(0)}},
		{"avoid while queued", Config{}, []op{
			join(0, "a", R, T), tick(0), avoid("a", "b"), join(s, "b", R, T), tick(s)}},
		{"avoid survives Forget of a third", Config{}, []op{
			avoid("a", "b"), forget("c"), join(0, "a", R, T), join(0, "b", R, T), tick(0)}},
		{"no third meeting", Config{}, []op{
			join(0, "a", R, T), join(0, "b", R, T), tick(0, "a+b"),
			join(s, "a", R, T), join(s, "b", R, T), tick(s, "a+b"),
			join(2*s, "a", R, T), join(2*s, "b", R, T), tick(2 * s),
			join(3*s, "c", R, T), tick(3*s, "a+c")}},
		{"MaxMeetings 1", Config{MaxMeetings: 1}, []op{
			join(0, "a", R, T), join(0, "b", R, T), tick(0, "a+b"),
			join(s, "b", R, T), join(s, "a", R, T), tick(s)}},
		{"meetings count across modes", Config{}, []op{
			join(0, "a", O, T, "left"), join(0, "b", O, T, "right"), tick(0, "a+b"),
			join(s, "a", I, V, "go"), join(s, "b", I, V, "go"), tick(s, "a+b"),
			join(2*s, "a", R, T), join(2*s, "b", R, T), tick(2 * s)}},
		{"Forget clears the history", Config{MaxMeetings: 1}, []op{
			join(0, "a", R, T), join(0, "b", R, T), tick(0, "a+b"), avoid("a", "b"),
			forget("a"), join(s, "a", R, T), join(s, "b", R, T), tick(s, "a+b")}},
		{"restored avoid blocks", Config{}, []op{
			restore("a", History{Avoid: []string{"b"}}), join(0, "a", R, T), join(0, "b", R, T), tick(0)}},
		{"restored meetings block", Config{}, []op{
			restore("b", History{Met: map[string]int{"a": 2}}), join(0, "a", R, T), join(0, "b", R, T), tick(0)}},
		{"restored meetings below the limit do not block", Config{}, []op{
			restore("b", History{Met: map[string]int{"a": 1}}), join(0, "a", R, T), join(0, "b", R, T), tick(0, "a+b"),
			join(s, "a", R, T), join(s, "b", R, T), tick(s)}},
		{"restore merges, never lowers", Config{}, []op{
			restore("a", History{Met: map[string]int{"b": 2}}), restore("b", History{Met: map[string]int{"a": 1}}),
			join(0, "a", R, T), join(0, "b", R, T), tick(0)}},
		{"opposite needs different preferences", Config{}, []op{
			join(0, "a", O, T, "left"), join(0, "b", O, T, "left"), tick(0),
			join(s, "c", O, T, "right"), tick(s, "a+c"), join(2*s, "d", O, T, "green"), tick(2*s, "b+d")}},
		{"opposite: oldest across preferences", Config{}, []op{
			join(0, "a", O, T, "left"), tick(0), avoid("a", "c"), join(s, "b", O, T, "right"),
			join(s, "c", O, T, "centre"), tick(s, "a+b")}},
		{"interests: a shared interest pairs at once", Config{}, []op{
			join(0, "a", I, T, "chess", "jazz"), join(0, "b", I, T, "go"), tick(0),
			join(s, "c", I, T, "jazz"), tick(s, "a+c")}},
		{"interests: oldest sharer wins", Config{}, []op{
			join(0, "a", I, T, "chess"), join(0, "b", I, T, "jazz"), tick(0),
			join(s, "c", I, T, "jazz", "chess"), tick(s, "a+c")}},
		{"interests: no overlap waits until both are past the wait", Config{}, []op{
			join(0, "a", I, T, "chess"), join(2*s, "b", I, T, "go"), tick(2 * s),
			tick(5*s - 1), tick(5 * s), tick(7*s - 1), tick(7*s, "a+b")}},
		{"interests: past the wait meets random", Config{}, []op{
			join(0, "a", I, T, "chess"), join(s, "r", R, T), tick(s), tick(5*s - 1), tick(5*s, "a+r")}},
		{"interests: a random newcomer meets one past the wait", Config{}, []op{
			join(0, "a", I, T, "chess"), tick(6 * s), join(6*s, "r", R, T), tick(6*s, "a+r")}},
		{"interests: fallback to random only within the media", Config{}, []op{
			join(0, "a", I, T, "chess"), join(0, "r", R, V), tick(6 * s)}},
		{"interests: the configured wait", Config{InterestWait: 2 * s}, []op{
			join(0, "a", I, T), join(0, "b", I, T), tick(2*s - 1), tick(2*s, "a+b")}},
		{"interests: none given just waits for the fallback", Config{}, []op{
			join(0, "a", I, T), join(0, "b", I, T), tick(0), tick(5*s, "a+b")}},
		{"interests: past the wait meets a newcomer only by sharing", Config{}, []op{
			join(0, "a", I, T, "chess"), tick(5 * s), join(6*s, "b", I, T, "go"), tick(6 * s),
			join(6*s, "c", I, T, "chess"), tick(6*s, "a+c")}},
		{"interests: fallback prefers the oldest, random or interests", Config{}, []op{
			join(0, "a", I, T, "chess"), join(s, "b", I, T, "go"), avoid("a", "b"), join(2*s, "r", R, T), tick(2 * s),
			tick(5*s, "a+r"), tick(6 * s)}},
		{"interests: several fall back at once, oldest first", Config{}, []op{
			join(0, "a", I, T, "w"), join(0, "b", I, T, "x"), join(0, "c", I, T, "y"), join(0, "d", I, T, "z"),
			tick(0), tick(5*s, "a+b", "c+d")}},
		{"rejoin waits from the new time", Config{}, []op{
			join(0, "a", O, T, "left"), join(s, "b", O, T, "left"), join(2*s, "a", O, T, "left"),
			join(3*s, "c", O, T, "right"), tick(3*s, "b+c")}},
		{"rejoin takes the new request", Config{}, []op{
			join(0, "a", R, T), join(s, "a", R, V), join(s, "b", R, T), tick(s),
			join(2*s, "c", R, V), tick(2*s, "a+c")}},
		{"rejoin restarts the interest wait", Config{}, []op{
			join(0, "a", I, T, "chess"), join(4*s, "a", I, T, "chess"), join(4*s, "r", R, T),
			tick(5 * s), tick(9*s - 1), tick(9*s, "a+r")}},
		{"Leave removes", Config{}, []op{
			join(0, "a", R, T), leave("a", true), leave("a", false), leave("x", false),
			join(s, "b", R, T), tick(s)}},
		{"Forget removes the queue entry", Config{}, []op{
			join(0, "a", R, T), forget("a"), join(s, "b", R, T), tick(s)}},
		{"a clock going backwards counts as the latest time", Config{}, []op{
			join(10*s, "r", R, T), join(4*s, "b", I, T, "go"), tick(12 * s), tick(3 * s), tick(15*s - 1), tick(15*s, "r+b")}},
		{"a batch is matched oldest first, not newcomer first", Config{}, []op{
			// n1 would grab n2 if newcomers chose first; w has waited longest and can meet n2.
			join(0, "w", O, T, "left"), tick(0), avoid("w", "n1"),
			join(s, "n1", O, T, "right"), join(s, "n2", O, T, "centre"), tick(s, "w+n2")}},
		{"a batch: someone waiting meets a faller before newcomers pair up", Config{}, []op{
			join(0, "f", I, T, "chess"), join(s, "r1", R, T), tick(s),
			avoid("r2", "r1"), join(5*s, "r2", R, T), join(5*s, "r3", R, T), tick(5*s, "f+r1", "r2+r3")}},
		{"audio meets only audio", Config{}, []op{
			join(0, "a", R, A), join(0, "t", R, T), join(0, "v", R, V), tick(0), join(s, "b", I, A), tick(s),
			join(2*s, "c", R, A), tick(2*s, "a+c"), tick(5 * s), join(6*s, "d", R, T), tick(6*s, "t+d")}},
		{"language: the same language meets at once", langs, []op{
			joinL(0, "a", "nl", R, T), joinL(0, "e", "en", R, T), joinL(s, "b", "nl", R, T), tick(s, "a+b")}},
		{"language: none meets none at once", langs, []op{
			joinL(0, "a", "nl", R, T), join(0, "b", R, T), join(0, "c", R, T), tick(0, "b+c")}},
		{"language: another language only when both are past the wait", langs, []op{
			joinL(0, "a", "nl", R, T), joinL(4*s, "b", "en", R, T), tick(10*s - 1), tick(10 * s), tick(14*s - 1), tick(14*s, "a+b")}},
		{"language: someone without one waits for the other's wait", langs, []op{
			joinL(0, "a", "nl", R, T), join(s, "b", R, T), tick(s), tick(10*s - 1), tick(10*s, "a+b")}},
		{"language: a crossed person meets a newcomer without one at once", langs, []op{
			joinL(0, "a", "nl", R, T), tick(10 * s), join(11*s, "b", R, T), tick(11*s, "a+b")}},
		{"language: a newcomer of the same language meets a crossed person", langs, []op{
			joinL(0, "a", "nl", R, T), tick(10 * s), joinL(11*s, "b", "nl", R, T), tick(11*s, "a+b")}},
		{"language: a newcomer of another language waits for its own wait", langs, []op{
			joinL(0, "a", "nl", R, T), tick(10 * s), joinL(11*s, "b", "en", R, T), tick(11 * s), tick(21*s - 1), tick(21*s, "a+b")}},
		{"language: crossing finds the oldest younger person without one", langs, []op{
			joinL(0, "a", "nl", O, T, "left"), join(s, "b", O, T, "right"), join(2*s, "c", O, T, "right"), tick(2 * s),
			tick(10*s, "a+b")}},
		{"language: the same language first, the rest after the wait", langs, []op{
			joinL(0, "a", "nl", R, T), join(0, "x", R, V), tick(0), joinL(s, "b", "en", R, T), tick(s), joinL(2*s, "c", "nl", R, T),
			tick(2*s, "a+c"), tick(11 * s), join(12*s, "d", R, T), tick(12*s, "b+d")}},
		{"language: interests share within a language first", langs, []op{
			joinL(0, "a", "en", I, T, "chess"), join(0, "b", I, T, "chess"), joinL(s, "c", "nl", I, T, "chess"),
			joinL(s, "d", "en", I, T, "chess"), tick(s, "a+d"), tick(10 * s), tick(11*s, "b+c")}},
		{"language: a crossed faller meets random people of no language", langs, []op{
			joinL(0, "a", "nl", I, T, "chess"), join(s, "r", R, T), tick(s), tick(5 * s), tick(10*s, "a+r")}},
		{"language: a crossed person falls back later and meets random people", Config{Languages: []string{"nl"}, LanguageWait: 2 * s}, []op{
			joinL(0, "a", "nl", I, T, "chess"), join(s, "r", R, T), tick(2 * s), tick(5*s - 1), tick(5*s, "a+r")}},
		{"language: history still holds across languages", langs, []op{
			avoid("a", "b"), joinL(0, "a", "nl", R, T), joinL(0, "b", "nl", R, T), tick(20 * s)}},
		{"several pairs come oldest offerer first", Config{}, []op{
			join(0, "a", O, T, "left"), join(0, "b", O, T, "left"), tick(0),
			join(s, "c", R, T), join(s, "x", O, T, "right"), join(s, "y", O, T, "green"), join(s, "d", R, T),
			tick(s, "a+x", "b+y", "c+d")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range tt.ops {
				o(t, e)
				if err := e.check(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestPairDetails(t *testing.T) {
	topics := &Topics{
		Preferences: []Preference{{ID: "p", Label: "P"}, {ID: "q", Label: "Q"}},
		Statements:  []Statement{{ID: "s1", Text: "One."}, {ID: "s2", Text: "Two."}},
	}
	tests := []struct {
		name string
		ops  []Request
		at   time.Duration
		want []string // pairString of each pair
	}{
		{"opposite pairs get statements round-robin", []Request{
			{ID: "a", Mode: O, Media: T, Preference: "p"}, {ID: "b", Mode: O, Media: T, Preference: "q"},
			{ID: "c", Mode: O, Media: V, Preference: "p"}, {ID: "d", Mode: O, Media: V, Preference: "q"},
			{ID: "e", Mode: O, Media: T, Preference: "q"}, {ID: "f", Mode: O, Media: T, Preference: "p"},
		}, 0, []string{
			`a+b opposite/text st="s1" shared=[]`, `c+d opposite/video st="s2" shared=[]`, `e+f opposite/text st="s1" shared=[]`}},
		{"interests list what they share, sorted", []Request{
			{ID: "a", Mode: I, Media: V, Interests: []string{"jazz", "go", "chess", "go"}},
			{ID: "b", Mode: I, Media: V, Interests: []string{"film", "jazz", "chess"}},
		}, 0, []string{`a+b interests/video st="" shared=["chess" "jazz"]`}},
		{"interests fallback shares nothing", []Request{
			{ID: "a", Mode: I, Media: T, Interests: []string{"go"}}, {ID: "b", Mode: I, Media: T, Interests: []string{"jazz"}},
		}, 5 * s, []string{`a+b interests/text st="" shared=[]`}},
		{"interests with random is a random pair", []Request{
			{ID: "a", Mode: I, Media: T, Interests: []string{"go"}}, {ID: "b", Mode: R, Media: T},
		}, 5 * s, []string{`a+b random/text st="" shared=[]`}},
		{"random has no statement", []Request{
			{ID: "a", Mode: R, Media: V, Preference: "p"}, {ID: "b", Mode: R, Media: V, Preference: "p"},
		}, 0, []string{`a+b random/video st="" shared=[]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(Config{Topics: topics})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range tt.ops {
				if err := e.Join(t0, r); err != nil {
					t.Fatal(err)
				}
			}
			got := e.Tick(t0.Add(tt.at))
			if g := pairStrings(got); !slices.Equal(g, tt.want) {
				t.Fatalf("pairs %q, want %q", g, tt.want)
			}
			for _, p := range got {
				if p.Statement != nil && p.Statement.Text == "" {
					t.Fatal("statement without text")
				}
			}
		})
	}
}

func TestJoinErrors(t *testing.T) {
	many := make([]string, MaxInterests+1)
	for i := range many {
		many[i] = strings.Repeat("x", i+1)
	}
	tests := []struct {
		name string
		r    Request
		want error
	}{
		{"ok", Request{ID: "a", Mode: R, Media: T}, nil},
		{"empty id", Request{Mode: R, Media: T}, ErrBadID},
		{"long id", Request{ID: strings.Repeat("a", MaxIDLen+1), Mode: R, Media: T}, ErrBadID},
		{"bad mode", Request{ID: "a", Mode: "chat", Media: T}, ErrBadMode},
		{"empty mode", Request{ID: "a", Media: T}, ErrBadMode},
		{"bad media", Request{ID: "a", Mode: R, Media: "smell"}, ErrBadMedia},
		{"language not configured", Request{ID: "a", Mode: R, Media: T, Language: "fr"}, ErrBadLanguage},
		{"opposite without preference", Request{ID: "a", Mode: O, Media: T}, ErrNoPreference},
		{"opposite with unknown preference", Request{ID: "a", Mode: O, Media: T, Preference: "Left"}, ErrBadPreference},
		{"opposite ok", Request{ID: "a", Mode: O, Media: V, Preference: "left"}, nil},
		{"preference ignored outside opposite", Request{ID: "a", Mode: R, Media: T, Preference: "nope"}, nil},
		{"interests none", Request{ID: "a", Mode: I, Media: T}, nil},
		{"interests at the limit", Request{ID: "a", Mode: I, Media: T, Interests: append(many[:MaxInterests:MaxInterests], "x", "")}, nil},
		{"too many interests", Request{ID: "a", Mode: I, Media: T, Interests: many}, ErrBadInterests},
		{"too long interest", Request{ID: "a", Mode: I, Media: T, Interests: []string{strings.Repeat("x", MaxInterestLen+1)}}, ErrBadInterests},
		{"interests ignored outside interests", Request{ID: "a", Mode: R, Media: T, Interests: many}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(Config{})
			if err != nil {
				t.Fatal(err)
			}
			// A failed Join leaves an earlier request in place.
			if err := e.Join(t0, Request{ID: "a", Mode: R, Media: V}); err != nil {
				t.Fatal(err)
			}
			err = e.Join(t0, tt.r)
			if !sameErr(err, tt.want) || (err != nil) != (tt.want != nil) {
				t.Fatalf("Join = %v, want %v", err, tt.want)
			}
			if err != nil {
				if strings.Contains(err.Error(), "nope") || strings.Contains(err.Error(), "Left") {
					t.Fatalf("error %q repeats the rejected preference", err)
				}
				if tt.r.ID == "a" && (!e.Queued("a") || e.Waiting()[1].N != 1) {
					t.Fatal("a failed Join changed the earlier request")
				}
			}
			if err := e.check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"zero", Config{}, nil},
		{"negative wait", Config{InterestWait: -1}, ErrBadConfig},
		{"negative meetings", Config{MaxMeetings: -1}, ErrBadConfig},
		{"negative language wait", Config{LanguageWait: -1}, ErrBadConfig},
		{"languages", Config{Languages: []string{"en", "nl", "pt-br"}}, nil},
		{"a repeated language", Config{Languages: []string{"en", "nl", "en"}}, ErrBadConfig},
		{"an empty language", Config{Languages: []string{""}}, ErrBadConfig},
		{"a long language", Config{Languages: []string{strings.Repeat("x", MaxLanguageLen+1)}}, ErrBadConfig},
		{"too many languages", Config{Languages: strings.Split(strings.Repeat("x,", MaxLanguages)+"y", ",")}, ErrBadConfig},
		{"bad topics", Config{Topics: &Topics{Preferences: []Preference{{ID: "a", Label: "A"}}}}, ErrBadTopics},
		{"topics with only translations", Config{Topics: &Topics{
			Preferences: []Preference{{ID: "a", Labels: map[string]string{"en": "A"}}, {ID: "b", Label: "B"}},
			Statements:  []Statement{{ID: "s", Texts: map[string]string{"en": "S."}}},
		}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(tt.cfg)
			if !sameErr(err, tt.want) || (err != nil) != (tt.want != nil) {
				t.Fatalf("New = %v, want %v", err, tt.want)
			}
			if err == nil && (e.Topics().Preferences[0].Label == "" || e.Topics().Statements[0].Text == "") {
				t.Fatal("English text not filled in")
			}
		})
	}
}

func TestNewCopiesTopics(t *testing.T) {
	topics := DefaultTopics()
	e, err := New(Config{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	topics.Statements[0].Text = "changed"
	topics.Preferences[0].Labels["nl"] = "changed"
	if e.Topics().Statements[0].Text == "changed" || e.Topics().Preferences[0].Labels["nl"] == "changed" {
		t.Fatal("the engine shares the caller's topics")
	}
}

func TestWaiting(t *testing.T) {
	e, _ := New(Config{Languages: []string{"nl"}, LanguageWait: s})
	for _, r := range []Request{
		{ID: "a", Mode: R, Media: T}, {ID: "b", Mode: O, Media: V, Preference: "left"},
		{ID: "c", Mode: O, Media: V, Preference: "left", Language: "nl"}, {ID: "d", Mode: I, Media: T, Interests: []string{"x"}},
		{ID: "e", Mode: I, Media: V}, {ID: "e", Mode: I, Media: V},
	} {
		if err := e.Join(t0, r); err != nil {
			t.Fatal(err)
		}
	}
	e.Tick(t0.Add(2 * s)) // c crosses: on two lists, counted once
	want := []Count{{R, T, 1}, {R, V, 0}, {R, A, 0}, {O, T, 0}, {O, V, 2}, {O, A, 0}, {I, T, 1}, {I, V, 1}, {I, A, 0}}
	if got := e.Waiting(); !slices.Equal(got, want) {
		t.Fatalf("Waiting = %v, want %v", got, want)
	}
	if got := e.WaitingByPreference(); got["left"] != 2 || got["right"] != 0 || len(got) != len(DefaultTopics().Preferences) {
		t.Fatalf("WaitingByPreference = %v", got)
	}
	e.Leave("b")
	e.Forget("d")
	want[4].N, want[6].N = 1, 0
	if got := e.Waiting(); !slices.Equal(got, want) {
		t.Fatalf("Waiting = %v, want %v", got, want)
	}
	if got := e.WaitingByPreference(); got["left"] != 1 {
		t.Fatalf("WaitingByPreference after a leave = %v", got)
	}
}

func TestHistory(t *testing.T) {
	e, _ := New(Config{})
	e.Join(t0, Request{ID: "a", Mode: R, Media: T})
	e.Join(t0, Request{ID: "b", Mode: R, Media: T})
	if n := len(e.Tick(t0)); n != 1 {
		t.Fatalf("%d pairs", n)
	}
	e.Avoid("c", "a")
	e.Avoid("a", "a") // ignored
	e.Avoid("", "a")  // ignored
	tests := []struct {
		id        string
		wantAvoid []string
		wantMet   map[string]int
	}{
		{"a", []string{"c"}, map[string]int{"b": 1}},
		{"b", nil, map[string]int{"a": 1}},
		{"c", []string{"a"}, nil},
		{"x", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			h := e.History(tt.id)
			if !slices.Equal(h.Avoid, tt.wantAvoid) || len(h.Met) != len(tt.wantMet) || h.Met["a"] != tt.wantMet["a"] || h.Met["b"] != tt.wantMet["b"] {
				t.Fatalf("History(%s) = %+v", tt.id, h)
			}
		})
	}
	t.Run("forget cleans the other side", func(t *testing.T) {
		e.Forget("a")
		for _, id := range []string{"a", "b", "c"} {
			if h := e.History(id); h.Avoid != nil || h.Met != nil {
				t.Fatalf("History(%s) = %+v after Forget(a)", id, h)
			}
		}
		if len(e.sessions) != 0 {
			t.Fatalf("%d records left after everyone is forgotten or empty", len(e.sessions))
		}
	})
	t.Run("restore one side blocks both", func(t *testing.T) {
		e.Restore("b", History{Avoid: []string{"a", "b", ""}, Met: map[string]int{"c": 1, "d": 0, "e": -1}})
		if h := e.History("a"); !slices.Equal(h.Avoid, []string{"b"}) {
			t.Fatalf("History(a) = %+v", h)
		}
		if h := e.History("c"); h.Met["b"] != 1 || len(h.Met) != 1 {
			t.Fatalf("History(c) = %+v", h)
		}
		if e.History("d").Met != nil || e.History("e").Met != nil {
			t.Fatal("non-positive counts restored")
		}
		if err := e.check(); err != nil {
			t.Fatal(err)
		}
	})
}

// The preference exists only while queued: after Leave or a pair nothing in the engine holds it.
func TestPreferenceDropped(t *testing.T) {
	e, _ := New(Config{})
	e.Join(t0, Request{ID: "a", Mode: O, Media: T, Preference: "left"})
	x := e.sessions["a"].ent
	e.Leave("a")
	if x.pref != -1 || e.sessions["a"] != nil {
		t.Fatal("preference or record kept after Leave")
	}
	e.Join(t0, Request{ID: "a", Mode: O, Media: T, Preference: "left"})
	e.Join(t0, Request{ID: "b", Mode: O, Media: T, Preference: "right"})
	xa, xb := e.sessions["a"].ent, e.sessions["b"].ent
	if len(e.Tick(t0)) != 1 {
		t.Fatal("no pair")
	}
	if xa.pref != -1 || xb.pref != -1 || e.sessions["a"].ent != nil || e.sessions["b"].ent != nil {
		t.Fatal("preference kept after the pair")
	}
	for _, l := range e.opposite[mediaText] {
		if l.head != nil {
			t.Fatal("entry left on a preference list")
		}
	}
}

// TestWorkFollowsChange checks that Tick looks at what changed, not at everyone waiting,
// by counting the entries it visits and the list nodes it examines (not by timing).
func TestWorkFollowsChange(t *testing.T) {
	e, _ := New(Config{Languages: []string{"nl"}})
	const n = 5000
	ids := make([]string, 0, 3*n)
	for i := range 3 * n {
		ids = append(ids, fmt.Sprintf("w%06d", i))
	}
	for i := range n {
		e.Join(t0, Request{ID: ids[i], Mode: O, Media: T, Preference: "left"})
		e.Join(t0, Request{ID: ids[n+i], Mode: I, Media: T, Interests: []string{"i" + strconv.Itoa(i)}})
		e.Join(t0, Request{ID: ids[2*n+i], Mode: R, Media: V})
	}
	e.Tick(t0) // pairs the random video people
	tests := []struct {
		name    string
		do      func()
		at      time.Duration
		pairs   int
		maxWork uint64
	}{
		{"idle", func() {}, s, 0, 0},
		{"one opposite newcomer", func() { e.Join(t0, Request{ID: "n1", Mode: O, Media: T, Preference: "right"}) }, s, 1, 10},
		{"one interests newcomer", func() { e.Join(t0, Request{ID: "n2", Mode: I, Media: T, Interests: []string{"i77"}}) }, s, 1, 5},
		{"a newcomer nobody can meet", func() { e.Join(t0, Request{ID: "n3", Mode: I, Media: T, Interests: []string{"zzz"}}) }, s, 0, 5},
		// n3 joined when the clock was at 1s: it falls back later, leaving 4999 to pair.
		{"everyone falls back", func() {}, 5 * s, (n - 1) / 2, 8 * n},
		// The 5000 waiting for "left" are older than a "right" person with a language: when
		// it crosses, the walk back from the tails of the none pool's lists stops at once.
		{"n3 falls back", func() {}, 6 * s, 1, 10},
		{"one language newcomer nobody of its language meets", func() {
			e.Join(t0.Add(7*s), Request{ID: "n4", Mode: O, Media: T, Preference: "left", Language: "nl"})
		}, 7 * s, 0, 5},
		{"it crosses", func() {}, 17 * s, 0, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.do()
			before := e.work
			got := e.Tick(t0.Add(tt.at))
			if len(got) != tt.pairs {
				t.Fatalf("%d pairs, want %d: %q", len(got), tt.pairs, pairStrings(got))
			}
			if w := e.work - before; w > tt.maxWork {
				t.Fatalf("Tick did %d units of work, want at most %d", w, tt.maxWork)
			}
		})
	}
}

func TestErrorsArePrefixed(t *testing.T) {
	for _, err := range []error{ErrBadID, ErrBadMode, ErrBadMedia, ErrNoPreference, ErrBadPreference, ErrBadInterests, ErrBadTopics, ErrBadConfig} {
		if !strings.HasPrefix(err.Error(), "matcher: ") || errors.Unwrap(err) != nil {
			t.Errorf("%q is not a matcher sentinel", err)
		}
	}
}
