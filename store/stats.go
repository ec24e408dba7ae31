package store

import (
	"sync/atomic"
	"time"
)

// Stats are aggregate counters since Open, for metrics. They say nothing
// about any one person.
type Stats struct {
	Writes       uint64        // writes committed (puts and deletes of sessions, reports and bans)
	WriteErrors  uint64        // writes that failed
	WriteTime    time.Duration // total time callers waited on writes, failed ones included
	WriteTimeMax time.Duration // the longest one
	Sweeps       uint64        // Sweep calls that ran
	SweepErrors  uint64        // Sweep calls that returned an error
	Removed      uint64        // records the sweeper removed
	Corrupt      uint64        // record openings that failed (corrupt or tampered values)
	Reports      uint64        // reports recorded (duplicates and self-reports excluded)
	Bans         uint64        // bans made or extended, wider IPv6 bans included
	BanKeys      uint64        // memory-hard ban keys computed (prefixes not in the cache)
}

type counters struct {
	writes, writeErrors, writeNanos, writeMaxNanos atomic.Uint64
	sweeps, sweepErrors, removed, corrupt          atomic.Uint64
	reports, bans                                  atomic.Uint64
}

func (c *counters) write(d time.Duration, err error) {
	if err != nil {
		c.writeErrors.Add(1)
	} else {
		c.writes.Add(1)
	}
	n := uint64(max(d, 0))
	c.writeNanos.Add(n)
	for {
		m := c.writeMaxNanos.Load()
		if n <= m || c.writeMaxNanos.CompareAndSwap(m, n) {
			return
		}
	}
}

// Stats returns a snapshot of the counters.
func (s *Store) Stats() Stats {
	c := &s.st
	return Stats{
		Writes:       c.writes.Load(),
		WriteErrors:  c.writeErrors.Load(),
		WriteTime:    time.Duration(c.writeNanos.Load()),
		WriteTimeMax: time.Duration(c.writeMaxNanos.Load()),
		Sweeps:       c.sweeps.Load(),
		SweepErrors:  c.sweepErrors.Load(),
		Removed:      c.removed.Load(),
		Corrupt:      c.corrupt.Load(),
		Reports:      c.reports.Load(),
		Bans:         c.bans.Load(),
		BanKeys:      s.keyCache.computed.Load(),
	}
}
