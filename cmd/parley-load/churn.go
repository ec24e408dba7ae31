package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// churnConfig is a realistic mix: people arrive, chat a few times and go.
type churnConfig struct {
	common
	Rate        float64       // arrivals per second
	Concurrency int           // people at once at most; arrivals beyond are skipped
	Duration    time.Duration // how long people arrive
	Drain       time.Duration // how long the last ones may take to finish
	Chats       int           // chats per person before leaving
	Next        float64       // probability that a chat ends with next rather than leave
	Candidates  int           // candidates each side trickles per chat
}

func mainChurn(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	var c churnConfig
	fs := flag.NewFlagSet("churn", flag.ContinueOnError)
	c.register(fs, getenv)
	fs.Float64Var(&c.Rate, "rate", 100, "people arriving per second")
	fs.IntVar(&c.Concurrency, "concurrency", 2000, "people connected at once at most (arrivals over it are skipped and counted)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long people arrive")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "after -duration, how long the people still there may take to finish")
	fs.IntVar(&c.Chats, "chats", 3, "chats per person before leaving")
	fs.Float64Var(&c.Next, "next", 0.5, "probability that a chat ends with next (both requeued) rather than leave and join again")
	fs.IntVar(&c.Candidates, "candidates", 4, "host candidates each side trickles per chat")
	if err := parseFlags(fs, args, out, "People arrive at -rate per second for -duration; each connects, joins, is matched, exchanges an\noffer, an answer and -candidates candidates each way, ends the chat with next or leave, and after\n-chats chats leaves and disconnects."); err != nil {
		return err
	}
	c.oneURL = true
	if err := c.check(); err != nil {
		return err
	}
	if c.Rate <= 0 || c.Concurrency < 1 || c.Duration <= 0 || c.Chats < 1 || c.Candidates < 0 || c.Candidates > 16 {
		return errors.New("-rate, -concurrency, -duration and -chats must be positive, -candidates 0..16")
	}
	c.Out = out
	_, err := runChurn(ctx, c)
	return err
}

// result is what a run measured; the test checks it.
type result struct {
	Connected, Joins, Pairs, Forwarded int64
	Errors                             map[string]int64
	JoinToMatched, Forward, ForwardSDP summary
}

type churn struct {
	cfg  churnConfig
	sig  *signals
	pool *sources

	started, connected, finished, unfinished, skipped atomic.Int64
	// over is set when arrivals stop: from then on someone left waiting
	// in the queue (the last one, or two who skipped each other) may wait
	// in vain, which is the end of the run rather than an error.
	over                         atomic.Bool
	joins, pairs, sent, received atomic.Int64
	errs                         tally
	j2m, fwd, fwdSDP             hist
}

