package store

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"
)

// Defaults applied by Config.withDefaults for zero values.
const (
	DefaultSessionTTL   = time.Hour
	DefaultReportWindow = 2160 * time.Hour
	DefaultBanAfter     = 3
	DefaultBanFor       = 2160 * time.Hour
	DefaultLockTimeout  = 2 * time.Second
	// DBName and KeyName are the file names inside Config.Dir.
	DBName  = "parley.db"
	KeyName = "parley.key"
)

// Config configures Open. Zero values mean the defaults above.
type Config struct {
	// Dir is the data directory (required). The database is Dir/parley.db;
	// Dir is created with mode 0700 if missing.
	Dir string
	// KeyFile holds the master key (default Dir/parley.key, mode 0600): one
	// line, the standard base64 of 32 random bytes. It is generated on the
	// first run only, when no database exists yet, and never beside an
	// existing one. Keep it out of the database's backups. Kept in Dir
	// (the default), a copy of Dir is a copy of everything needed to open
	// it: docs/SELF-HOSTING.md says where else to keep it.
	KeyFile string
	// Key is the master key itself (PARLEY_KEY): hex or base64 (standard or
	// URL alphabet, padded or not) of at least 32 bytes. It overrides KeyFile.
	Key string
	// OldKeys are retired master keys still accepted for reading, so a key
	// can be rotated without losing records: new writes use Key.
	OldKeys []string
	// SessionTTL is how long a session is kept after its LastSeen.
	SessionTTL time.Duration
	// ReportWindow is how long a report counts and is kept.
	ReportWindow time.Duration
	// BanAfter is how many distinct reporters (see Reporter: a prefix or a
	// group) ban a target prefix.
	BanAfter int
	// BanFor is the length of a ban.
	BanFor time.Duration
	// LockTimeout bounds the wait for the database's file lock: a second
	// process fails with ErrLocked after it instead of hanging.
	LockTimeout time.Duration
	// BatchDelay is the longest a write waits for others to share its
	// fsync (bbolt's MaxBatchDelay; 0 = 2ms). Larger raises throughput
	// under load at the cost of latency when idle.
	BatchDelay time.Duration
	// BanKeyCache is how many prefix-to-ban-key results are kept in memory
	// (0 = DefaultBanKeyCache, about 6 MiB): a prefix seen again costs no
	// memory-hard hash. The cache is never written anywhere.
	BanKeyCache int
	// Logger receives lower-case messages without personal data; nil
	// discards.
	Logger *slog.Logger
	// Clock tells the time where the API takes none (hiding sessions that
	// expired but were not swept yet); nil means time.Now.
	Clock func() time.Time
}

const defaultBatchDelay = 2 * time.Millisecond

func (c Config) withDefaults() Config {
	if c.KeyFile == "" && c.Dir != "" {
		c.KeyFile = filepath.Join(c.Dir, KeyName)
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.ReportWindow == 0 {
		c.ReportWindow = DefaultReportWindow
	}
	if c.BanAfter == 0 {
		c.BanAfter = DefaultBanAfter
	}
	if c.BanFor == 0 {
		c.BanFor = DefaultBanFor
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = DefaultLockTimeout
	}
	if c.BatchDelay == 0 {
		c.BatchDelay = defaultBatchDelay
	}
	if c.BanKeyCache == 0 {
		c.BanKeyCache = DefaultBanKeyCache
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// validate checks a Config after withDefaults. Its messages never contain
// key material.
func (c Config) validate() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("%w: Dir is required", ErrConfig)
	case c.SessionTTL < 0, c.ReportWindow < 0, c.BanFor < 0, c.LockTimeout < 0, c.BatchDelay < 0:
		return fmt.Errorf("%w: durations must not be negative", ErrConfig)
	case c.BanAfter < 1:
		return fmt.Errorf("%w: BanAfter must be at least 1", ErrConfig)
	case c.BanKeyCache < 0:
		return fmt.Errorf("%w: BanKeyCache must not be negative", ErrConfig)
	}
	return nil
}
