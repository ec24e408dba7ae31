package signaling

import (
	"sync"
	"time"

	"github.com/parley-chat/parley/store"
)

// persister writes sessions to the store off the request path. Signaling
// marks a session dirty under its lock; the persister takes snapshots under
// the lock and writes them outside it, many at once so that the store's
// Batch shares one fsync among them. Only one round runs at a time, so a
// newer snapshot of a session is never overtaken by an older one, and a
// delete is never undone by a write that was already on its way.
type persister struct {
	s    *Server
	wake chan struct{}

	mu      sync.Mutex // guards the fields below
	dirty   map[string]struct{}
	finals  map[string]*store.Session  // last snapshots of sessions that left memory dirty
	deletes map[string][]chan struct{} // sessions to delete, and who waits for it
}

func newPersister(s *Server) *persister {
	return &persister{
		s:       s,
		wake:    make(chan struct{}, 1),
		dirty:   make(map[string]struct{}),
		finals:  make(map[string]*store.Session),
		deletes: make(map[string][]chan struct{}),
	}
}

// final hands over the last snapshot of a session that leaves memory, if a
// write of it is still pending; otherwise the store already has it.
func (p *persister) final(id string, rec *store.Session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dirty := p.dirty[id]; dirty {
		delete(p.dirty, id)
		p.finals[id] = rec
	}
}

func (p *persister) mark(id string) {
	p.mu.Lock()
	p.dirty[id] = struct{}{}
	p.mu.Unlock()
	p.poke()
}

// remove deletes the session from the store; the channel closes when done.
func (p *persister) remove(id string) <-chan struct{} {
	done := make(chan struct{})
	p.mu.Lock()
	delete(p.dirty, id)
	delete(p.finals, id)
	p.deletes[id] = append(p.deletes[id], done)
	p.mu.Unlock()
	p.poke()
	return done
}

func (p *persister) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *persister) run() {
	defer p.s.loops.Done()
	for {
		select {
		case <-p.wake:
			p.round()
		case <-p.s.stop:
			p.round() // what Shutdown left
			return
		}
	}
}

// maxParallelWrites bounds the goroutines of one round.
const maxParallelWrites = 256

func (p *persister) round() {
	p.mu.Lock()
	dirty, finals, deletes := p.dirty, p.finals, p.deletes
	p.dirty, p.finals, p.deletes = make(map[string]struct{}), make(map[string]*store.Session), make(map[string][]chan struct{})
	p.mu.Unlock()
	if len(dirty) == 0 && len(finals) == 0 && len(deletes) == 0 {
		return
	}

	s := p.s
	s.mu.Lock()
	snaps := make([]func(), 0, len(dirty)+len(finals)+len(deletes))
	for id := range dirty {
		if sess, ok := s.sessions[id]; ok {
			finals[id] = s.snapshot(sess)
		}
	}
	s.mu.Unlock()
	for _, rec := range finals {
		snaps = append(snaps, func() {
			start := time.Now()
			if err := s.store.PutSession(rec); err != nil {
				s.log.Error("writing a session failed", "err", err)
				return
			}
			s.metrics.observeWrite(time.Since(start))
		})
	}
	for id := range deletes {
		snaps = append(snaps, func() {
			if err := s.store.DeleteSession(id); err != nil {
				s.log.Error("deleting a session failed", "err", err)
			}
		})
	}

	sem := make(chan struct{}, maxParallelWrites)
	var wg sync.WaitGroup
	for _, f := range snaps {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f()
		}()
	}
	wg.Wait()
	for _, waiters := range deletes {
		for _, w := range waiters {
			close(w)
		}
	}
}
