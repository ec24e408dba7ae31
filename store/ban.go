package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/parley-chat/parley/store/prefix"
	bolt "go.etcd.io/bbolt"
)

// Reasons are the report reasons accepted, in the order they are stored.
var Reasons = []string{"abuse", "spam", "illegal", "other"}

// Ban is an active ban of one address prefix. Key is the hex HMAC of the
// prefix: it names the ban (LiftBan) without naming the address.
type Ban struct {
	Key   string    `json:"key"`
	Until time.Time `json:"until"`
	Count int       `json:"count"`
}

// prefixHash is the HMAC-SHA256 of a normalised prefix under a key's
// address subkey: the only form in which an address reaches the disk.
func (ks *keyset) prefixHash(p netip.Prefix) []byte {
	b, _ := p.MarshalBinary() // address bytes and length: v4 and v6 never collide
	m := hmac.New(sha256.New, ks.address)
	m.Write(b)
	return m.Sum(nil)
}

// prefixHashes returns the hash of p under every key, current first.
func (s *Store) prefixHashes(p netip.Prefix) [][]byte {
	out := make([][]byte, len(s.keys.keys))
	for i, ks := range s.keys.keys {
		out[i] = ks.prefixHash(p)
	}
	return out
}

func reasonCode(reason string) (byte, bool) {
	i := slices.Index(Reasons, reason)
	return byte(i), i >= 0
}

// reportState is what the store holds about a target, as seen by one new
// report.
type reportState struct {
	duplicate bool // this reporter prefix already has an unexpired report on the target
	count     int  // distinct reporter prefixes with unexpired reports on the target
	ban       Ban  // the target's active ban with the latest end, if banned
	banned    bool
}

// Report records that reporter reported target for reason at now. Reports
// count once per reporter prefix per target, and not at all from the
// target's own prefix. When BanAfter distinct reporter prefixes have
// unexpired reports on the target, its prefix is banned until now+BanFor.
// It returns the target's ban, if one is in force now.
func (s *Store) Report(now time.Time, target, reporter netip.Addr, reason string) (Ban, bool, error) {
	if !target.IsValid() || !reporter.IsValid() {
		return Ban{}, false, ErrBadAddr
	}
	code, ok := reasonCode(reason)
	if !ok {
		return Ban{}, false, ErrBadReason
	}
	nowN, err := unixNano(now)
	if err != nil {
		return Ban{}, false, err
	}
	repExp, err := unixNano(now.Add(s.cfg.ReportWindow))
	if err != nil {
		return Ban{}, false, err
	}
	until, err := unixNano(now.Add(s.cfg.BanFor))
	if err != nil {
		return Ban{}, false, err
	}
	tp, rp := prefix.Of(target), prefix.Of(reporter)
	if tp == rp {
		return s.Banned(now, target) // counts for nothing
	}
	th, rh := s.prefixHashes(tp), s.prefixHashes(rp)
	cur := s.keys.current()
	key := slices.Concat(th[0], rh[0])
	repVal := cur.seal(bucketReports, key, repExp, report{at: nowN, reason: code}.marshal())

	// A read first: a repeated report changes nothing and needs no fsync.
	var st reportState
	if err := s.view(func(tx *bolt.Tx) (err error) {
		st, err = s.reportState(tx, nowN, th, rh)
		return err
	}); err != nil || st.duplicate {
		return st.ban, st.banned, err
	}
	var made bool
	err = s.write(func(tx *bolt.Tx) (err error) {
		made = false
		if st, err = s.reportState(tx, nowN, th, rh); err != nil || st.duplicate {
			return err
		}
		if err := putRecord(tx, bucketReports, key, repVal, repExp); err != nil {
			return err
		}
		st.count++
		if st.count < s.cfg.BanAfter {
			return nil
		}
		u := until
		if st.banned && st.ban.Until.UnixNano() > u {
			u = st.ban.Until.UnixNano() // never shorten a ban
		}
		rec := banRecord{until: u, count: uint32(min(st.count, 1<<31))}
		if err := putRecord(tx, bucketBans, th[0], cur.seal(bucketBans, th[0], u, rec.marshal()), u); err != nil {
			return err
		}
		st.ban, st.banned, made = Ban{Key: hex.EncodeToString(th[0]), Until: time.Unix(0, u).UTC(), Count: int(rec.count)}, true, true
		return nil
	})
	if err != nil {
		return Ban{}, false, err
	}
	if !st.duplicate {
		s.st.reports.Add(1)
	}
	if made {
		s.st.bans.Add(1)
		s.log.Info("store: prefix banned", "reporters", st.ban.Count, "until", st.ban.Until)
	}
	return st.ban, st.banned, nil
}

