package signaling

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parley-chat/parley/signaling/proto"
	"github.com/parley-chat/parley/store"
)

// The hub's own tests: its state machine with a Delivery that records what
// each session would have received, the real store in a temporary
// directory, and time on testing/synctest's clock where timers matter.

// mailboxes is a Delivery that keeps the frames of every session.
type mailboxes struct {
	mu     sync.Mutex
	frames map[string][]proto.Outbound
	closed map[string]int
	down   map[string]bool // sessions with no connection: Deliver fails
}

func newMailboxes() *mailboxes {
	return &mailboxes{frames: map[string][]proto.Outbound{}, closed: map[string]int{}, down: map[string]bool{}}
}

func (m *mailboxes) Deliver(id string, frame []byte) bool {
	var out proto.Outbound
	if err := jsonUnmarshal(frame, &out); err != nil {
		panic(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down[id] {
		return false
	}
	m.frames[id] = append(m.frames[id], out)
	return true
}

func (m *mailboxes) Disconnect(id string, code int, _ string) {
	m.mu.Lock()
	m.closed[id] = code
	m.mu.Unlock()
}

// take returns and forgets what id received.
func (m *mailboxes) take(id string) []proto.Outbound {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.frames[id]
	m.frames[id] = nil
	return out
}

func (m *mailboxes) setDown(id string, down bool) {
	m.mu.Lock()
	m.down[id] = down
	m.mu.Unlock()
}

func types(ms []proto.Outbound) string {
	var out []string
	for _, m := range ms {
		t := m.Type
		if m.Reason != "" {
			t += ":" + m.Reason
		}
		out = append(out, t)
	}
	return strings.Join(out, " ")
}

type hubRig struct {
	t   testing.TB
	h   *hub
	box *mailboxes
	st  *store.Store
}

func newHubRig(t testing.TB, edit func(*Config)) *hubRig {
	t.Helper()
	st, err := store.Open(store.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Store: st, ResumeWindow: 30 * time.Second, NewSessionsPerMinute: 1e6, NewSessionBurst: 1e6}
	if edit != nil {
		edit(cfg)
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	box := newMailboxes()
	h, err := newHub(cfg, box, newCounters())
	if err != nil {
		t.Fatal(err)
	}
	go h.persist.run()
	t.Cleanup(func() {
		h.shutdown()
		close(h.persist.stop)
		<-h.persist.done
		st.Close()
	})
	return &hubRig{t: t, h: h, box: box, st: st}
}

// person is one browser session driven straight at the hub.
type person struct {
	r     *hubRig
	s     *session
	token string
	gen   uint64
	addr  netip.Addr
}

func (r *hubRig) connect(addr string) *person {
	r.t.Helper()
	a := netip.MustParseAddr(addr)
	s, token, err := r.h.openSession("", a, time.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	p := &person{r: r, s: s, token: token, addr: a}
	p.hello()
	return p
}

func (p *person) hello() {
	p.gen = p.r.h.attach(p.s)
	p.r.box.setDown(p.s.id, false)
	p.r.h.helloSession(p.s, p.gen, proto.Version, p.addr, "", nil, time.Now())
}

// reconnect comes back with the same cookie.
func (p *person) reconnect() {
	p.r.t.Helper()
	s, token, err := p.r.h.openSession(p.token, p.addr, time.Now())
	if err != nil {
		p.r.t.Fatal(err)
	}
	if token != "" {
		p.token = token
	}
	if s != p.s {
		p.r.t.Fatal("a resume found another session")
	}
	p.hello()
}

func (p *person) drop() {
	p.r.box.setDown(p.s.id, true)
	p.r.h.detachSession(p.s, p.gen, time.Now())
}

func (p *person) join() {
	p.r.t.Helper()
	if err := p.r.h.join(p.s, proto.Join{Mode: proto.ModeRandom, Media: proto.MediaText}, time.Now()); err != nil {
		p.r.t.Fatal(err)
	}
}

func (p *person) got() string { return types(p.r.box.take(p.s.id)) }

func (p *person) matched() proto.Outbound {
	p.r.t.Helper()
	for _, m := range p.r.box.take(p.s.id) {
		if m.Type == proto.TypeMatched {
			return m
		}
	}
	p.r.t.Fatal("not matched")
	return proto.Outbound{}
}

// The resume window runs on the hub's clock: the partner hears
// partner-reconnecting at once and partner-left gone exactly when the
// window ends, not a moment before.
func TestResumeWindowOnTheClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newHubRig(t, nil)
		a, b := r.connect("192.0.2.1"), r.connect("192.0.2.2")
		a.join()
		b.join()
		a.matched()
		b.matched()
		a.drop()
		if got := b.got(); got != "partner-reconnecting" {
			t.Fatalf("b got %q", got)
		}
		time.Sleep(30*time.Second - time.Millisecond)
		synctest.Wait()
		if got := b.got(); got != "" {
			t.Fatalf("before the window ended b got %q", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := b.got(); got != "partner-left:gone" {
			t.Fatalf("b got %q, want partner-left gone", got)
		}
	})
}

// A page that said bye and does not come back ends the chat after the
// short bye window, as closed; one that comes back in time resumes.
func TestByeWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newHubRig(t, nil)
		a, b := r.connect("192.0.2.1"), r.connect("192.0.2.2")
		a.join()
		b.join()
		a.matched()
		b.matched()

		r.h.bye(a.s, time.Now()) // a reload: back within the window
		a.drop()
		time.Sleep(2 * time.Second)
		a.reconnect()
		if m := a.matched(); m.Resumed == nil || !*m.Resumed {
			t.Fatalf("a after a reload: %+v", m)
		}
		b.got()

		r.h.bye(a.s, time.Now()) // the tab closes
		a.drop()
		time.Sleep(5*time.Second - time.Millisecond)
		synctest.Wait()
		if got := b.got(); got != "partner-reconnecting" {
			t.Fatalf("within the bye window b got %q", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := b.got(); got != "partner-left:closed" {
			t.Fatalf("b got %q, want partner-left closed", got)
		}
	})
}

// A bye long before the socket closes (a page kept in the back-forward
// cache) is forgotten: a later drop gets the whole resume window, and the
// partner hears gone, not closed.
func TestByeLongBeforeTheCloseIsForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newHubRig(t, nil)
		a, b := r.connect("192.0.2.1"), r.connect("192.0.2.2")
		a.join()
		b.join()
		a.matched()
		b.matched()
		r.h.bye(a.s, time.Now())
		time.Sleep(time.Minute)
		a.drop()
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if got := b.got(); got != "partner-reconnecting" {
			t.Fatalf("b got %q", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := b.got(); got != "partner-left:gone" {
			t.Fatalf("b got %q, want partner-left gone", got)
		}
	})
}

// A queued person who drops keeps the place for the window and is queued
// again on return; after the window the place is gone.
func TestQueuedPersonKeepsThePlaceForTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newHubRig(t, nil)
		a := r.connect("192.0.2.1")
		a.join()
		a.got()
		a.drop()
		time.Sleep(10 * time.Second)
		a.reconnect()
		if got := a.got(); !strings.Contains(got, "queued") {
			t.Fatalf("a on return got %q", got)
		}
		a.drop()
		time.Sleep(31 * time.Second)
		synctest.Wait()
		if n := len(r.h.snapshot()); n != 0 {
			t.Fatalf("%d sessions in memory after the window", n)
		}
	})
}

