// Command relay is the floor of scripts/bench-signaling: a gorilla/websocket server that pairs two connections by the pair named in their URL and passes every frame of one to the other untouched.
//
// It parses nothing, checks nothing and keeps no state but the pairing, so
// what it costs per connection and per frame is what any Go signaling server
// on gorilla/websocket pays at least. It is tuned the way parley's transport
// is (1 KiB read buffer, pooled write buffers, the HTTP handler returns once
// the socket is up) so that the difference to parley is parley's own work.
//
//	relay -listen 127.0.0.1:18070 [-stats 127.0.0.1:18071]
//
// GET /ws?pair=K: the first two connections naming the same K are paired,
// both are sent {"type":"paired"}, and from then on each frame one sends is
// written to the other. A connection without pair is held and read, idle.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

var pairedFrame = []byte(`{"type":"paired"}`)

// peer is one connection; wmu serialises writes to it (its partner's reader
// and the pairing both write).
type peer struct {
	ws      *websocket.Conn
	wmu     sync.Mutex
	partner chan *peer // receives the partner once, when paired
}

func (p *peer) write(b []byte) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return p.ws.WriteMessage(websocket.TextMessage, b)
}

// relay holds the connections waiting for their partner.
type relay struct {
	upgrader websocket.Upgrader
	mu       sync.Mutex // guards waiting
	waiting  map[string]*peer
}

func newRelay() *relay {
	return &relay{
		upgrader: websocket.Upgrader{
			ReadBufferSize:  1024,
			WriteBufferSize: 1024,
			WriteBufferPool: &sync.Pool{},
			CheckOrigin:     func(*http.Request) bool { return true },
		},
		waiting: map[string]*peer{},
	}
}

func (r *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ws, err := r.upgrader.Upgrade(w, req, nil)
	if err != nil {
		return
	}
	p := &peer{ws: ws, partner: make(chan *peer, 1)}
	// As parley does: the handler's goroutine, net/http's buffers and the
	// request are let go once the socket is up.
	go r.serve(p, req.URL.Query().Get("pair"))
}

func (r *relay) serve(p *peer, key string) {
	defer p.ws.Close()
	if key != "" {
		r.mu.Lock()
		q := r.waiting[key]
		if q == nil {
			r.waiting[key] = p
		} else {
			delete(r.waiting, key)
		}
		r.mu.Unlock()
		if q != nil {
			p.partner <- q
			q.partner <- p
			_ = q.write(pairedFrame)
			_ = p.write(pairedFrame)
		}
		defer func() {
			r.mu.Lock()
			if r.waiting[key] == p {
				delete(r.waiting, key)
			}
			r.mu.Unlock()
		}()
	}
	var to *peer
	for {
		_, b, err := p.ws.ReadMessage()
		if err != nil {
			if to == nil {
				select {
				case to = <-p.partner:
				default:
				}
			}
			if to != nil {
				_ = to.ws.Close()
			}
			return
		}
		if to == nil {
			select {
			case to = <-p.partner:
			default:
				continue // nobody to pass it to yet
			}
		}
		if to.write(b) != nil {
			return
		}
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:18070", "address of GET /ws")
	stats := flag.String("stats", "", "address of GET /stats (goroutines, heap and stack; ?gc=1 collects first), optional")
	flag.Parse()
	if *stats != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /stats", serveStats)
		go func() { fmt.Fprintln(os.Stderr, http.ListenAndServe(*stats, mux)) }()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws", newRelay())
	fmt.Printf("relay on ws://%s/ws, pid %d\n", *listen, os.Getpid())
	hs := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(os.Stderr, hs.ListenAndServe())
	os.Exit(1)
}

// serveStats answers in the shape of parley-load serve's /stats, so the
// generator reads both the same way.
func serveStats(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("gc") == "1" {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"goroutines": runtime.NumGoroutine(),
		"memory": map[string]any{
			"heapInuse":   ms.HeapInuse,
			"heapAlloc":   ms.HeapAlloc,
			"heapObjects": ms.HeapObjects,
			"stackInuse":  ms.StackInuse,
			"sys":         ms.Sys,
		},
	})
}
