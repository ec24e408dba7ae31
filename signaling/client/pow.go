package client

import (
	"context"
	"time"

	"github.com/parley-chat/parley/signaling/proto"
)

// powState is the client's part of the proof of work: the challenge of
// welcome until it is solved, the solution until a join is accepted, and the
// last join, to send again when the server asks for new work.
type powState struct {
	challenge *proto.PowChallenge
	solution  *proto.PowSolution
	last      *proto.Inbound
	retries   int
}

// maxPowRetries bounds the joins sent again after pow_required or bad_pow,
// so a server that keeps refusing cannot keep this client solving.
const maxPowRetries = 3

// powTimeout bounds one solve: far above the highest difficulty on a slow
// machine, and short of forever.
const powTimeout = 2 * time.Minute

// sendJoin sends a join with the solution of the session's proof of work,
// solving it first when it is not yet solved. The solution goes with every
// join until the server accepted one (queued or matched), because a join
// refused for another reason does not use it up.
func (c *Client) sendJoin(m *proto.Inbound) error {
	c.mu.Lock()
	c.pow.last = m
	ch, sol := c.pow.challenge, c.pow.solution
	c.mu.Unlock()
	if sol == nil && ch != nil {
		ctx, cancel := context.WithTimeout(context.Background(), powTimeout)
		var err error
		sol, err = proto.SolvePow(ctx, ch)
		cancel()
		if err != nil {
			return err
		}
		c.mu.Lock()
		if c.pow.challenge == ch {
			c.pow.challenge, c.pow.solution = nil, sol
		}
		c.mu.Unlock()
	}
	out := *m
	out.Pow = sol
	return c.SendJSON(&out)
}

// powDone forgets the proof of work once a join got through.
func (c *Client) powDone() {
	c.mu.Lock()
	c.pow = powState{}
	c.mu.Unlock()
}

// retryJoin solves the challenge an error carried and sends the last join
// again, a few times at most.
func (c *Client) retryJoin(ch *proto.PowChallenge) {
	c.mu.Lock()
	last := c.pow.last
	retry := last != nil && c.pow.retries < maxPowRetries
	if retry {
		c.pow.retries++
		c.pow.challenge, c.pow.solution = ch, nil
	}
	c.mu.Unlock()
	if retry {
		if err := c.sendJoin(last); err != nil {
			c.log.Warn("sending a join again with new work failed", "err", err)
		}
	}
}
