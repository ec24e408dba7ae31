package matcher

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// chooser is where a run gets its choices: a seeded PRNG, or fuzz input.
type chooser interface {
	intn(n int) int
	done() bool
}

type randChooser struct {
	r    *rand.Rand
	left int
}

func (c *randChooser) intn(n int) int { return c.r.IntN(n) }
func (c *randChooser) done() bool     { c.left--; return c.left < 0 }

type byteChooser struct{ b []byte }

func (c *byteChooser) intn(n int) int {
	if len(c.b) == 0 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	return v % n
}
func (c *byteChooser) done() bool { return len(c.b) == 0 }

var (
	testIDs       = []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r"}
	testInterests = []string{"chess", "jazz", "go", "film", "cats", ""}
	testLanguages = []string{"", "", "", "en", "nl", "en", "fr"} // fr only where configured
)

// run applies random operations to an engine and the model and checks them after each one.
func run(t *testing.T, c chooser, cfg Config) {
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := newModel(cfg, e.Topics())
	prefs := append(m.prefs[:len(m.prefs):len(m.prefs)], "", "nope")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	id := func() string { return testIDs[c.intn(len(testIDs))] }
	var log strings.Builder
	defer func() {
		if t.Failed() {
			t.Logf("operations:\n%s", log.String())
		}
	}()
	for step := 0; !c.done(); step++ {
		switch op := c.intn(100); {
		case op < 40:
			r := Request{ID: id(), Mode: ModeRandom, Media: MediaText}
			switch c.intn(3) {
			case 1:
				r.Mode = ModeOpposite
			case 2:
				r.Mode = ModeInterests
			}
			if c.intn(50) == 0 {
				r.Mode = "chat"
			}
			switch c.intn(7) {
			case 1, 2:
				r.Media = MediaVideo
			case 3:
				r.Media = MediaAudio
			}
			if c.intn(50) == 0 {
				r.Media = "smell"
			}
			r.Language = testLanguages[c.intn(len(testLanguages))]
			if c.intn(50) == 0 {
				r.ID = ""
			}
			r.Preference = prefs[c.intn(len(prefs))]
			for n := c.intn(4); n > 0; n-- {
				r.Interests = append(r.Interests, testInterests[c.intn(len(testInterests))])
			}
			errE, errM := e.Join(now, r), m.join(now, r)
			fmt.Fprintf(&log, "%d Join %v %+v -> %v\n", step, now.Format("04:05.000"), r, errE)
			if !sameErr(errE, errM) {
				t.Fatalf("Join(%+v) = %v, model %v", r, errE, errM)
			}
		case op < 65:
			at := now
			if c.intn(20) == 0 {
				at = now.Add(-time.Second) // a clock going backwards counts as the latest time
			}
			got := e.Tick(at)
			fmt.Fprintf(&log, "%d Tick %v -> %q\n", step, at.Format("04:05.000"), pairStrings(got))
			checkTick(t, e, m, at, got)
		case op < 73:
			x := id()
			got, want := e.Leave(x), m.leave(x)
			fmt.Fprintf(&log, "%d Leave %s -> %v\n", step, x, got)
			if got != want {
				t.Fatalf("Leave(%s) = %v, model %v", x, got, want)
			}
		case op < 80:
			a, b := id(), id()
			fmt.Fprintf(&log, "%d Avoid %s %s\n", step, a, b)
			e.Avoid(a, b)
			m.doAvoid(a, b)
		case op < 84:
			x := id()
			fmt.Fprintf(&log, "%d Forget %s\n", step, x)
			e.Forget(x)
			m.forget(x)
		case op < 88:
			x := id()
			var h History
			for n := c.intn(3); n > 0; n-- {
				h.Avoid = append(h.Avoid, id())
			}
			if n := c.intn(3); n > 0 {
				h.Met = map[string]int{}
				for ; n > 0; n-- {
					h.Met[id()] = c.intn(5) - 1
				}
			}
			fmt.Fprintf(&log, "%d Restore %s %+v\n", step, x, h)
			e.Restore(x, h)
			m.restore(x, h)
		default:
			// Half-second steps land exactly on deadlines (waits are whole seconds) now and then.
			now = now.Add(time.Duration(c.intn(7)) * 500 * time.Millisecond)
		}
		compareState(t, e, m, testIDs)
	}
}

// TestProperties runs thousands of random operations against the model.
func TestProperties(t *testing.T) {
	configs := []Config{
		{},
		{MaxMeetings: 1, InterestWait: 2 * time.Second, Languages: []string{"en", "nl"}, LanguageWait: 3 * time.Second},
		{MaxMeetings: 3, InterestWait: 8 * time.Second, Languages: []string{"nl", "en", "fr"}},
		{Languages: []string{"en", "nl"}, LanguageWait: 5 * time.Second}, // both waits end together
		{Languages: []string{"en"}, InterestWait: 9 * time.Second, LanguageWait: time.Second},
	}
	for seed := range uint64(30) {
		cfg := configs[seed%uint64(len(configs))]
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			run(t, &randChooser{r: rand.New(rand.NewPCG(seed, 42)), left: 2500}, cfg)
		})
	}
}

// FuzzEngine drives the same checks from fuzz input.
func FuzzEngine(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 50, 0, 5, 7, 50})
	f.Add([]byte("interests are shared after a while, or not at all; random joins too"))
	f.Add([]byte{10, 3, 20, 0, 0, 0, 10, 4, 20, 0, 0, 0, 99, 200, 99, 200, 50, 60, 90, 50})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return
		}
		cfg := Config{MaxMeetings: int(len(b)%3) + 1}
		if len(b)%2 == 1 {
			cfg.Languages, cfg.LanguageWait = []string{"en", "nl"}, 3*time.Second
		}
		run(t, &byteChooser{b: b}, cfg)
	})
}
