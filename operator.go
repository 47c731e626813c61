package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"soulbridge/ops"
	"soulbridge/web"
)

// operatorCmd is `soulbridge users …` and `soulbridge avatars …` (package
// ops): asked of the server running on DATA_DIR through the admin socket,
// or run here on the store when no server runs. Not with REDIS_URL set
// and no server: a change made here would have to wait in this store's
// outbox for Redis, with no process left to replay it, while the other
// instances go on letting a locked member in; so a change is refused then
// (a listing is read from the local copy, with a warning).
func operatorCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	req, err := ops.Parse(args)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, usage)
	}
	cfg, err := loadCommandConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if req.Base == "" {
		req.Base = cfg.PublicURL
	}
	rep, err := ops.Ask(ctx, cfg.DataDir, req, unprivileged)
	if errors.Is(err, ops.ErrNoServer) {
		rep, err = operateOnStore(ctx, cfg, req, stderr)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", req.Command, err)
	}
	return ops.Print(stdout, req, rep)
}

// operateOnStore runs req on the store in cfg.DataDir, opened here (no
// server holds it). Its events go to stderr: no server log to hold them.
func operateOnStore(ctx context.Context, cfg Config, req ops.Request, stderr io.Writer) (ops.Reply, error) {
	if cfg.RedisURL != "" {
		if ops.Writes(req.Command) {
			return ops.Reply{}, errors.New("no server runs on the data dir and REDIS_URL is set: a change must reach Redis " +
				"and no process here would replay it; run the command where the server runs")
		}
		fmt.Fprintln(stderr, "soulbridge: WARNING: no server runs here: this is the local copy, not what other instances wrote to Redis")
	}
	b, err := openForCommand(ctx, cfg)
	if err != nil {
		return ops.Reply{}, err
	}
	defer func() {
		b.Close()
		if err := keepOwner(cfg.DataDir); err != nil {
			fmt.Fprintln(stderr, "soulbridge: WARNING:", err)
		}
	}()
	_, keys, err := cfg.commandKeys()
	if err != nil {
		return ops.Reply{}, err
	}
	if len(keys) == 0 {
		// The commands sign no cookie; the session manager wants a key.
		keys = [][]byte{[]byte(rand.Text() + rand.Text())}
	}
	log := newLogger("text", stderr)
	site, err := web.NewSite(b, web.SiteConfig{
		Keys: keys, IdleLifetime: cfg.SessionLifetime, MaxLifetime: cfg.SessionMaxLifetime,
		Persistent: cfg.Persistent, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return ops.Reply{}, err
	}
	return ops.New(opsDeps(site, nil, log)).Do(ctx, req)
}

// opsDeps are the operator commands' dependencies: site's services, so an
// operator's change is made as the site makes it.
func opsDeps(site *web.Server, shared func() bool, log *slog.Logger) ops.Deps {
	sv := site.Services()
	return ops.Deps{Accounts: sv.Accounts, Sessions: sv.Sessions, Avatars: sv.Avatars,
		RemoveAccount: site.RemoveAccount, Shared: shared, Log: log, Metrics: sv.Metrics}
}

// mirrorUp reports whether writes reach every instance: always without the
// Redis mirror, while it is up with it.
func mirrorUp(m web.MirrorState) func() bool {
	if m == nil {
		return nil
	}
	return func() bool { return m.Status() == "ok" }
}
