package helpline

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Defaults of Config.
const (
	DefaultCapacity         = 2
	DefaultMaxCapacity      = 6
	DefaultTimeOutThreshold = 3
	DefaultLongBlock        = 90 * 24 * time.Hour
	DefaultMaxTimeOut       = 7 * 24 * time.Hour
	DefaultContactPeriod    = 90 * 24 * time.Hour
	DefaultStaffCookieTTL   = 12 * time.Hour
	// VisitorCookieTTL is how long a visitor's cookie lives: the 90
	// days, renewed at every visit.
	VisitorCookieTTL = 90 * 24 * time.Hour
)

// Config configures the helpline (signaling.Config.Helpline; nil means no
// helpline). Zero values mean the defaults.
type Config struct {
	// Queue configures the offers: timeout (30s) and retry (1m).
	Queue QueueConfig
	// Capacity is a volunteer's chats at once unless they choose another.
	// Default 2.
	Capacity int
	// MaxCapacity is the most a volunteer may choose. Default 6.
	MaxCapacity int
	// OpeningHours is shown to visitors, above all when nobody is on shift
	// (free text, e.g. "every day 18:00-23:00").
	OpeningHours string
	// AdultOnly asks visitors to confirm they are 18 or older.
	AdultOnly bool
	// TimeOutThreshold is the number of time-outs within LongBlock that
	// makes the long block. Default 3.
	TimeOutThreshold int
	// LongBlock is the length of the long block, and how long a time-out
	// counts towards it. Default 90 days.
	LongBlock time.Duration
	// MaxTimeOut is the longest time-out a volunteer may give. Default 7 days.
	MaxTimeOut time.Duration
	// ContactPeriod is how often the key of the contact pseudonyms rotates;
	// a key is deleted two periods after it was made, and a contact record
	// goes one period after the last contact. Default 90 days.
	ContactPeriod time.Duration
	// StaffCookieTTL is how long a staff sign-in lasts. Default 12h.
	StaffCookieTTL time.Duration
	// PublicURL is the helpline's public origin (https://help.example.org):
	// passkeys are bound to its host. Empty takes the host each request
	// names, which suits a trial on localhost.
	PublicURL string
}

// SetDefaults fills in zero values.
func (c *Config) SetDefaults() {
	c.Queue.setDefaults()
	if c.Capacity == 0 {
		c.Capacity = DefaultCapacity
	}
	if c.MaxCapacity == 0 {
		c.MaxCapacity = max(DefaultMaxCapacity, c.Capacity)
	}
	if c.TimeOutThreshold == 0 {
		c.TimeOutThreshold = DefaultTimeOutThreshold
	}
	if c.LongBlock == 0 {
		c.LongBlock = DefaultLongBlock
	}
	if c.MaxTimeOut == 0 {
		c.MaxTimeOut = DefaultMaxTimeOut
	}
	if c.ContactPeriod == 0 {
		c.ContactPeriod = DefaultContactPeriod
	}
	if c.StaffCookieTTL == 0 {
		c.StaffCookieTTL = DefaultStaffCookieTTL
	}
}

// Validate checks a config after SetDefaults.
func (c *Config) Validate() error {
	switch {
	case c.Capacity < 1 || c.MaxCapacity < c.Capacity || c.MaxCapacity > 20:
		return errors.New("helpline: config: the capacity must be at least 1 and at most the maximum (at most 20)")
	case c.TimeOutThreshold < 1:
		return errors.New("helpline: config: the time-out threshold must be at least 1")
	case c.LongBlock < time.Hour || c.MaxTimeOut < time.Hour:
		return errors.New("helpline: config: blocks and time-outs last at least an hour")
	case c.ContactPeriod < 24*time.Hour:
		return errors.New("helpline: config: the contact period is at least a day")
	case c.StaffCookieTTL < time.Minute:
		return errors.New("helpline: config: a staff sign-in lasts at least a minute")
	case len(c.OpeningHours) > 200:
		return errors.New("helpline: config: the opening hours are at most 200 bytes")
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("helpline: config: the public URL %q is not an origin like https://help.example.org", c.PublicURL)
		}
	}
	return nil
}
