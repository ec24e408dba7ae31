package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// matchConfig drives the matcher through the whole server: connected people
// join at an aggregate rate, are matched, and leave at once.
type matchConfig struct {
	common
	People   int
	Rate     float64 // joins per second in all
	Duration time.Duration
	DialRate float64
}

// minJoinGap keeps each person under parley's per-connection limit of two
// joins a second (a burst of six).
const minJoinGap = 550 * time.Millisecond

func mainMatch(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	var c matchConfig
	fs := flag.NewFlagSet("match", flag.ContinueOnError)
	c.register(fs, getenv)
	fs.IntVar(&c.People, "people", 0, "people connected for the run (0: 1.2 × -rate, so each joins about once a second)")
	fs.Float64Var(&c.Rate, "rate", 1000, "joins per second in all")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long people join")
	fs.Float64Var(&c.DialRate, "dial-rate", 2000, "connections opened per second before the run")
	if err := parseFlags(fs, args, out, "-people connect first; then joins are sent at -rate per second in all, each by a person who is idle\nand joined no sooner than 0.55 s before (parley allows 2 joins a second per connection); the\nofferer of each pair leaves at once, and both are idle again. Measures join-to-matched end to end."); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	if c.People == 0 {
		c.People = max(2, int(1.2*c.Rate))
	}
	if c.Rate <= 0 || c.Duration <= 0 || c.People < 2 || c.DialRate <= 0 {
		return errors.New("-rate, -duration, -dial-rate must be positive and -people at least 2")
	}
	c.Out = out
	_, err := runMatch(ctx, c)
	return err
}

type matchPerson struct {
	c        *vconn
	mu       sync.Mutex // guards joinAt and lastJoin
	joinAt   int64
	lastJoin time.Time
}

func runMatch(ctx context.Context, cfg matchConfig) (result, error) {
	powSolves.reset()
	pool, err := newSources(cfg.People, cfg.PerSource, cfg.Sources)
	if err != nil {
		return result{}, err
	}
	var errs tally
	var j2m hist
	var joins, pairs, starved atomic.Int64
	probe := cfg.probe()

	people, dialErrs := dialMany(ctx, cfg.common, parleyKind{v: 1}, "", false, pool, cfg.People, cfg.DialRate, true)
	defer func() {
		for _, p := range people {
			p.close()
		}
	}()
	for k, n := range dialErrs {
		for range n {
			errs.add(k)
		}
	}
	if len(people) < 2 {
		return result{Errors: errs.snapshot()}, errors.New("fewer than two people could connect")
	}
	before, err := probe.sample(ctx, false)
	if err != nil {
		fmt.Fprintf(cfg.Out, "warning: %v (server figures left out)\n", err)
		probe = nil
	}

	run, stop := context.WithCancel(ctx)
	defer stop()
	idle := make(chan *matchPerson, len(people))
	var wg sync.WaitGroup
	for _, c := range people {
		p := &matchPerson{c: c}
		idle <- p
		wg.Add(1)
		go func() {
			defer wg.Done()
			stopClose := context.AfterFunc(run, func() { _ = c.ws.Close() })
			defer stopClose()
			for {
				m, err := c.read()
				if err != nil {
					if run.Err() == nil {
						errs.add("read:" + closeKind(err))
					}
					return
				}
				switch m.Type {
				case "matched":
					p.mu.Lock()
					if p.joinAt != 0 {
						j2m.add(since(p.joinAt))
						p.joinAt = 0
					}
					p.mu.Unlock()
					if m.Role == "offerer" {
						pairs.Add(1)
						if err := c.send(leaveFrame); err != nil {
							errs.add("write:" + netErrKind(err))
							return
						}
					}
				case "left", "partner-left":
					idle <- p
				case "error":
					errs.add("server:" + m.Code)
				case "queued", "partner-reconnecting":
				default:
					errs.add("unexpected:" + m.Type)
				}
			}
		}()
	}

	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	end := time.NewTimer(cfg.Duration)
	defer end.Stop()
	var sent int64
	var waitFor []*matchPerson // idle, but joined too recently
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-end.C:
			break loop
		case <-tick.C:
		}
		now := time.Now()
		due := int64(cfg.Rate * now.Sub(start).Seconds())
		for sent < due {
			var p *matchPerson
			if len(waitFor) > 0 && now.Sub(waitFor[0].lastJoin) >= minJoinGap {
				p, waitFor = waitFor[0], waitFor[1:]
			} else {
				select {
				case q := <-idle:
					if now.Sub(q.lastJoin) < minJoinGap {
						waitFor = append(waitFor, q)
						continue
					}
					p = q
				default:
				}
			}
			if p == nil {
				starved.Add(due - sent) // nobody free: the rate is beyond -people
				sent = due
				break
			}
			sent++
			p.mu.Lock()
			p.joinAt, p.lastJoin = stamp(), now
			p.mu.Unlock()
			joins.Add(1)
			if err := p.c.sendJoin(joinFrame); err != nil {
				errs.add("write:" + netErrKind(err))
			}
		}
	}
	elapsed := time.Since(start)
	time.Sleep(min(cfg.Timeout, time.Second)) // let the last matches arrive
	after, _ := probe.sample(ctx, false)
	stop()
	wg.Wait()

	res := result{Connected: int64(len(people)), Joins: joins.Load(), Pairs: pairs.Load(), Errors: errs.snapshot(), JoinToMatched: j2m.summary()}
	w := cfg.Out
	fmt.Fprintf(w, "match: %d people, joins at %.0f/s for %s\n", len(people), cfg.Rate, elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "joins:             %d (%.1f/s); %d not sent, nobody idle (raise -people)\n", res.Joins, perSecond(res.Joins, elapsed), starved.Load())
	fmt.Fprintf(w, "pairs:             %d (%.1f/s)\n", res.Pairs, perSecond(res.Pairs, elapsed))
	fmt.Fprintf(w, "join-to-matched:   %s\n", res.JoinToMatched)
	printPow(w)
	printErrors(w, res.Errors)
	printServer(w, before, after, 0)
	fmt.Fprintf(w, "generator cpu:     %.2f cores busy on average\n", float64(selfCPU())/float64(time.Since(epoch)))
	return res, nil
}

// dialMany opens n connections to a server of kind k at rate per second, 64
// dials at a time at most, and returns those the server accepted, with
// failures by kind. Person i is paired with person i^1 when paired is set
// and the kind pairs by URL. Those who will join (prove) solve the proof
// of work right after welcome.
func dialMany(ctx context.Context, cfg common, k kind, run string, paired bool, pool *sources, n int, rate float64, prove bool) ([]*vconn, map[string]int64) {
	var mu sync.Mutex
	conns := make([]*vconn, 0, n)
	var errs tally
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		if wait := time.Duration(float64(i)/rate*float64(time.Second)) - time.Since(start); wait > 0 {
			time.Sleep(wait)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			src, err := pool.get(ctx)
			if err != nil {
				return
			}
			c, err := dial(ctx, k, cfg.URL, run, i, paired, src, cfg.Timeout)
			if err != nil {
				pool.put(src)
				var de *dialErr
				if errors.As(err, &de) {
					errs.add(de.kind)
				} else {
					errs.add("dial:other")
				}
				return
			}
			if prove {
				if err := c.prove(ctx); err != nil {
					c.close()
					pool.put(src)
					errs.add("pow:" + netErrKind(err))
					return
				}
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return conns, errs.snapshot()
}