func runChurn(ctx context.Context, cfg churnConfig) (result, error) {
	powSolves.reset()
	sig, err := newSignals(cfg.Media == "video")
	if err != nil {
		return result{}, fmt.Errorf("making SDP with pion: %w", err)
	}
	pool, err := cfg.sources(cfg.Concurrency)
	if err != nil {
		return result{}, err
	}
	r := &churn{cfg: cfg, sig: sig, pool: pool}
	probe := cfg.probe()
	before, err := probe.sample(ctx, false)
	if err != nil {
		fmt.Fprintf(cfg.Out, "warning: %v (server figures left out)\n", err)
		probe = nil
	}

	// people is cancelled after the drain: whoever is still there is cut.
	people, cut := context.WithCancel(ctx)
	defer cut()
	var wg sync.WaitGroup
	var active atomic.Int64
	start := time.Now()
	arrive := time.NewTicker(time.Millisecond)
	defer arrive.Stop()
	deadline := time.NewTimer(cfg.Duration)
	defer deadline.Stop()
arrivals:
	for {
		select {
		case <-ctx.Done():
			break arrivals
		case <-deadline.C:
			break arrivals
		case <-arrive.C:
		}
		due := int64(cfg.Rate * time.Since(start).Seconds())
		for r.started.Load()+r.skipped.Load() < due {
			if active.Load() >= int64(cfg.Concurrency) {
				r.skipped.Add(1)
				continue
			}
			r.started.Add(1)
			active.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer active.Add(-1)
				r.person(people)
			}()
		}
	}
	arrivalTime := time.Since(start)
	r.over.Store(true)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(cfg.Drain):
		cut()
		<-done
	}
	elapsed := time.Since(start)
	after, _ := probe.sample(ctx, false)

	res := result{
		Connected: r.connected.Load(), Joins: r.joins.Load(), Pairs: r.pairs.Load(), Forwarded: r.received.Load(),
		Errors: r.errs.snapshot(), JoinToMatched: r.j2m.summary(), Forward: r.fwd.summary(), ForwardSDP: r.fwdSDP.summary(),
	}
	w := cfg.Out
	fmt.Fprintf(w, "churn: arrivals for %s at %.0f/s (cap %d at once), %d chats each, next %.0f%%, %s media, %d candidates\n",
		arrivalTime.Round(time.Millisecond), cfg.Rate, cfg.Concurrency, cfg.Chats, 100*cfg.Next, cfg.Media, cfg.Candidates)
	fmt.Fprintf(w, "people:            started %d, connected %d, finished %d, cut at the end %d, skipped (cap) %d\n",
		r.started.Load(), res.Connected, r.finished.Load(), r.unfinished.Load(), r.skipped.Load())
	fmt.Fprintf(w, "joins:             %d (%.1f/s, join and next)\n", res.Joins, perSecond(res.Joins, elapsed))
	fmt.Fprintf(w, "pairs:             %d (%.1f/s)\n", res.Pairs, perSecond(res.Pairs, elapsed))
	fmt.Fprintf(w, "signals:           sent %d, received %d (%.1f/s)\n", r.sent.Load(), res.Forwarded, perSecond(res.Forwarded, elapsed))
	fmt.Fprintf(w, "join-to-matched:   %s\n", res.JoinToMatched)
	fmt.Fprintf(w, "forward candidate: %s\n", res.Forward)
	fmt.Fprintf(w, "forward sdp:       %s\n", res.ForwardSDP)
	printPow(w)
	printErrors(w, res.Errors)
	printServer(w, before, after, 0)
	fmt.Fprintf(w, "generator cpu:     %.2f cores busy on average\n", float64(selfCPU())/float64(elapsed))
	return res, nil
}

// Fixed frames: what a client sends besides signals.
var (
	joinFrame  = []byte(`{"type":"join","mode":"random","media":"text","consent":true,"adult":true}`)
	joinVideo  = []byte(`{"type":"join","mode":"random","media":"video","consent":true,"adult":true}`)
	nextFrame  = []byte(`{"type":"next"}`)
	leaveFrame = []byte(`{"type":"leave"}`)
)

// person is one virtual person's state, owned by its goroutine.
type person struct {
	r       *churn
	c       *vconn
	role    string
	chats   int
	joinAt  int64 // stamp of the last join or next, 0 when none is pending
	gotSDP  bool
	gotCand int
	leaving bool
}

func (r *churn) person(ctx context.Context) {
	cfg := &r.cfg
	src, err := r.pool.get(ctx)
	if err != nil {
		r.unfinished.Add(1)
		return
	}
	defer r.pool.put(src)
	c, err := dialPerson(ctx, cfg.URL, src, cfg.Timeout)
	if err != nil {
		if ctx.Err() != nil {
			r.unfinished.Add(1)
			return
		}
		var de *dialErr
		if errors.As(err, &de) {
			r.errs.add(de.kind)
		} else {
			r.errs.add("dial:other")
		}
		return
	}
	r.connected.Add(1)
	stop := context.AfterFunc(ctx, func() { _ = c.ws.Close() })
	defer stop()
	defer c.close()
	p := &person{r: r, c: c}
	if err := c.prove(ctx); err != nil {
		r.errs.add("pow:" + netErrKind(err))
		return
	}
	if !p.join() {
		return
	}
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(cfg.Timeout))
		m, err := c.read()
		if err != nil {
			switch {
			case ctx.Err() != nil, r.over.Load() && p.role == "" && netErrKind(err) == "timeout":
				r.unfinished.Add(1)
			default:
				r.errs.add("read:" + closeKind(err))
			}
			return
		}
		if p.handle(m) {
			r.finished.Add(1)
			return
		}
	}
}

