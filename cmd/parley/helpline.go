package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/parley-chat/parley/signaling/helpline"
	"github.com/parley-chat/parley/static"
	"github.com/parley-chat/parley/store"
)

// The helpline's flags, its admin API and `parley invite`.

// Helpline is the helpline's part of Config.
type Helpline struct {
	On           bool
	OpeningHours string
	AdultOnly    bool
	Capacity     int
	OfferTimeout time.Duration
	MaxTimeOut   time.Duration
	TimeOutsBan  int
	BlockFor     time.Duration
	PublicURL    string
}

func defineHelplineFlags(fs *flag.FlagSet, h *Helpline) {
	fs.BoolVar(&h.On, "helpline", false, "run the helpline: anonymous visitors, volunteers signed in with passkeys (needs the relay)")
	fs.StringVar(&h.OpeningHours, "helpline-hours", "", "the helpline's opening hours as visitors read them, e.g. \"every day 18:00-23:00\"")
	fs.BoolVar(&h.AdultOnly, "helpline-adult-only", false, "helpline visitors must confirm they are 18 or older")
	fs.IntVar(&h.Capacity, "helpline-capacity", helpline.DefaultCapacity, "chats a volunteer holds at once unless they choose fewer or more (up to 6)")
	durationFlag(fs, &h.OfferTimeout, "helpline-offer-timeout", 30*time.Second, "how long an offer of a visitor waits for a volunteer's answer before it moves on")
	durationFlag(fs, &h.MaxTimeOut, "helpline-max-timeout", helpline.DefaultMaxTimeOut, "the longest time-out a volunteer may give")
	fs.IntVar(&h.TimeOutsBan, "helpline-timeouts-to-block", helpline.DefaultTimeOutThreshold, "time-outs within --helpline-block-for that block a visitor for --helpline-block-for")
	durationFlag(fs, &h.BlockFor, "helpline-block-for", helpline.DefaultLongBlock, "how long the long block lasts, and how long a time-out counts towards it")
	fs.StringVar(&h.PublicURL, "public-url", "", "the server's public origin, e.g. https://help.example.org: passkeys are bound to its host, and invite links start with it")
}

func (c *Config) validateHelpline() []error {
	h := c.Helpline
	if !h.On {
		return nil
	}
	var errs []error
	if c.TURNListen == "off" {
		errs = append(errs, errors.New("--helpline needs the relay: visitors and volunteers are always relayed (--turn-listen is off)"))
	}
	if c.NATSURL != "" || c.ClusterListen != "" {
		// Staff, invites, contact records and blocks are written by the
		// node that serves the request, and the cluster replicates only
		// the leader's writes: a helpline runs on one node.
		errs = append(errs, errors.New("--helpline runs on one node: it cannot be combined with --cluster-listen or --nats-url"))
	}
	if err := h.config().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--helpline: %w", err))
	}
	if h.Capacity < 1 || h.TimeOutsBan < 1 {
		errs = append(errs, errors.New("--helpline-capacity and --helpline-timeouts-to-block must be at least 1"))
	}
	if h.OfferTimeout < time.Second {
		errs = append(errs, errors.New("--helpline-offer-timeout must be at least 1s"))
	}
	return errs
}

// config is the helpline's configuration for signaling; nil without
// --helpline.
func (h Helpline) config() *helpline.Config {
	if !h.On {
		return nil
	}
	cfg := &helpline.Config{
		Queue:            helpline.QueueConfig{OfferTimeout: h.OfferTimeout},
		Capacity:         h.Capacity,
		OpeningHours:     h.OpeningHours,
		AdultOnly:        h.AdultOnly,
		TimeOutThreshold: h.TimeOutsBan,
		LongBlock:        h.BlockFor,
		MaxTimeOut:       h.MaxTimeOut,
		PublicURL:        strings.TrimSuffix(h.PublicURL, "/"),
	}
	cfg.SetDefaults()
	return cfg
}

// relayAllocations is the least relay quota per session (and address)
// the helpline works with: everyone in it is relayed, a volunteer holds up
// to the maximum capacity of chats and a handover's notes at once, and a
// chat handed over opens a new connection while the old one's allocations
// are still being released; each connection allocates once per TURN URL
// (UDP, TCP, TLS). 0 without a helpline.
func (h Helpline) relayAllocations() int {
	cfg := h.config()
	if cfg == nil {
		return 0
	}
	return 3 * (cfg.MaxCapacity + 2)
}

// staticOptions is what the privacy notice says of the helpline; nil
// without one.
func (h Helpline) staticOptions() *static.HelplineOptions {
	cfg := h.config()
	if cfg == nil {
		return nil
	}
	return &static.HelplineOptions{ContactPeriod: cfg.ContactPeriod, TimeOutsToBlock: cfg.TimeOutThreshold, Block: cfg.LongBlock}
}