// reportState reads what the store holds about target hashes th as seen by
// reporter hashes rh (index i: under key i). Every record it relies on is
// opened: a failure is ErrCorrupt, and then nothing is written.
func (s *Store) reportState(tx *bolt.Tx, now int64, th, rh [][]byte) (reportState, error) {
	var st reportState
	reports := tx.Bucket(bucketReports)
	for i := range th {
		c := reports.Cursor()
		for k, v := c.Seek(th[i]); k != nil && bytes.HasPrefix(k, th[i]); k, v = c.Next() {
			plain, h, err := s.openRecord(bucketReports, k, v)
			if err == nil {
				_, err = unmarshalReport(plain)
			}
			if err != nil {
				return st, fmt.Errorf("%w (a report)", err)
			}
			if h.expiry <= now {
				continue // expired, not swept yet
			}
			st.count++
			if bytes.Equal(k[len(th[i]):], rh[i]) {
				st.duplicate = true
			}
		}
	}
	ban, banned, err := s.banState(tx, now, th)
	st.ban, st.banned = ban, banned
	return st, err
}

// banState finds the active ban with the latest end among the keys hs.
func (s *Store) banState(tx *bolt.Tx, now int64, hs [][]byte) (Ban, bool, error) {
	bans := tx.Bucket(bucketBans)
	var best Ban
	found := false
	for _, k := range hs {
		v := bans.Get(k)
		if v == nil {
			continue
		}
		b, err := s.decodeBan(k, v)
		if err != nil {
			return Ban{}, false, err
		}
		if b.Until.UnixNano() > now && (!found || b.Until.After(best.Until)) {
			best, found = b, true
		}
	}
	return best, found, nil
}

func (s *Store) decodeBan(k, v []byte) (Ban, error) {
	plain, h, err := s.openRecord(bucketBans, k, v)
	if err != nil {
		return Ban{}, fmt.Errorf("%w (a ban)", err)
	}
	rec, err := unmarshalBan(plain)
	if err != nil || rec.until != h.expiry {
		s.st.corrupt.Add(1)
		return Ban{}, fmt.Errorf("%w (a ban)", ErrCorrupt)
	}
	return Ban{Key: hex.EncodeToString(k), Until: time.Unix(0, rec.until).UTC(), Count: int(rec.count)}, nil
}

// Banned reports whether addr's prefix is banned at now, under the current
// key or any old one.
func (s *Store) Banned(now time.Time, addr netip.Addr) (Ban, bool, error) {
	if !addr.IsValid() {
		return Ban{}, false, ErrBadAddr
	}
	nowN, err := unixNano(now)
	if err != nil {
		return Ban{}, false, err
	}
	hs := s.prefixHashes(prefix.Of(addr))
	var ban Ban
	var banned bool
	err = s.view(func(tx *bolt.Tx) (err error) {
		ban, banned, err = s.banState(tx, nowN, hs)
		return err
	})
	return ban, banned, err
}

// Bans lists the bans in force at now. Records that fail to open are
// skipped and reported (the error wraps ErrCorrupt; the list is still good).
func (s *Store) Bans(now time.Time) ([]Ban, error) {
	nowN, err := unixNano(now)
	if err != nil {
		return nil, err
	}
	var out []Ban
	bad := 0
	err = s.view(func(tx *bolt.Tx) error {
		out, bad = out[:0], 0
		c := tx.Bucket(bucketBans).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			b, err := s.decodeBan(k, v)
			switch {
			case err != nil:
				bad++
			case b.Until.UnixNano() > nowN:
				out = append(out, b)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if bad > 0 {
		return out, fmt.Errorf("%w: %d ban records", ErrCorrupt, bad)
	}
	return out, nil
}

// LiftBan removes the ban with this key (as listed by Bans), together with
// the reports against that prefix, so that the next report does not ban it
// again at once. ErrNotFound if there is no such ban.
func (s *Store) LiftBan(key string) error {
	if len(key) != 64 {
		return ErrBadBanKey
	}
	k, err := hex.DecodeString(strings.ToLower(key))
	if err != nil {
		return ErrBadBanKey
	}
	var present bool
	if err := s.view(func(tx *bolt.Tx) error {
		present = tx.Bucket(bucketBans).Get(k) != nil
		return nil
	}); err != nil {
		return err
	}
	if !present {
		return ErrNotFound
	}
	return s.write(func(tx *bolt.Tx) error {
		if _, err := deleteRecord(tx, bucketBans, k); err != nil {
			return err
		}
		var reports [][]byte
		c := tx.Bucket(bucketReports).Cursor()
		for rk, _ := c.Seek(k); rk != nil && bytes.HasPrefix(rk, k); rk, _ = c.Next() {
			reports = append(reports, bytes.Clone(rk))
		}
		for _, rk := range reports {
			if _, err := deleteRecord(tx, bucketReports, rk); err != nil {
				return err
			}
		}
		return nil
	})
}
