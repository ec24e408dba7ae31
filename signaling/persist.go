package signaling

import (
	"sync"
	"time"

	"github.com/parley-chat/parley/store"
)

// persister writes sessions to the store off the request path. The hub
// marks a session dirty; the persister takes snapshots under each
// session's lock and writes them outside it, many at once so that the
// store's Batch shares one fsync among them. Only one round runs at a
// time, so a newer snapshot of a session is never overtaken by an older
// one, and a delete is never undone by a write already on its way.
type persister struct {
	h    *hub
	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex // guards the fields below
	dirty   map[*session]struct{}
	rooms   map[*room]struct{}   // group rooms to write, or to delete once closed
	finals  map[string]final     // last snapshots of sessions that left memory, by key
	deletes map[string]*deletion // records to delete, by key
}

type final struct {
	key store.SessionKey
	rec *store.Session
}

type deletion struct {
	key     store.SessionKey
	waiters []chan struct{}
}

func newPersister(h *hub) *persister {
	return &persister{
		h:       h,
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		dirty:   make(map[*session]struct{}),
		rooms:   make(map[*room]struct{}),
		finals:  make(map[string]final),
		deletes: make(map[string]*deletion),
	}
}

func (p *persister) mark(s *session) {
	p.mu.Lock()
	p.dirty[s] = struct{}{}
	p.mu.Unlock()
	p.poke()
}

// markRoom asks for a group room to be written, or deleted if it ended.
func (p *persister) markRoom(r *room) {
	p.mu.Lock()
	p.rooms[r] = struct{}{}
	p.mu.Unlock()
	p.poke()
}

// final hands over the last snapshot of a session that leaves memory; nil
// when there is nothing to write.
func (p *persister) final(key store.SessionKey, rec *store.Session) {
	p.mu.Lock()
	if rec != nil {
		p.finals[key.Hex()] = final{key: key, rec: rec}
	}
	p.mu.Unlock()
	p.poke()
}

// remove deletes a record; the channel closes when it is done.
func (p *persister) remove(key store.SessionKey) <-chan struct{} {
	done := make(chan struct{})
	p.mu.Lock()
	delete(p.finals, key.Hex())
	d := p.deletes[key.Hex()]
	if d == nil {
		d = &deletion{key: key}
		p.deletes[key.Hex()] = d
	}
	d.waiters = append(d.waiters, done)
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
	defer close(p.done)
	for {
		select {
		case <-p.wake:
			p.round()
		case <-p.stop:
			p.round() // what Shutdown left
			return
		}
	}
}

// maxParallelWrites bounds the goroutines of one round.
const maxParallelWrites = 256

func (p *persister) round() {
	p.mu.Lock()
	dirty, finals, deletes, rooms := p.dirty, p.finals, p.deletes, p.rooms
	p.dirty, p.finals, p.deletes, p.rooms = make(map[*session]struct{}), make(map[string]final), make(map[string]*deletion), make(map[*room]struct{})
	p.mu.Unlock()
	if len(dirty) == 0 && len(finals) == 0 && len(deletes) == 0 && len(rooms) == 0 {
		return
	}
	h := p.h
	for s := range dirty {
		s.mu.Lock()
		if s.persisted && !s.erased && !s.banned && !s.gone {
			finals[s.key.Hex()] = final{key: s.key, rec: h.snapshotLocked(s)}
		}
		s.mu.Unlock()
	}
	var jobs []func()
	for k, f := range finals {
		if deletes[k] != nil {
			continue // deleted since: the deletion wins
		}
		jobs = append(jobs, func() {
			start := time.Now()
			if err := h.store.PutSession(f.key, f.rec); err != nil {
				h.log.Error("writing a session failed", "err", err)
				return
			}
			h.m.observeWrite(time.Since(start))
		})
	}
	for r := range rooms {
		r.mu.Lock()
		closed, key := r.closed, r.group.key
		var rec *store.Room
		if !closed {
			rec = h.roomRecordLocked(r)
			r.group.dirty = false
		}
		r.mu.Unlock()
		jobs = append(jobs, func() {
			var err error
			if closed {
				err = h.store.DeleteRoom(key)
			} else {
				err = h.store.PutRoom(key, rec)
			}
			if err != nil {
				h.log.Error("writing a room failed", "err", err)
			}
		})
	}
	for _, d := range deletes {
		jobs = append(jobs, func() {
			if err := h.store.DeleteSession(d.key); err != nil {
				h.log.Error("deleting a session failed", "err", err)
			}
		})
	}
	sem := make(chan struct{}, maxParallelWrites)
	var wg sync.WaitGroup
	for _, f := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f()
		})
	}
	wg.Wait()
	for _, d := range deletes {
		for _, w := range d.waiters {
			close(w)
		}
	}
}