func (p *person) send(b []byte) bool {
	if err := p.c.send(b); err != nil {
		p.r.errs.add("write:" + netErrKind(err))
		return false
	}
	return true
}

func (p *person) join() bool {
	p.joinAt = stamp()
	p.r.joins.Add(1)
	frame := joinFrame
	if p.r.cfg.Media == "video" {
		frame = joinVideo
	}
	if err := p.c.sendJoin(frame); err != nil {
		p.r.errs.add("write:" + netErrKind(err))
		return false
	}
	return true
}

func (p *person) signal(b []byte) bool {
	p.r.sent.Add(1)
	return p.send(b)
}

func (p *person) sendCandidates() bool {
	for i := range p.r.cfg.Candidates {
		if !p.signal(p.r.sig.candidateFrame(i, "")) {
			return false
		}
	}
	return true
}

// handle runs one server message and reports whether the person is done.
func (p *person) handle(m *inMsg) (done bool) {
	r := p.r
	switch m.Type {
	case "queued", "partner-reconnecting":
	case "matched":
		if p.joinAt != 0 {
			r.j2m.add(since(p.joinAt))
			p.joinAt = 0
		}
		if p.leaving {
			return false // a match that raced our leave; the leave ends it
		}
		p.chats++
		p.role, p.gotSDP, p.gotCand = m.Role, false, 0
		if m.Role == "offerer" {
			r.pairs.Add(1)
			return !p.signal(r.sig.sdpFrame("offer")) || !p.sendCandidates()
		}
	case "signal":
		if m.Data == nil {
			r.errs.add("bad-signal-from-server")
			return false
		}
		r.received.Add(1)
		switch {
		case m.Data.SDP != nil:
			if ts, ok := sdpStamp(m.Data.SDP.SDP); ok {
				r.fwdSDP.add(since(ts))
			}
			p.gotSDP = true
			if m.Data.SDP.Type == "offer" && p.role == "answerer" {
				if !p.signal(r.sig.sdpFrame("answer")) || !p.sendCandidates() {
					return true
				}
			}
		case m.Data.Candidate != nil:
			if ts, ok := candidateStamp(m.Data.Candidate.Candidate); ok {
				r.fwd.add(since(ts))
			}
			p.gotCand++
		}
		// The offerer decides how a chat ends, once it has everything.
		if p.role == "offerer" && !p.leaving && p.gotSDP && p.gotCand == r.cfg.Candidates {
			return p.endChat()
		}
	case "partner-left":
		p.role = ""
		if p.leaving {
			return false
		}
		if p.chats >= r.cfg.Chats {
			if m.Reason == "next" { // the server queued us again: leave the queue
				p.leaving = true
				return !p.send(leaveFrame)
			}
			return true
		}
		if m.Reason != "next" {
			return !p.join()
		}
	case "left":
		if p.chats >= r.cfg.Chats {
			return true
		}
		p.leaving = false
		return !p.join()
	case "error":
		r.errs.add("server:" + m.Code)
	case "banned":
		r.errs.add("server:banned")
		return true
	default:
		r.errs.add("unexpected:" + m.Type)
	}
	return false
}

// endChat ends the chat after the exchange: next (both queue again), or
// leave and join again, or leave for good after the last chat.
func (p *person) endChat() bool {
	p.role = ""
	if p.chats < p.r.cfg.Chats && rand.Float64() < p.r.cfg.Next {
		p.joinAt = stamp()
		p.r.joins.Add(1)
		return !p.send(nextFrame)
	}
	p.leaving = true
	return !p.send(leaveFrame)
}
