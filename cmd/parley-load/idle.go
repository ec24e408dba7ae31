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

type idleConfig struct {
	common
	Conns    int
	Hold     time.Duration
	DialRate float64
	Settle   time.Duration
}

func mainIdle(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	var c idleConfig
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	c.register(fs, getenv)
	kindFlag(fs, &c.common)
	fs.IntVar(&c.Conns, "conns", 1000, "idle connections to hold")
	fs.DurationVar(&c.Hold, "hold", 5*time.Second, "how long to hold them once all are open (keep it under parley's 25 s ping interval to measure without pings)")
	fs.Float64Var(&c.DialRate, "dial-rate", 2000, "connections opened per second")
	fs.DurationVar(&c.Settle, "settle", 2*time.Second, "wait before sampling the server, so the handshakes' garbage is collected")
	if err := parseFlags(fs, args, out, "Opens -conns connections (hello and welcome, no join), holds them for -hold and reports the server's\nmemory and goroutines before and after, per connection: from -admin (parley's /admin/stats or the\nbench server's stats URL) and from /proc with -pid. Raise ulimit -n first for many connections.\n-server peerjs or relay holds the same connections on PeerJS server (each named, as a PeerJS client\ndoes) or the bare relay of scripts/bench-signaling (unpaired)."); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	if c.Conns < 1 || c.Hold < 0 || c.DialRate <= 0 {
		return errors.New("-conns and -dial-rate must be positive")
	}
	c.Out = out
	_, err := runIdle(ctx, c)
	return err
}

func runIdle(ctx context.Context, cfg idleConfig) (result, error) {
	k, kname := cfg.kind()
	pool, err := cfg.sources(cfg.Conns)
	if err != nil {
		return result{}, err
	}
	probe := cfg.probe()
	before, err := probe.sample(ctx, true)
	if err != nil {
		fmt.Fprintf(cfg.Out, "warning: %v (server figures left out)\n", err)
		probe = nil
	}
	start := time.Now()
	conns, dialErrs := dialMany(ctx, cfg.common, k, runID(), false, pool, cfg.Conns, cfg.DialRate, false)
	opened := time.Since(start)
	var errs tally
	for k, v := range dialErrs {
		for range v {
			errs.add(k)
		}
	}
	// Read, so that pings are answered and closes seen; count a close
	// during the hold as an error.
	hold, stop := context.WithCancel(ctx)
	var closed atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := c.read(); err != nil {
					if hold.Err() == nil {
						closed.Add(1)
						errs.add("read:" + closeKind(err))
					}
					return
				}
			}
		}()
	}
	select {
	case <-time.After(cfg.Settle):
	case <-ctx.Done():
	}
	after, _ := probe.sample(ctx, true)
	select {
	case <-time.After(max(0, cfg.Hold-cfg.Settle)):
	case <-ctx.Done():
	}
	held := len(conns) - int(closed.Load())
	stop()
	for _, c := range conns {
		c.close()
	}
	wg.Wait()

	w := cfg.Out
	fmt.Fprintf(w, "idle (%s): %d connections opened in %s (%.0f/s), %d still open after %s\n",
		kname, len(conns), opened.Round(time.Millisecond), perSecond(int64(len(conns)), opened), held, cfg.Hold)
	printErrors(w, errs.snapshot())
	printServer(w, before, after, len(conns))
	fig := map[string]float64{"conns": float64(len(conns)), "held": float64(held), "errors": float64(errs.total())}
	if n := float64(len(conns)); n > 0 && after.ok {
		if after.rss > 0 && before.rss > 0 {
			fig["rss_bytes_per_conn"] = float64(after.rss-before.rss) / n
		}
		for key, name := range map[string]string{"memory.heapAlloc": "heap_bytes_per_conn", "memory.stackInuse": "stack_bytes_per_conn", "goroutines": "goroutines_per_conn"} {
			a, okA := after.fields[key]
			b, okB := before.fields[key]
			if okA && okB {
				fig[name] = (a - b) / n
			}
		}
	}
	printResult(w, "idle", kname, fig)
	return result{Connected: int64(len(conns)), Errors: errs.snapshot()}, nil
}
