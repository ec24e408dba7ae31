package store

import (
	"bytes"
	"encoding/hex"
	"errors"
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

// Ban is an active ban of one address prefix. Key is the hex of its ban key
// (bankey.go): it names the ban (LiftBan) without naming the address.
type Ban struct {
	Key   string    `json:"key"`
	Until time.Time `json:"until"`
	// Count is the distinct reporters behind a ban of a /32 or /64, or the
	// banned prefixes under a wider one that made it.
	Count int `json:"count"`
	// Bits is the prefix length the ban covers: 32 (IPv4), 64, 56 or 48
	// (IPv6). Bans lists a ban carried over from format 1 with 0: it
	// covers one /32 or one /64; Banned and Report fill in which.
	Bits int `json:"bits"`
}

// Reporter is who makes a report. A report counts once per reporter
// identity per target: Group when it is set (every report from one group
// room counts as one reporter, however many people are in it), else the
// reporter's prefix (prefix.Of: an IPv4 address or an IPv6 /64).
type Reporter struct {
	// Addr is the reporter's address (required): a report from the
	// target's own prefix counts for nothing.
	Addr netip.Addr
	// Group names the group (a room id) the report comes from; "" for a
	// one-to-one chat. It is kept only as part of a two-byte tag.
	Group string
}

func reasonCode(reason string) (byte, bool) {
	i := slices.Index(Reasons, reason)
	return byte(i), i >= 0
}

// reportState is what the store holds about a target, as seen by one new
// report.
type reportState struct {
	duplicate bool // this reporter's tag already has an unexpired report on the target
	count     int  // distinct reporter tags with unexpired reports on the target
}

// errNeedEscalation asks Report to compute the wider prefixes' keys (outside
// the write transaction: they are memory-hard) and try again.
var errNeedEscalation = errors.New("store: escalation keys needed")

// Report records that reporter reported target for reason at now. Reports
// count once per reporter identity (see Reporter) per target, and not at
// all from the target's own prefix. When BanAfter distinct reporters have
// unexpired reports on the target, its prefix (/32 or /64) is banned until
// now+BanFor, and an IPv6 ban may widen to the /56 or /48 (escalate.go).
// It returns the target's ban in force after the report, if any.
//
// Reporters are told apart by a two-byte tag: two reporters whose tags
// collide count as one. That can only under-count; it never bans anyone a
// distinct reporter would not have.
func (s *Store) Report(now time.Time, target netip.Addr, reporter Reporter, reason string) (Ban, bool, error) {
	if !target.IsValid() || !reporter.Addr.IsValid() {
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
	tp := prefix.Of(target)
	if prefix.Of(reporter.Addr) == tp {
		return s.Banned(now, target) // counts for nothing
	}
	if s.closed.Load() {
		return Ban{}, false, ErrClosed
	}
	th := s.banKeys(tp)
	tags := make([][tagSize]byte, len(s.keys.keys))
	for i, ks := range s.keys.keys {
		tags[i] = ks.reporterTag(reporter)
	}
	cur := s.keys.current()
	key := slices.Concat(th[0][:], tags[0][:])
	repVal := cur.seal(bucketReports, key, repExp, report{at: nowN, reason: code}.marshal())

	// A read first: a repeated report changes nothing and needs no fsync.
	var st reportState
	if err := s.view(func(tx *bolt.Tx) (err error) {
		st, err = s.reportState(tx, nowN, th, tags)
		return err
	}); err != nil {
		return Ban{}, false, err
	}
	if st.duplicate {
		return s.Banned(now, target)
	}
	var esc *escKeys
	if tp.Addr().Is6() && st.count+1 >= s.cfg.BanAfter {
		esc = s.escalationKeys(tp)
	}
	// LiftBan may not run between a commit and its change to the ban set.
	s.liftMu.RLock()
	defer s.liftMu.RUnlock()
	var made []madeBan
	for {
		err = s.write(func(tx *bolt.Tx) (err error) {
			made = nil
			if st, err = s.reportState(tx, nowN, th, tags); err != nil || st.duplicate {
				return err
			}
			if err := putRecord(tx, bucketReports, key, repVal, repExp); err != nil {
				return err
			}
			st.count++
			if st.count < s.cfg.BanAfter {
				return nil
			}
			if tp.Addr().Is6() && esc == nil {
				return errNeedEscalation
			}
			made, err = s.banTx(tx, nowN, until, th[0], uint8(tp.Bits()), uint32(min(st.count, 1<<31)), esc)
			return err
		})
		if !errors.Is(err, errNeedEscalation) {
			break
		}
		esc = s.escalationKeys(tp) // a concurrent report made this one the deciding one
	}
	if err != nil {
		return Ban{}, false, err
	}
	for _, m := range made {
		s.bans.put(m.key, m.m)
	}
	if !st.duplicate {
		s.st.reports.Add(1)
	}
	for _, m := range made {
		s.st.bans.Add(1)
		s.log.Info("store: prefix banned", "bits", m.m.bits, "count", m.m.count, "until", time.Unix(0, m.m.until).UTC())
	}
	return s.Banned(now, target)
}

// reportState reads what the store holds about target keys th as seen by
// reporter tags (index i: under key i). Every record it relies on is
// opened: a failure is ErrCorrupt, and then nothing is written.
func (s *Store) reportState(tx *bolt.Tx, now int64, th []banKey, tags [][tagSize]byte) (reportState, error) {
	var st reportState
	reports := tx.Bucket(bucketReports)
	for i := range th {
		c := reports.Cursor()
		for k, v := c.Seek(th[i][:]); k != nil && bytes.HasPrefix(k, th[i][:]); k, v = c.Next() {
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
			if bytes.Equal(k[banKeySize:], tags[i][:]) {
				st.duplicate = true
			}
		}
	}
	return st, nil
}

// decodeBan opens a ban record.
func (s *Store) decodeBan(k, v []byte) (banRecord, header, error) {
	plain, h, err := s.openRecord(bucketBans, k, v)
	if err != nil {
		return banRecord{}, header{}, fmt.Errorf("%w (a ban)", err)
	}
	rec, err := unmarshalBan(plain)
	if err != nil || rec.until != h.expiry {
		s.st.corrupt.Add(1)
		return banRecord{}, header{}, fmt.Errorf("%w (a ban)", ErrCorrupt)
	}
	return rec, h, nil
}

// LiftBan removes the ban with this key (as listed by Bans), together with
// the reports against that prefix and the strikes on and by it, so that the
// next report does not ban it again at once. ErrNotFound if there is no
// such ban.
func (s *Store) LiftBan(key string) error {
	if len(key) != 2*banKeySize {
		return ErrBadBanKey
	}
	k, err := hex.DecodeString(strings.ToLower(key))
	if err != nil {
		return ErrBadBanKey
	}
	s.liftMu.Lock()
	defer s.liftMu.Unlock()
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
	err = s.write(func(tx *bolt.Tx) error {
		var gone [][]byte
		if v := tx.Bucket(bucketBans).Get(k); v != nil {
			if rec, _, err := s.decodeBan(k, v); err == nil {
				gone = append(gone, rec.strikes...) // a ban that fails to open leaves its strikes to expire
			}
		}
		if _, err := deleteRecord(tx, bucketBans, k); err != nil {
			return err
		}
		for _, b := range [][]byte{bucketReports, bucketStrikes} {
			var keys [][]byte
			c := tx.Bucket(b).Cursor()
			for rk, _ := c.Seek(k); rk != nil && bytes.HasPrefix(rk, k); rk, _ = c.Next() {
				keys = append(keys, bytes.Clone(rk))
			}
			for _, rk := range keys {
				if _, err := deleteRecord(tx, b, rk); err != nil {
					return err
				}
			}
		}
		for _, sk := range gone {
			if _, err := deleteRecord(tx, bucketStrikes, sk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.bans.remove(banKey(k))
	return nil
}
