package main

import (
	"errors"
	"flag"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// day is the unit retention and ban rules are thought in: "a ban lasts 90
// days" reads better than 2160h0m0s, in -h and on the command line alike.
const day = 24 * time.Hour

// maxDays keeps days*24h inside a time.Duration.
const maxDays = int64(1<<63-1) / int64(day)

var errDuration = errors.New(`not a duration: use a number with a unit, such as 90d, 2160h, 1h30m or 30s`)

// leadingDays is a day count in front of the rest of a duration: "90d",
// "1d12h".
var leadingDays = regexp.MustCompile(`^([0-9]+)d(.*)$`)

// parseDuration is time.ParseDuration that also takes whole days in front:
// "90d", "1d12h". Everything Go accepts ("2160h", "1h30m", "30s") still is.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	m := leadingDays.FindStringSubmatch(s)
	if m == nil {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q: %w", s, errDuration)
		}
		return d, nil
	}
	days, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || days > maxDays {
		return 0, fmt.Errorf("%q: %w", s, errDuration)
	}
	d := time.Duration(days) * day
	if m[2] == "" {
		return d, nil
	}
	rest, err := time.ParseDuration(m[2])
	if err != nil || rest < 0 || d+rest < d {
		return 0, fmt.Errorf("%q: %w", s, errDuration)
	}
	return d + rest, nil
}

// formatDuration writes d the way people say it: whole days as "90d", the
// rest without Go's trailing zero units ("1h", not "1h0m0s"). parseDuration
// reads everything it writes.
func formatDuration(d time.Duration) string {
	if d <= 0 || d < day {
		return trimZeroUnits(d.String())
	}
	days, rest := d/day, d%day
	if rest == 0 {
		return strconv.FormatInt(int64(days), 10) + "d"
	}
	return strconv.FormatInt(int64(days), 10) + "d" + trimZeroUnits(rest.String())
}

// trimZeroUnits turns "1h0m0s" into "1h" and "5m0s" into "5m".
func trimZeroUnits(s string) string {
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// durationValue is a flag.Value for durations that knows days.
type durationValue struct{ p *time.Duration }

func (v durationValue) String() string {
	if v.p == nil {
		return ""
	}
	return formatDuration(*v.p)
}

func (v durationValue) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*v.p = d
	return nil
}

// durationFlag defines a duration flag that prints and accepts days. Every
// duration flag of parley goes through it (TestEveryDurationFlagTakesDays).
func durationFlag(fs *flag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	fs.Var(durationValue{p}, name, usage)
}
