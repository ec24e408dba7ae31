package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
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
	PairsLog string // file: the time of every new pair, unix milliseconds a line
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
	fs.StringVar(&c.PairsLog, "pairs-log", "", "write the time of every new pair to this file, in unix milliseconds, one a line (for a failover: the first pair after a kill)")
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

// halves sorts join-to-matched by where the two people of a pair are: on
// the same server or on two (of several -url). A pair's first half waits
// in open until the second comes. Besides both people's times, the series
// "pairing" keep the time of the one who joined last, from that join to
// its matched: the server's part once both have asked, without the wait for
// a partner (which at a given rate is the same whatever the servers).
type halves struct {
	mu                        sync.Mutex // guards open and byNodes
	open                      map[string]half
	same, cross               hist
	samePairing, crossPairing hist
	// byNodes is the pairing series of each pair of servers, "0-1" and so on.
	byNodes map[string]*hist
}

type half struct {
	node int
	at   int64 // the join's stamp
	d    time.Duration
}

func (h *halves) add(pair string, x half) {
	h.mu.Lock()
	o, ok := h.open[pair]
	if !ok {
		if h.open == nil {
			h.open, h.byNodes = map[string]half{}, map[string]*hist{}
		}
		h.open[pair] = x
		h.mu.Unlock()
		return
	}
	delete(h.open, pair)
	key := fmt.Sprintf("%d-%d", min(o.node, x.node), max(o.node, x.node))
	byNodes := h.byNodes[key]
	if byNodes == nil {
		byNodes = &hist{}
		h.byNodes[key] = byNodes
	}
	h.mu.Unlock()
	all, pairing := &h.same, &h.samePairing
	if o.node != x.node {
		all, pairing = &h.cross, &h.crossPairing
	}
	all.add(o.d)
	all.add(x.d)
	last := x
	if o.at > x.at {
		last = o
	}
	pairing.add(last.d)
	byNodes.add(last.d)
}

// gaps records when new pairs were made, to find the longest time without
// one (a failover of the matcher, when its leader dies during a run).
type gaps struct {
	mu sync.Mutex // guards at
	at []time.Time
}

func (g *gaps) add(t time.Time) {
	g.mu.Lock()
	g.at = append(g.at, t)
	g.mu.Unlock()
}

// write writes the times, in order, as unix milliseconds a line.
func (g *gaps) write(name string) error {
	g.mu.Lock()
	at := slices.Clone(g.at)
	g.mu.Unlock()
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	var b []byte
	for _, t := range at {
		b = strconv.AppendFloat(b, float64(t.UnixMicro())/1e3, 'f', 3, 64)
		b = append(b, '\n')
	}
	return os.WriteFile(name, b, 0o644)
}

// longest is the longest stretch between two pairs made, between start
// and end (each counts as a pair made).
func (g *gaps) longest(start, end time.Time) (from, to time.Time) {
	g.mu.Lock()
	at := slices.Clone(g.at)
	g.mu.Unlock()
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	prev := start
	from, to = start, start
	for _, t := range append(at, end) {
		if t.Sub(prev) > to.Sub(from) {
			from, to = prev, t
		}
		prev = t
	}
	return from, to
}

