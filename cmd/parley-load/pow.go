package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/parley-chat/parley/signaling/proto"
)

// The proof of work: a virtual person solves welcome's challenge as a
// browser does, right after welcome and before its first join, so the work
// shows here and not in join-to-matched. The idle mode never joins and never
// solves.

// powSolves is how long the solves of a run took; each run starts it again.
var powSolves hist

// prove solves the challenge of welcome, if there was one.
func (c *vconn) prove(ctx context.Context) error {
	if c.challenge == nil {
		return nil
	}
	start := time.Now()
	s, err := proto.SolvePow(ctx, c.challenge)
	if err != nil {
		return err
	}
	powSolves.add(time.Since(start))
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	c.challenge, c.solution = nil, b
	return nil
}

// sendJoin sends a join frame; the first carries the solution.
func (c *vconn) sendJoin(frame []byte) error {
	sol := c.solution
	if sol == nil {
		return c.send(frame)
	}
	c.solution = nil
	b := append(bytes.TrimSuffix(bytes.Clone(frame), []byte("}")), `,"pow":`...)
	b = append(append(b, sol...), '}')
	return c.send(b)
}

func (h *hist) reset() {
	h.mu.Lock()
	h.d, h.n, h.max = nil, 0, 0
	h.mu.Unlock()
}

// printPow reports the solves, when there were any.
func printPow(w io.Writer) {
	if s := powSolves.summary(); s.N > 0 {
		fmt.Fprintf(w, "proof of work:     %s (solved before the first join, not in join-to-matched)\n", s)
	}
}