// mountHelpline adds the admin API's helpline endpoints: invites, staff,
// blocks and the audit log. Whatever the operator does there is in the
// audit log as "admin".
func (s *adminServer) mountHelpline(mux *http.ServeMux, a *app) {
	staff := a.sig.Helpline()
	if staff == nil {
		return
	}
	public := strings.TrimSuffix(a.cfg.Helpline.PublicURL, "/")
	mux.Handle("POST /admin/invites", s.auth(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Role string `json:"role"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			plain(w, http.StatusBadRequest, "the body is JSON: {\"role\": \"volunteer\" or \"coordinator\"}\n")
			return
		}
		if req.Role == "" {
			req.Role = store.RoleVolunteer
		}
		token, inv, err := staff.NewInvite(time.Now(), req.Role, helpline.Admin)
		if err != nil {
			s.helplineFail(w, err)
			return
		}
		resp := struct {
			helpline.NewInviteJSON
			Link string `json:"link,omitempty"`
		}{NewInviteJSON: helpline.NewInviteResponse(token, inv)}
		if public != "" {
			resp.Link = public + resp.Path
		}
		s.log.Info("staff invite made by the admin api", "role", inv.Role)
		writeJSONResponse(w, http.StatusOK, resp)
	}))
	mux.Handle("GET /admin/invites", s.auth(func(w http.ResponseWriter, _ *http.Request) {
		list, err := s.store.Invites(time.Now())
		if err != nil {
			s.helplineFail(w, err)
			return
		}
		writeJSONResponse(w, http.StatusOK, helpline.InvitesJSON(list))
	}))
	mux.Handle("DELETE /admin/invites/{id}", s.auth(func(w http.ResponseWriter, r *http.Request) {
		s.helplineDone(w, staff.RevokeInvite(time.Now(), r.PathValue("id"), helpline.Admin))
	}))
	mux.Handle("GET /admin/staff", s.auth(func(w http.ResponseWriter, _ *http.Request) {
		list, err := s.store.ListStaff()
		if err != nil {
			s.helplineFail(w, err)
			return
		}
		writeJSONResponse(w, http.StatusOK, helpline.MembersJSON(list))
	}))
	mux.Handle("DELETE /admin/staff/{id}", s.auth(func(w http.ResponseWriter, r *http.Request) {
		s.helplineDone(w, staff.Revoke(time.Now(), r.PathValue("id"), helpline.Admin))
	}))
	mux.Handle("GET /admin/helpline-blocks", s.auth(func(w http.ResponseWriter, _ *http.Request) {
		list, err := s.store.HelplineBlocks(time.Now())
		if err != nil {
			s.helplineFail(w, err)
			return
		}
		if list == nil {
			list = []store.HelplineBlock{}
		}
		writeJSONResponse(w, http.StatusOK, list)
	}))
	mux.Handle("DELETE /admin/helpline-blocks/{id}", s.auth(func(w http.ResponseWriter, r *http.Request) {
		s.helplineDone(w, staff.LiftBlock(time.Now(), r.PathValue("id"), helpline.Admin))
	}))
	mux.Handle("GET /admin/audit", s.auth(func(w http.ResponseWriter, _ *http.Request) {
		list, err := s.store.AuditLog(time.Now())
		if err != nil {
			s.helplineFail(w, err)
			return
		}
		if list == nil {
			list = []store.AuditEntry{}
		}
		writeJSONResponse(w, http.StatusOK, list)
	}))
}

func (s *adminServer) helplineDone(w http.ResponseWriter, err error) {
	if err != nil {
		s.helplineFail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *adminServer) helplineFail(w http.ResponseWriter, err error) {
	status := helpline.StatusOf(err)
	if status == http.StatusInternalServerError {
		s.log.Error("helpline admin request failed", "err", err)
		plain(w, status, "internal error\n")
		return
	}
	plain(w, status, err.Error()+"\n")
}

func runInvite(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("parley invite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := fs.String("admin-listen", "127.0.0.1:9090", "the running server's admin listener")
	role := fs.String("role", store.RoleVolunteer, "volunteer or coordinator")
	public := fs.String("public-url", "", "the server's public origin, to print the whole link")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: parley invite [flags]\n\nMakes a single-use invite for a helpline volunteer or coordinator, valid %s, through the\n"+
			"admin API of a running server (PARLEY_ADMIN_TOKEN must be set), and prints its link. Whoever opens\n"+
			"the link first registers a passkey under a display name.\n\n", store.InviteLifetime)
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(stderr, "  --%s (%s, default %s)\n      %s\n", f.Name, envName(f.Name), f.DefValue, f.Usage)
		})
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && f.Name != "role" && envErr == nil {
			envErr = f.Value.Set(v)
		}
	})
	if envErr != nil {
		fmt.Fprintf(stderr, "parley invite: %v\n", envErr)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "parley invite: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	token := getenv("PARLEY_ADMIN_TOKEN")
	if token == "" {
		fmt.Fprintln(stderr, "parley invite: PARLEY_ADMIN_TOKEN is not set: the admin API needs the server's token")
		return 2
	}
	inv, err := fetchInvite(*admin, token, *role)
	if err != nil {
		fmt.Fprintf(stderr, "parley invite: %v\n", err)
		return 1
	}
	link := inv.Link
	if link == "" && *public != "" {
		if u, err := url.Parse(*public); err == nil && u.Host != "" {
			link = strings.TrimSuffix(*public, "/") + inv.Path
		}
	}
	if link == "" {
		link = "https://YOUR-SERVER" + inv.Path + "   (set --public-url to print the whole link)"
	}
	fmt.Fprintf(stdout, "parley invite: a %s invite, valid until %s, for one registration:\n%s\n", inv.Role, inv.Expires.Format(time.RFC3339), link)
	fmt.Fprintf(stdout, "Give it to the person only, over a channel you trust: whoever opens it first becomes staff.\n")
	return 0
}

type inviteAnswer struct {
	helpline.NewInviteJSON
	Link string `json:"link"`
}

func fetchInvite(admin, token, role string) (inviteAnswer, error) {
	var inv inviteAnswer
	host, err := adminHost(admin)
	if err != nil {
		return inv, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"role": role})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+host+"/admin/invites", bytes.NewReader(body))
	if err != nil {
		return inv, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return inv, fmt.Errorf("asking the server: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return inv, fmt.Errorf("the server answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return inv, json.Unmarshal(b, &inv)
}
