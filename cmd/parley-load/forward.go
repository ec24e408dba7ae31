package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// forwardConfig measures the forwarding path alone: pairs already matched
// trickle candidates at an aggregate rate.
type forwardConfig struct {
	common
	Pairs    int
	Rate     float64 // messages per second in all
	Duration time.Duration
	DialRate float64
}

func mainForward(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	var c forwardConfig
	fs := flag.NewFlagSet("forward", flag.ContinueOnError)
	c.register(fs, getenv)
	kindFlag(fs, &c.common)
	fs.IntVar(&c.Pairs, "pairs", 0, "pairs (0: enough that each connection sends 10 messages a second)")
	fs.Float64Var(&c.Rate, "rate", 20000, "candidate messages per second in all (both directions)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long the pairs send")
	fs.Float64Var(&c.DialRate, "dial-rate", 2000, "connections opened per second before the run")
	if err := parseFlags(fs, args, out, "2 × -pairs people connect and are matched; then each sends candidates to its partner, -rate per\nsecond in all, for -duration. Measures forwarded messages per second, the latency from send to\nreceipt, and with -pid the server's CPU time per message (messages per second per busy core).\n-server peerjs or relay sends the same candidates at the same pace to PeerJS server or the bare relay\nof scripts/bench-signaling. The rate per connection must stay under the limit the server announces\n(parley: welcome.limits.messagesPerSecond)."); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	if c.Pairs == 0 {
		c.Pairs = max(1, int(math.Ceil(c.Rate/20)))
	}
	if c.Rate <= 0 || c.Duration <= 0 || c.Pairs < 1 || c.DialRate <= 0 {
		return errors.New("-rate, -duration, -pairs and -dial-rate must be positive")
	}
	c.Out = out
	_, err := runForward(ctx, c)
	return err
}

