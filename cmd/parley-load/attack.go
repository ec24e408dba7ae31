package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	bolt "go.etcd.io/bbolt"
)

// What the attack modes (slowreader, sessionflood: issue 10, points 1 and
// 3) share: a dial that keeps the server's reason for a refusal and can
// shrink the socket's receive buffer, the server's memory from /proc
// sampled through a run, its Prometheus metrics, and the records in its
// database file. They speak protocol v1, which the server before the fixes
// (the audit's) and after both speak.

// attackSource is the i-th source address: 127.0.1.1, 127.0.1.2 ...
// 127.0.1.250, 127.0.2.1 ..., skipping 127.0.0.x, where servers under test
// and other programs listen, and .0 and .255. Two sources are two addresses
// of one /24.
func attackSource(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, byte(i / (250 * 250)), byte(1 + (i/250)%250), byte(1 + i%250)})
}

// refusal is an upgrade the server answered with an HTTP status instead of
// switching protocols, with the first line of its body.
type refusal struct {
	status int
	reason string
}

func (r *refusal) Error() string { return fmt.Sprintf("HTTP %d: %s", r.status, r.reason) }

// kind is the refusal for a tally: "http-429 too many new sessions from
// this address, try again in a minute".
func (r *refusal) kind() string { return "http-" + strconv.Itoa(r.status) + " " + r.reason }

// dialFresh opens a WebSocket from src without a cookie (so the server
// makes a new session), says hello (v1) and waits for welcome. rcvbuf > 0
// sets the socket's receive buffer before it connects, as a client that
// means to read slowly does: the kernel then holds less of what the server
// sends, and the server more.
func dialFresh(ctx context.Context, u string, src netip.Addr, timeout time.Duration, rcvbuf int) (*vconn, error) {
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: timeout}
	if rcvbuf > 0 {
		nd.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			return errors.Join(err, serr)
		}
	}
	d := websocket.Dialer{HandshakeTimeout: timeout, ReadBufferSize: 4096, WriteBufferSize: 4096, NetDialContext: nd.DialContext}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ws, resp, err := d.DialContext(dctx, u, nil)
	if err != nil && resp == nil && errors.Is(err, syscall.ECONNRESET) {
		// A port the kernel still holds in TIME_WAIT (see dial).
		time.Sleep(10 * time.Millisecond)
		ws, resp, err = d.DialContext(dctx, u, nil)
	}
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
			return nil, &refusal{status: resp.StatusCode, reason: line}
		}
		return nil, &dialErr{kind: "dial:" + netErrKind(err), err: err}
	}
	c := &vconn{ws: ws, src: src}
	_ = ws.SetReadDeadline(time.Now().Add(timeout))
	if err := (parleyKind{v: 1}).greet(c); err != nil {
		ws.Close()
		return nil, err
	}
	_ = ws.SetReadDeadline(time.Time{})
	return c, nil
}

// dialKind names a failed dialFresh for a tally.
func dialKind(err error) string {
	var r *refusal
	var de *dialErr
	switch {
	case errors.As(err, &r):
		return r.kind()
	case errors.As(err, &de):
		return de.kind
	}
	return "dial:" + netErrKind(err)
}

// procMem is the server's memory from /proc/PID/status: resident now and
// its high-water mark since the process started.
type procMem struct{ rss, hwm int64 }

func readMem(pid int) (procMem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, fmt.Errorf("server process: %w", err)
	}
	var m procMem
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			m.rss = kb << 10
		case "VmHWM:":
			m.hwm = kb << 10
		}
	}
	return m, nil
}

// memWatch samples the server's resident memory every interval and keeps
// the peak: VmHWM alone would also count whatever the process held before
// the run.
type memWatch struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu         sync.Mutex // guards the fields below
	base, peak procMem
	samples    int
}

// watchMem starts sampling; nil when there is no pid to watch.
func watchMem(pid int, every time.Duration) (*memWatch, error) {
	if pid <= 0 {
		return nil, nil
	}
	base, err := readMem(pid)
	if err != nil {
		return nil, err
	}
	w := &memWatch{pid: pid, stop: make(chan struct{}), done: make(chan struct{}), base: base, peak: base}
	go func() {
		defer close(w.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
			m, err := readMem(pid)
			if err != nil {
				continue
			}
			w.mu.Lock()
			w.peak.rss = max(w.peak.rss, m.rss)
			w.peak.hwm = max(w.peak.hwm, m.hwm)
			w.samples++
			w.mu.Unlock()
		}
	}()
	return w, nil
}

// finish stops sampling and returns the memory before the run and the
// peaks during it; the zero values without a pid.
func (w *memWatch) finish() (base, peak procMem, samples int) {
	if w == nil {
		return
	}
	close(w.stop)
	<-w.done
	if m, err := readMem(w.pid); err == nil {
		w.peak.rss = max(w.peak.rss, m.rss)
		w.peak.hwm = max(w.peak.hwm, m.hwm)
	}
	return w.base, w.peak, w.samples
}

// scrapeMetrics reads a Prometheus text page (parley's /metrics on the
// admin listener) into "name{labels}" -> value.
func scrapeMetrics(ctx context.Context, u string) (map[string]float64, error) {
	if u == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

// gaugeWatch scrapes a gauge of parley's metrics every interval and keeps
// its peak (parley_queued_bytes: what waits for slow readers).
type gaugeWatch struct {
	stop chan struct{}
	done chan struct{}
	peak float64
	seen bool
}

// watchGauge starts scraping; nil without a metrics URL.
func watchGauge(u, name string, every time.Duration) *gaugeWatch {
	if u == "" {
		return nil
	}
	g := &gaugeWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(g.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if m, err := scrapeMetrics(context.Background(), u); err == nil {
				if v, ok := m[name]; ok {
					g.peak, g.seen = max(g.peak, v), true
				}
			}
			select {
			case <-g.stop:
				return
			case <-t.C:
			}
		}
	}()
	return g
}

// finish stops scraping and returns the peak; ok is false when the server
// does not have the gauge.
func (g *gaugeWatch) finish() (peak float64, ok bool) {
	if g == nil {
		return 0, false
	}
	close(g.stop)
	<-g.done
	return g.peak, g.seen
}

// metricDelta is after[name] - before[name], summed over every label set
// of name; ok is false when the server does not have the metric.
func metricDelta(before, after map[string]float64, name string) (d float64, ok bool) {
	for k, v := range after {
		if k == name || strings.HasPrefix(k, name+"{") {
			d += v - before[k]
			ok = true
		}
	}
	return d, ok
}

// countRecords counts the keys of each top-level bucket of a bbolt file
// that its server holds open (and locked): it reads a copy, taken once the
// writes have settled. A copy taken during a write may be torn (bbolt
// refuses it, or panics on a page it points to): then it copies again, up
// to five times a second apart.
func countRecords(path string) (n map[string]int, err error) {
	for try := 1; ; try++ {
		if n, err = countCopy(path); err == nil || try == 5 {
			return n, err
		}
		time.Sleep(time.Second)
	}
}

func countCopy(path string) (n map[string]int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading a copy of %s (copied during a write?): %v", path, r)
		}
	}()
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	tmp, err := os.CreateTemp("", "parley-load-db-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, src)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	db, err := bolt.Open(tmp.Name(), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("reading a copy of %s: %w", path, err)
	}
	defer db.Close()
	n = map[string]int{}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			n[string(name)] = b.Stats().KeyN
			return nil
		})
	})
	return n, err
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
