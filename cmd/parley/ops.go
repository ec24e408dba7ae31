package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-chat/parley/store"
)

// The operator's subcommands: `parley backup FILE` asks a running server
// for a copy of its database through the admin API; `parley restore FILE`
// puts one in place of a stopped server's database.

// subcommandFlags is a flag set whose flags fall back to their PARLEY_*
// variables, as the server's own do.
func subcommandFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("parley "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: parley %s [flags] FILE\n\n%s\n\n", name, usage)
		fs.VisitAll(func(f *flag.Flag) {
			def := f.DefValue
			if def == "" {
				def = "none"
			}
			fmt.Fprintf(stderr, "  --%s (%s, default %s)\n      %s\n", f.Name, envName(f.Name), def, f.Usage)
		})
	}
	return fs
}

// parseSubcommand applies the environment, then args; it wants exactly one
// FILE argument.
func parseSubcommand(fs *flag.FlagSet, args []string, getenv func(string) string) (string, error) {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s: %w", envName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return "", envErr
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return "", errors.New("want exactly one FILE")
	}
	return fs.Arg(0), nil
}

func runBackup(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := subcommandFlags("backup", "Writes a consistent copy of a running server's database to FILE (mode 0600, replaced\n"+
		"atomically), through the admin API: PARLEY_ADMIN_TOKEN must be set. The copy is sealed and holds\n"+
		"no key: keep the key file apart from it.", stderr)
	admin := fs.String("admin-listen", "127.0.0.1:9090", "the running server's admin listener")
	timeout := fs.Duration("backup-timeout", 10*time.Minute, "how long the copy may take")
	file, err := parseSubcommand(fs, args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "parley backup: %v\n", err)
		return 2
	}
	token := getenv("PARLEY_ADMIN_TOKEN")
	if token == "" {
		fmt.Fprintln(stderr, "parley backup: PARLEY_ADMIN_TOKEN is not set: the admin API needs the server's token")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	res, err := fetchBackup(ctx, *admin, token, file)
	if err != nil {
		fmt.Fprintf(stderr, "parley backup: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "parley backup: wrote %s (%d bytes, database format %d)\n", file, res.size, res.format)
	fmt.Fprintf(stdout, "It is sealed: it opens only with the server's master key (key id %s), which the server reads from %s.\n", res.keyID, res.keySource)
	fmt.Fprintf(stdout, "Store that key apart from this backup and from the data dir: with the key, the backup opens; without it, nothing can restore it.\n")
	return 0
}

type backupResult struct {
	size             int64
	format           int
	keyID, keySource string
}

// fetchBackup downloads GET /admin/backup into a temporary file beside
// file, syncs it, checks that it is a complete and consistent database,
// and renames it over file.
func fetchBackup(ctx context.Context, admin, token, file string) (backupResult, error) {
	var res backupResult
	host, err := adminHost(admin)
	if err != nil {
		return res, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/admin/backup", nil)
	if err != nil {
		return res, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return res, fmt.Errorf("asking the server: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return res, fmt.Errorf("the server answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	res.keyID, res.keySource = resp.Header.Get("Parley-Key-Id"), resp.Header.Get("Parley-Key-Source")

	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp-*") // mode 0600
	if err != nil {
		return res, err
	}
	defer os.Remove(tmp.Name()) // after the rename there is nothing left to remove
	res.size, err = io.Copy(tmp, resp.Body)
	if err == nil && resp.ContentLength >= 0 && res.size != resp.ContentLength {
		err = fmt.Errorf("got %d of %d bytes", res.size, resp.ContentLength)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("writing the backup: %w", err)
	}
	if res.format, err = store.CheckBackup(tmp.Name()); err != nil {
		return res, err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return res, err
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return res, fmt.Errorf("syncing %s: %w", dir, err)
		}
	}
	return res, nil
}

// adminHost is where to reach an admin listener given as --admin-listen:
// a wildcard host means this machine.
func adminHost(listen string) (string, error) {
	if listen == "off" {
		return "", errors.New("--admin-listen is off: the backup goes through the admin listener")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("--admin-listen %q: %w", listen, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}

func runRestore(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := subcommandFlags("restore", "Puts the backup FILE in place of the database in the data dir. The server must be stopped;\n"+
		"the backup must open with the configured key (--key-file or PARLEY_KEY, as the server's), which\n"+
		"restore never generates. Nothing is replaced unless all of that holds.", stderr)
	dataDir := fs.String("data-dir", "./data", "the data directory of the server")
	keyFile := fs.String("key-file", "", "master key file (default <data-dir>/parley.key); PARLEY_KEY holds the key itself instead")
	oldKeys := fs.String("old-key-files", "", "comma-separated files of retired keys the backup may still need")
	file, err := parseSubcommand(fs, args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "parley restore: %v\n", err)
		return 2
	}
	if *keyFile == "" {
		*keyFile = filepath.Join(*dataDir, store.KeyName)
	}
	old, err := readKeyFiles(splitList(*oldKeys))
	if err != nil {
		fmt.Fprintf(stderr, "parley restore: %v\n", err)
		return 1
	}
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintf(stderr, "parley restore: %v\n", err)
		return 1
	}
	defer f.Close()
	n, err := store.Restore(store.Config{Dir: *dataDir, KeyFile: *keyFile, Key: getenv("PARLEY_KEY"), OldKeys: old}, f)
	db := filepath.Join(*dataDir, store.DBName)
	switch {
	case errors.Is(err, store.ErrLocked):
		fmt.Fprintf(stderr, "parley restore: a running parley holds %s: stop it first (systemctl stop parley); nothing was replaced\n", db)
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "parley restore: %v; nothing was replaced\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "parley restore: %s (%d bytes) is now %s; start parley (a backup of an older format is upgraded on start)\n", file, n, db)
	return 0
}