func runMatch(ctx context.Context, cfg matchConfig) (result, error) {
	powSolves.reset()
	pool, err := cfg.sources(cfg.People)
	if err != nil {
		return result{}, err
	}
	var errs tally
	var j2m hist
	var where halves
	var made gaps
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
					resumed := m.Resumed != nil && *m.Resumed
					p.mu.Lock()
					if p.joinAt != 0 && !resumed {
						d := since(p.joinAt)
						j2m.add(d)
						where.add(m.Pair, half{node: c.node, at: p.joinAt, d: d})
						p.joinAt = 0
					}
					p.mu.Unlock()
					if m.Role == "offerer" {
						// A chat brought back after a failover is left
						// again (its leave may have been lost) but is
						// not a new pair.
						if !resumed {
							pairs.Add(1)
							made.add(time.Now())
						}
						if err := c.send(leaveFrame); err != nil {
							errs.add("write:" + netErrKind(err))
							return
						}
					}
				case "left", "partner-left":
					idle <- p
				case "error":
					errs.add("server:" + m.Code)
					if m.Code == "unavailable" {
						// A cluster without a leader refused the join:
						// the person is idle and joins again later.
						p.mu.Lock()
						p.joinAt = 0
						p.mu.Unlock()
						idle <- p
					}
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
	stopped := time.Now()
	elapsed := stopped.Sub(start)
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
	same, cross := where.same.summary(), where.cross.summary()
	sameP, crossP := where.samePairing.summary(), where.crossPairing.summary()
	if len(cfg.urls) <= 1 {
		fmt.Fprintf(w, "  the later of two: %s (from the second join of a pair to its matched)\n", sameP)
	} else {
		fmt.Fprintf(w, "  same server:     %s\n", same)
		fmt.Fprintf(w, "    the later:     %s\n", sameP)
		fmt.Fprintf(w, "  two servers:     %s\n", cross)
		fmt.Fprintf(w, "    the later:     %s\n", crossP)
		where.mu.Lock()
		keys := slices.Sorted(maps.Keys(where.byNodes))
		where.mu.Unlock()
		for _, k := range keys {
			fmt.Fprintf(w, "    servers %s:   %s\n", k, where.byNodes[k].summary())
		}
	}
	gapFrom, gapTo := made.longest(start, stopped)
	fmt.Fprintf(w, "longest without a new pair: %s (from %s to %s)\n", ms(gapTo.Sub(gapFrom)), gapFrom.UTC().Format("15:04:05.000"), gapTo.UTC().Format("15:04:05.000"))
	printPow(w)
	printErrors(w, res.Errors)
	printServer(w, before, after, 0)
	perJoin := cpuPer(before, after, res.Joins)
	if !math.IsNaN(perJoin[0]) {
		fmt.Fprintf(w, "server cpu/join:   %.1fµs (every process of -pid)\n", perJoin[0])
		for i, us := range perJoin[1:] {
			fmt.Fprintf(w, "server cpu/join:   node %d (%s): %.1fµs\n", i, cfg.urlOf(i), us)
		}
	}
	fmt.Fprintf(w, "generator cpu:     %.2f cores busy on average\n", float64(selfCPU())/float64(time.Since(epoch)))
	fig := map[string]float64{
		"people": float64(len(people)), "joins": float64(res.Joins), "pairs": float64(res.Pairs), "starved": float64(starved.Load()),
		"p50_ms": msf(res.JoinToMatched.P50), "p95_ms": msf(res.JoinToMatched.P95), "p99_ms": msf(res.JoinToMatched.P99), "max_ms": msf(res.JoinToMatched.Max),
		"gap_ms": msf(gapTo.Sub(gapFrom)), "gap_from_unix_ms": float64(gapFrom.UnixMilli()), "gap_to_unix_ms": float64(gapTo.UnixMilli()),
		"cpu_us_per_join": perJoin[0], "errors": float64(errs.total()),
	}
	// p50 and p99 of a series, NaN for none.
	series := func(name string, s summary) {
		fig[name+"_n"] = float64(s.N)
		fig[name+"_p50_ms"], fig[name+"_p99_ms"] = math.NaN(), math.NaN()
		if s.N > 0 {
			fig[name+"_p50_ms"], fig[name+"_p99_ms"] = msf(s.P50), msf(s.P99)
		}
	}
	if len(cfg.urls) <= 1 {
		series("pairing", sameP)
	} else {
		series("same", same)
		series("cross", cross)
		series("same_pairing", sameP)
		series("cross_pairing", crossP)
	}
	for i, us := range perJoin[1:] {
		fig[fmt.Sprintf("cpu_us_per_join_node%d", i)] = us
	}
	printResult(w, "match", "parley", fig)
	if cfg.PairsLog != "" {
		if err := made.write(cfg.PairsLog); err != nil {
			return res, err
		}
	}
	return res, nil
}

// dialMany opens n connections to a server of kind k at rate per second, 64
// dials at a time at most, and returns those the server accepted, with
// failures by kind. Person i connects to the (i mod n)th of n URLs, and is
// paired with person i^1 when paired is set and the kind pairs by URL. Those who will join (prove) solve the proof
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
			c, err := dial(ctx, k, cfg.urlOf(i), run, i, paired, src, cfg.Timeout)
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
			c.node = cfg.nodeOf(i)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return conns, errs.snapshot()
}