func runForward(ctx context.Context, cfg forwardConfig) (result, error) {
	powSolves.reset()
	k, kname := cfg.kind()
	sig, err := newSignals(false)
	if err != nil {
		return result{}, err
	}
	n := 2 * cfg.Pairs
	pool, err := cfg.sources(n)
	if err != nil {
		return result{}, err
	}
	var errs tally
	var lat hist
	var sent, received atomic.Int64
	probe := cfg.probe()

	all, dialErrs := dialMany(ctx, cfg.common, k, runID(), true, pool, n, cfg.DialRate, true)
	defer func() {
		for _, c := range all {
			c.close()
		}
	}()
	for kd, v := range dialErrs {
		for range v {
			errs.add(kd)
		}
	}
	across := len(cfg.urls) > 1 && k.join(cfg.Media) != nil
	var conns []*vconn
	if across {
		var dropped []*vconn
		conns, dropped = pairsAcross(all)
		for _, c := range dropped {
			c.close()
		}
	} else {
		conns = completePairs(k, all, cfg.Media)
	}
	if len(conns) == 0 {
		return result{Errors: errs.snapshot()}, errors.New("nobody could connect")
	}
	per := cfg.Rate / float64(len(conns))
	if err := checkRate(per, conns[0].limits, cfg.Rate); err != nil {
		return result{Errors: errs.snapshot()}, err
	}

	// Everyone joins; each reader reports its match, then counts signals.
	run, stop := context.WithCancel(ctx)
	defer stop()
	var matched sync.WaitGroup
	matched.Add(len(conns))
	var measuring atomic.Bool
	var readers sync.WaitGroup
	// Across nodes, each person's queued and matched as they come, for
	// the joins one pair at a time (joinAcross).
	queuedC := make(map[*vconn]chan struct{}, len(conns))
	matchedC := make(map[*vconn]chan struct{}, len(conns))
	for _, c := range conns {
		queuedC[c], matchedC[c] = make(chan struct{}), make(chan struct{})
	}
	// Across nodes, latency by the pair's two servers too ("0-1" and so
	// on): a pair with the leader's node crosses NATS once, one of two
	// followers twice.
	byNodes := map[string]*hist{}
	latOf := map[*vconn]*hist{}
	if across {
		for p := 0; p+1 < len(conns); p += 2 {
			a, b := conns[p], conns[p+1]
			key := fmt.Sprintf("%d-%d", min(a.node, b.node), max(a.node, b.node))
			if byNodes[key] == nil {
				byNodes[key] = &hist{}
			}
			latOf[a], latOf[b] = byNodes[key], byNodes[key]
		}
	}
	for _, c := range conns {
		readers.Add(1)
		queued := sync.OnceFunc(func() { close(queuedC[c]) })
		onMatched := sync.OnceFunc(func() { close(matchedC[c]) })
		go func() {
			defer readers.Done()
			stopClose := context.AfterFunc(run, func() { _ = c.ws.Close() })
			defer stopClose()
			once := sync.OnceFunc(matched.Done)
			defer once()
			if c.paired {
				once()
			}
			for {
				m, err := c.read()
				if err != nil {
					if run.Err() == nil {
						errs.add("read:" + closeKind(err))
					}
					return
				}
				if m.Type == "queued" {
					queued()
				}
				switch ev, detail := k.event(c, m); ev {
				case evMatched:
					onMatched()
					once()
				case evSignal:
					if measuring.Load() {
						received.Add(1)
						if ts, ok := candidateStamp(detail); ok {
							d := since(ts)
							lat.add(d)
							if h := latOf[c]; h != nil {
								h.add(d)
							}
						}
					}
				case evError, evLeft:
					errs.add(detail)
				}
			}
		}()
	}
	// Joins are paced under the per-connection action limit anyway; spread
	// them so the matcher sees a steady queue.
	if across {
		joinAcross(conns, k.join(cfg.Media), queuedC, matchedC, cfg.Timeout, &errs)
	} else if join := k.join(cfg.Media); join != nil {
		for i, c := range conns {
			if err := c.sendJoin(join); err != nil {
				errs.add("write:" + netErrKind(err))
			}
			if i%500 == 499 {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	waited := make(chan struct{})
	go func() { matched.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(cfg.Timeout + time.Duration(len(conns))*time.Millisecond):
		errs.add("timeout:matched")
	}

	crossed := 0
	if across {
		// Who met whom: the partners' peer IDs name each other.
		closed := func(ch chan struct{}) bool {
			select {
			case <-ch:
				return true
			default:
				return false
			}
		}
		for p := 0; p+1 < len(conns); p += 2 {
			a, b := conns[p], conns[p+1]
			if !closed(matchedC[a]) || !closed(matchedC[b]) {
				continue // not matched: its reader may still write peer
			}
			if a.node != b.node && a.peer != "" && a.peer == b.you && b.peer == a.you {
				crossed++
			}
		}
	}
	before, err := probe.sample(ctx, false)
	if err != nil {
		fmt.Fprintf(cfg.Out, "warning: %v (server figures left out)\n", err)
		probe = nil
	}
	measuring.Store(true)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / per)
	var senders sync.WaitGroup
	for i, c := range conns {
		senders.Add(1)
		go func() {
			defer senders.Done()
			// Stagger the senders over one interval so the load is smooth.
			first := start.Add(interval * time.Duration(i) / time.Duration(len(conns)))
			for j := 0; ; j++ {
				at := first.Add(time.Duration(j) * interval)
				if at.Sub(start) >= cfg.Duration || run.Err() != nil {
					return
				}
				time.Sleep(time.Until(at))
				if err := c.send(k.candidate(sig, c, j%8)); err != nil {
					if run.Err() == nil {
						errs.add("write:" + netErrKind(err))
					}
					return
				}
				sent.Add(1)
			}
		}()
	}
	senders.Wait()
	elapsed := time.Since(start)
	after, _ := probe.sample(ctx, false)
	time.Sleep(200 * time.Millisecond) // the last messages in flight
	measuring.Store(false)
	stop()
	readers.Wait()

	res := result{Connected: int64(len(conns)), Pairs: int64(len(conns) / 2), Forwarded: received.Load(), Errors: errs.snapshot(), Forward: lat.summary()}
	w := cfg.Out
	fmt.Fprintf(w, "forward (%s): %d pairs, %.0f messages/s asked (%.1f per connection) for %s\n", kname, len(conns)/2, cfg.Rate, per, elapsed.Round(time.Millisecond))
	if across {
		fmt.Fprintf(w, "pairs across nodes: %d of %d (%d servers; the two of each pair on different ones)\n", crossed, len(conns)/2, len(cfg.urls))
	}
	fmt.Fprintf(w, "messages:          sent %d (%.0f/s), received %d (%.0f/s)\n", sent.Load(), perSecond(sent.Load(), elapsed), res.Forwarded, perSecond(res.Forwarded, elapsed))
	fmt.Fprintf(w, "forward latency:   %s\n", res.Forward)
	for _, k := range slices.Sorted(maps.Keys(byNodes)) {
		fmt.Fprintf(w, "  servers %s:     %s\n", k, byNodes[k].summary())
	}
	printPow(w)
	printErrors(w, res.Errors)
	printServer(w, before, after, 0)
	cpuPerMsg := math.NaN()
	if cpu := after.cpu - before.cpu; cpu > 0 && res.Forwarded > 0 {
		cpuPerMsg = float64(cpu) / 1e3 / float64(res.Forwarded)
		fmt.Fprintf(w, "server cpu/msg:    %.1fµs, so %.0f messages/s per busy core\n", cpuPerMsg, float64(res.Forwarded)/cpu.Seconds())
	}
	perNode := cpuPer(before, after, res.Forwarded)[1:]
	for i, us := range perNode {
		fmt.Fprintf(w, "server cpu/msg:    node %d (%s): %.1fµs\n", i, cfg.urlOf(i), us)
	}
	fmt.Fprintf(w, "generator cpu:     %.2f cores busy on average\n", float64(selfCPU())/float64(time.Since(epoch)))
	fig := map[string]float64{
		"pairs": float64(res.Pairs), "sent": float64(sent.Load()), "forwarded": float64(res.Forwarded),
		"cpu_us_per_msg": cpuPerMsg, "p50_ms": msf(res.Forward.P50), "p95_ms": msf(res.Forward.P95), "p99_ms": msf(res.Forward.P99),
		"max_ms": msf(res.Forward.Max), "errors": float64(errs.total()),
	}
	if across {
		fig["pairs_across"] = float64(crossed)
	}
	for i, us := range perNode {
		fig[fmt.Sprintf("cpu_us_per_msg_node%d", i)] = us
	}
	for k, h := range byNodes {
		s := h.summary()
		k = strings.ReplaceAll(k, "-", "")
		fig["p50_ms_nodes"+k], fig["p99_ms_nodes"+k] = msf(s.P50), msf(s.P99)
	}
	printResult(w, "forward", kname, fig)
	return res, nil
}

// pairsAcross keeps the people whose partner-to-be connected too, person
// 2k next to 2k+1 in the order of their numbers (with several servers,
// person i on the (i mod n)th, the two are on different ones), and returns
// the others apart.
func pairsAcross(all []*vconn) (kept, dropped []*vconn) {
	byI := make(map[int]*vconn, len(all))
	for _, c := range all {
		byI[c.i] = c
	}
	for _, c := range slices.SortedFunc(maps.Values(byI), func(a, b *vconn) int { return a.i - b.i }) {
		switch d := byI[c.i^1]; {
		case d == nil:
			dropped = append(dropped, c)
		case c.i%2 == 0:
			kept = append(kept, c, d)
		}
	}
	return kept, dropped
}

// joinAcross makes the matcher pair conns[2k] with conns[2k+1], whatever
// servers they are on: the first joins and is queued, then the second joins
// and both are matched, one pair after the other, so nobody else waits in
// the queue meanwhile. A wait that times out is counted and the next pair
// goes on.
func joinAcross(conns []*vconn, join []byte, queued, matched map[*vconn]chan struct{}, timeout time.Duration, errs *tally) {
	wait := func(ch chan struct{}, what string) bool {
		select {
		case <-ch:
			return true
		case <-time.After(timeout):
			errs.add("timeout:" + what)
			return false
		}
	}
	for p := 0; p+1 < len(conns); p += 2 {
		a, b := conns[p], conns[p+1]
		if err := a.sendJoin(join); err != nil {
			errs.add("write:" + netErrKind(err))
			continue
		}
		if !wait(queued[a], "queued") {
			continue
		}
		if err := b.sendJoin(join); err != nil {
			errs.add("write:" + netErrKind(err))
			continue
		}
		if wait(matched[a], "matched") {
			wait(matched[b], "matched")
		}
	}
}

// completePairs keeps the connections that can take part: for a server
// that pairs by URL, those whose partner connected too; for parley, an even
// number (its matcher pairs any two).
func completePairs(k kind, all []*vconn, media string) []*vconn {
	if k.join(media) != nil {
		if len(all)%2 == 1 {
			all[len(all)-1].close()
			return all[:len(all)-1]
		}
		return all
	}
	have := make(map[int]bool, len(all))
	for _, c := range all {
		have[c.i] = true
	}
	out := make([]*vconn, 0, len(all))
	for _, c := range all {
		if have[c.i^1] {
			out = append(out, c)
		}
	}
	return out
}