// Thousands of concurrent signals, nexts, leaves, drops and resumes across
// many rooms, for -race; at the end every session's chat and its room agree.
func TestConcurrentChatsKeepTheirInvariants(t *testing.T) {
	r := newHubRig(t, func(c *Config) {
		c.ResumeWindow = time.Minute
		c.SignalBytesPerSecond, c.SignalBytesBurst = 1e12, 1<<30
	})
	const people = 200
	ps := make([]*person, people)
	for i := range ps {
		ps[i] = r.connect(fmt.Sprintf("10.%d.%d.1", i/250, i%250))
		ps[i].join()
	}
	cand := &proto.SignalData{Candidate: &proto.Candidate{Candidate: "candidate:1 1 udp 2122260223 192.0.2.10 50312 typ host"}}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			now := time.Now()
			for range 2000 {
				p := ps[rng.IntN(people)]
				switch rng.IntN(10) {
				case 0:
					_ = r.h.next(p.s, now)
				case 1:
					r.h.leave(p.s, proto.ReasonLeave, now)
					_ = r.h.enqueue(p.s, now)
				default:
					p.s.mu.Lock()
					peer := ""
					if p.s.chat != nil {
						for _, m := range p.s.chat.others(p.s.peer) {
							peer = m.peer
						}
					}
					p.s.mu.Unlock()
					_ = r.h.signal(p.s, proto.Signal{Peer: peer, Data: cand}, now)
				}
				r.h.tick(now)
			}
		})
	}
	// Drops and resumes meanwhile, on their own goroutine per person so a
	// person's connections stay in order.
	for i := 0; i < people; i += 10 {
		p := ps[i]
		wg.Go(func() {
			for range 20 {
				p.drop()
				p.reconnect()
			}
		})
	}
	wg.Wait()
	r.h.tick(time.Now())

	r.h.mu.RLock()
	rooms := len(r.h.rooms)
	r.h.mu.RUnlock()
	inChat := 0
	for _, p := range ps {
		s := p.s
		s.mu.Lock()
		c, peer, queued := s.chat, s.peer, s.queued
		s.mu.Unlock()
		if c == nil {
			continue
		}
		inChat++
		if queued {
			t.Fatalf("a session is queued and in a chat")
		}
		m, ok := c.member(peer)
		if !ok || m.sid != s.id || c.isClosed() {
			t.Fatalf("a session's chat does not know it (member %v, closed %v)", ok, c.isClosed())
		}
		for _, o := range c.others(peer) {
			os := r.h.lookup(o.sid)
			os.mu.Lock()
			back := os.chat == c
			os.mu.Unlock()
			if !back {
				t.Fatal("a partner is not in the chat its partner is in")
			}
		}
	}
	if inChat != 2*rooms {
		t.Fatalf("%d people in chats, %d open rooms", inChat, rooms)
	}
	t.Logf("%d people in %d chats at the end", inChat, rooms)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
