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

	"github.com/parley-chat/parley/signaling/client"
)

type webrtcConfig struct {
	common
	Pairs       int
	Concurrency int
	Relay       bool
	RelayWait   time.Duration
}

func mainWebRTC(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	var c webrtcConfig
	fs := flag.NewFlagSet("webrtc", flag.ContinueOnError)
	c.register(fs, getenv)
	fs.IntVar(&c.Pairs, "pairs", 20, "pairs to connect, one after the other per worker")
	fs.IntVar(&c.Concurrency, "concurrency", 1, "pairs connecting at once")
	fs.BoolVar(&c.Relay, "relay", false, "gather relay candidates only (through the server's TURN relay from welcome)")
	fs.DurationVar(&c.RelayWait, "relay-wait", 0, "pion's wait before it accepts a relay pair (pion's own default is 2s; browsers do not wait)")
	if err := parseFlags(fs, args, out, "Pairs of pion peers (signaling/client with WebRTC, loopback candidates) join, are matched and\nopen the \"chat\" data channel through parley's signaling; with -relay through its TURN relay.\nMeasures each peer's time from matched to the data channel open, and from its join to the open."); err != nil {
		return err
	}
	c.oneURL = true
	if err := c.check(); err != nil {
		return err
	}
	if c.Pairs < 1 || c.Concurrency < 1 {
		return errors.New("-pairs and -concurrency must be positive")
	}
	c.Out = out
	_, err := runWebRTC(ctx, c)
	return err
}

func runWebRTC(ctx context.Context, cfg webrtcConfig) (result, error) {
	pool, err := cfg.sources(2 * cfg.Concurrency)
	if err != nil {
		return result{}, err
	}
	var errs tally
	var m2o, j2o, j2m hist
	var pairs atomic.Int64
	jobs := make(chan struct{}, cfg.Pairs)
	for range cfg.Pairs {
		jobs <- struct{}{}
	}
	close(jobs)
	start := time.Now()
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				if ctx.Err() != nil {
					return
				}
				if kind := onePair(ctx, cfg, pool, &m2o, &j2o, &j2m); kind != "" {
					errs.add(kind)
					continue
				}
				pairs.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := result{Pairs: pairs.Load(), Errors: errs.snapshot(), JoinToMatched: j2m.summary()}
	w := cfg.Out
	path := "direct (host candidates on loopback)"
	if cfg.Relay {
		path = "relayed (relay candidates only)"
	}
	fmt.Fprintf(w, "webrtc: %d pairs open of %d, %s, %d at once, in %s\n", res.Pairs, cfg.Pairs, path, cfg.Concurrency, elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "join-to-matched:   %s\n", res.JoinToMatched)
	fmt.Fprintf(w, "matched-to-open:   %s\n", m2o.summary())
	fmt.Fprintf(w, "join-to-open:      %s\n", j2o.summary())
	printErrors(w, res.Errors)
	return res, nil
}

// onePair connects two peers, joins them and waits for both data channels;
// it returns an error kind or "".
func onePair(ctx context.Context, cfg webrtcConfig, pool *sources, m2o, j2o, j2m *hist) string {
	ctx, cancel := context.WithTimeout(ctx, 3*cfg.Timeout)
	defer cancel()
	se := client.LoopbackEngine()
	se.SetRelayAcceptanceMinWait(cfg.RelayWait)
	var peers [2]*client.Client
	for i := range peers {
		src, err := pool.get(ctx)
		if err != nil {
			return "timeout:source"
		}
		defer pool.put(src)
		c, err := client.Dial(ctx, client.Config{URL: cfg.URL, LocalAddr: src, HandshakeTimeout: cfg.Timeout,
			WebRTC: &client.WebRTCConfig{SettingEngine: se, ForceRelay: cfg.Relay}})
		if err != nil {
			return "dial:" + netErrKind(err)
		}
		defer c.Close()
		peers[i] = c
	}
	j := client.Join{Media: cfg.Media}
	if err := peers[0].Join(j); err != nil {
		return "write:" + netErrKind(err)
	}
	if _, err := peers[0].WaitFor(ctx, "queued", "error"); err != nil {
		return "timeout:queued"
	}
	var wg sync.WaitGroup
	kinds := make([]string, 2)
	for i, c := range peers {
		joined := time.Now()
		if i == 1 {
			if err := c.Join(j); err != nil {
				return "write:" + netErrKind(err)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev, err := c.WaitFor(ctx, "matched", "error", client.EventClosed)
			if err != nil || ev.Type != "matched" {
				kinds[i] = "timeout:matched"
				return
			}
			matched := time.Now()
			if i == 1 {
				j2m.add(matched.Sub(joined))
			}
			ev, err = c.WaitFor(ctx, client.EventOpen, client.EventFailed, client.EventClosed)
			if err != nil || ev.Type != client.EventOpen {
				kinds[i] = "webrtc:not-open"
				return
			}
			m2o.add(time.Since(matched))
			if i == 1 {
				j2o.add(time.Since(joined))
			}
		}()
	}
	wg.Wait()
	for _, k := range kinds {
		if k != "" {
			return k
		}
	}
	return ""
}
