package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
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

// maxPerConn stays under parley's limit of 20 messages a second per
// connection, so the server never rate-limits the run.
const maxPerConn = 18

func mainForward(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	var c forwardConfig
	fs := flag.NewFlagSet("forward", flag.ContinueOnError)
	c.register(fs, getenv)
	fs.IntVar(&c.Pairs, "pairs", 0, "pairs (0: enough that each connection sends 10 messages a second)")
	fs.Float64Var(&c.Rate, "rate", 20000, "candidate messages per second in all (both directions)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long the pairs send")
	fs.Float64Var(&c.DialRate, "dial-rate", 2000, "connections opened per second before the run")
	if err := parseFlags(fs, args, out, "2 × -pairs people connect and are matched; then each sends candidates to its partner, -rate per\nsecond in all, for -duration. Measures forwarded messages per second, the latency from send to\nreceipt, and with -pid the server's CPU time per message (messages per second per busy core)."); err != nil {
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
	if per := c.Rate / float64(2*c.Pairs); per > maxPerConn {
		return fmt.Errorf("%.1f messages a second per connection is over parley's per-connection limit: use at least %d pairs", per, int(math.Ceil(c.Rate/(2*maxPerConn))))
	}
	c.Out = out
	_, err := runForward(ctx, c)
	return err
}

func runForward(ctx context.Context, cfg forwardConfig) (result, error) {
	powSolves.reset()
	sig, err := newSignals(false)
	if err != nil {
		return result{}, err
	}
	n := 2 * cfg.Pairs
	pool, err := newSources(n, cfg.PerSource, cfg.Sources)
	if err != nil {
		return result{}, err
	}
	var errs tally
	var lat hist
	var sent, received atomic.Int64
	probe := cfg.probe()

	conns, dialErrs := dialMany(ctx, cfg.common, pool, n, cfg.DialRate, true)
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	for k, v := range dialErrs {
		for range v {
			errs.add(k)
		}
	}
	if len(conns)%2 == 1 {
		conns[len(conns)-1].close()
		conns = conns[:len(conns)-1]
	}
	if len(conns) == 0 {
		return result{Errors: errs.snapshot()}, errors.New("nobody could connect")
	}

	// Everyone joins; each reader reports its match, then counts signals.
	run, stop := context.WithCancel(ctx)
	defer stop()
	var matched sync.WaitGroup
	matched.Add(len(conns))
	var measuring atomic.Bool
	var readers sync.WaitGroup
	for _, c := range conns {
		readers.Add(1)
		go func() {
			defer readers.Done()
			stopClose := context.AfterFunc(run, func() { _ = c.ws.Close() })
			defer stopClose()
			once := sync.OnceFunc(matched.Done)
			defer once()
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
					once()
				case "signal":
					if measuring.Load() && m.Data != nil && m.Data.Candidate != nil {
						received.Add(1)
						if ts, ok := candidateStamp(m.Data.Candidate.Candidate); ok {
							lat.add(since(ts))
						}
					}
				case "error":
					errs.add("server:" + m.Code)
				case "partner-left":
					errs.add("partner-left:" + m.Reason)
				}
			}
		}()
	}
	// Joins are paced under the per-connection action limit anyway; spread
	// them so the matcher sees a steady queue.
	for i, c := range conns {
		if err := c.sendJoin(joinFrame); err != nil {
			errs.add("write:" + netErrKind(err))
		}
		if i%500 == 499 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	waited := make(chan struct{})
	go func() { matched.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(cfg.Timeout + time.Duration(len(conns))*time.Millisecond):
		errs.add("timeout:matched")
	}

	before, err := probe.sample(ctx, false)
	if err != nil {
		fmt.Fprintf(cfg.Out, "warning: %v (server figures left out)\n", err)
		probe = nil
	}
	measuring.Store(true)
	start := time.Now()
	per := cfg.Rate / float64(len(conns))
	interval := time.Duration(float64(time.Second) / per)
	var senders sync.WaitGroup
	for i, c := range conns {
		senders.Add(1)
		go func() {
			defer senders.Done()
			// Stagger the senders over one interval so the load is smooth.
			first := start.Add(interval * time.Duration(i) / time.Duration(len(conns)))
			for k := 0; ; k++ {
				at := first.Add(time.Duration(k) * interval)
				if at.Sub(start) >= cfg.Duration || run.Err() != nil {
					return
				}
				time.Sleep(time.Until(at))
				if err := c.send(sig.candidateFrame(k % 8)); err != nil {
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
	fmt.Fprintf(w, "forward: %d pairs, %.0f messages/s asked (%.1f per connection) for %s\n", len(conns)/2, cfg.Rate, per, elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "messages:          sent %d (%.0f/s), received %d (%.0f/s)\n", sent.Load(), perSecond(sent.Load(), elapsed), res.Forwarded, perSecond(res.Forwarded, elapsed))
	fmt.Fprintf(w, "forward latency:   %s\n", res.Forward)
	printPow(w)
	printErrors(w, res.Errors)
	printServer(w, before, after, 0)
	if cpu := after.cpu - before.cpu; cpu > 0 {
		fmt.Fprintf(w, "server cpu/msg:    %.1fµs, so %.0f messages/s per busy core\n",
			float64(cpu)/1e3/float64(res.Forwarded), float64(res.Forwarded)/cpu.Seconds())
	}
	fmt.Fprintf(w, "generator cpu:     %.2f cores busy on average\n", float64(selfCPU())/float64(time.Since(epoch)))
	return res, nil
}
