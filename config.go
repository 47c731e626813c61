package main

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"soulbridge/kv"
	"soulbridge/mailer"
)

// Config is everything soulbridge reads from the environment, validated.
// The environment is read only through the getenv that run receives, by
// loadConfig and its helpers in this file, and by portFrom (here) and
// appVersion (version.go), which the healthcheck and version commands call
// without a full Config. Key parsing and the key file are in keys.go.
type Config struct {
	Port          string
	DataDir       string
	DataDirSource string // which variable chose DataDir, or "default"
	VolumePath    string // RAILWAY_VOLUME_MOUNT_PATH, "" when none
	OnRailway     bool
	// PublicURL is the site's public address (PUBLIC_URL, else
	// https://$RAILWAY_PUBLIC_DOMAIN), without a trailing slash; "" when
	// neither is set. Operator reset links start with it, never with a
	// request's Host.
	PublicURL string
	// Mail is the optional mail server (SMTP_URL, MAIL_FROM, SMTP_CA_FILE);
	// nil when SMTP_URL is unset. Its Password is never logged: log
	// Mail.Redacted().
	Mail               *mailer.Settings
	Production         bool
	InImage            bool // SOULBRIDGE_IMAGE, set by the Dockerfile: the process runs in the project's image
	Persistent         bool
	RedisURL           string
	KeyPrefix          string
	SessionLifetime    time.Duration
	SessionMaxLifetime time.Duration
	LockTimeout        time.Duration
	ShutdownTimeout    time.Duration
	TrustProxyHeaders  bool
	LogFormat          string // "json" or "text"
	Version            string // what /readyz and `soulbridge version` report (appVersion)
	// MetricsAddr is where the Prometheus metrics are served (METRICS_ADDR,
	// host:port); "" when unset: nothing is counted (metricsserver.go).
	MetricsAddr string

	// secretKey and fallbackKeys come from the environment; the key file is
	// read later (after the privilege drop) by resolveKeys.
	secretKey       []byte
	secretKeySource string
	fallbackKeys    [][]byte
}

// neverRootServe reports whether a root start must drop to the service uid
// or refuse: in production and in the image, where serving as root would
// hand a bug in the server the whole container or host. Outside both (a
// person's `go run .` as root) a start that cannot drop serves as root
// with a warning (takeDataDir).
func (c *Config) neverRootServe() bool { return c.Production || c.InImage }

// loadConfig reads and validates the environment for serve: every rule,
// the one that only a serving process needs (serveKeyRule) included.
func loadConfig(getenv func(string) string) (Config, error) {
	c, err := loadCommandConfig(getenv)
	return c, errors.Join(err, c.serveKeyRule())
}

// loadCommandConfig reads and validates the environment for the commands
// that open the store but do not serve (backup, restore): they sign and
// check with whatever key there is, so REDIS_URL without SECRET_KEY does
// not stop them (serveKeyRule).
func loadCommandConfig(getenv func(string) string) (Config, error) {
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Port:      portFrom(getenv),
		RedisURL:  env("REDIS_URL", env("REDIS_PRIVATE_URL", "")),
		KeyPrefix: getenv("SESSION_KEY_PREFIX"),
		Version:   appVersion(getenv),
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = "soulbridge:"
	}
	railwayEnv := env("RAILWAY_ENVIRONMENT_NAME", env("RAILWAY_ENVIRONMENT", ""))
	c.OnRailway = railwayEnv != ""
	c.Production = c.OnRailway || strings.EqualFold(env("APP_ENV", ""), "production")
	c.PublicURL = strings.TrimRight(env("PUBLIC_URL", ""), "/")
	if d := env("RAILWAY_PUBLIC_DOMAIN", ""); c.PublicURL == "" && d != "" {
		c.PublicURL = "https://" + d
	}

	var errs []error
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "https://") && !strings.HasPrefix(c.PublicURL, "http://") {
		errs = append(errs, errors.New("PUBLIC_URL: must start with https:// (or http://)"))
	}
	if smtpURL := env("SMTP_URL", ""); smtpURL != "" {
		ms, err := mailer.Parse(smtpURL, env("MAIL_FROM", ""), env("SMTP_CA_FILE", ""))
		switch {
		case err != nil:
			errs = append(errs, err)
		case c.PublicURL == "":
			errs = append(errs, errors.New("SMTP_URL is set but the site has no public address for the links it mails: set PUBLIC_URL (e.g. https://community.example.org)"))
		default:
			c.Mail = &ms
		}
	} else if env("MAIL_FROM", "") != "" || env("SMTP_CA_FILE", "") != "" {
		errs = append(errs, errors.New("MAIL_FROM/SMTP_CA_FILE are set but SMTP_URL is not: set SMTP_URL (smtp://user:pass@host:587 or smtps://user:pass@host:465) or unset them"))
	}
	if p, err := strconv.Atoi(c.Port); err != nil || p < 1 || p > 65535 {
		errs = append(errs, fmt.Errorf("PORT=%q: must be a port number 1-65535", c.Port))
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		errs = append(errs, errors.New("REDIS_URL: must start with redis:// or rediss://"))
	} else if c.RedisURL != "" {
		// One Redis, or Sentinels with ?master_name= (never quoted: it may
		// hold passwords).
		if err := kv.CheckRedisURL(c.RedisURL); err != nil {
			errs = append(errs, err)
		}
	}
	if len(c.KeyPrefix) > 64 || strings.ContainsAny(c.KeyPrefix, " \t\r\n") {
		errs = append(errs, errors.New("SESSION_KEY_PREFIX: at most 64 characters, no spaces"))
	}
	durations := []struct {
		name, def string
		dst       *time.Duration
	}{
		{"SESSION_LIFETIME", "720h", &c.SessionLifetime},
		{"SESSION_MAX_LIFETIME", "2160h", &c.SessionMaxLifetime},
		{"DATA_LOCK_TIMEOUT", "60s", &c.LockTimeout},
		{"SHUTDOWN_TIMEOUT", "10s", &c.ShutdownTimeout},
	}
	for _, d := range durations {
		v := env(d.name, d.def)
		dur, err := time.ParseDuration(v)
		if err != nil || dur < 0 || (dur == 0 && !strings.HasSuffix(d.name, "_TIMEOUT")) {
			errs = append(errs, fmt.Errorf("%s=%q: must be a positive duration such as 720h, 30m or 10s", d.name, v))
			continue
		}
		*d.dst = dur
	}
	if c.SessionLifetime > 0 && c.SessionMaxLifetime > 0 && c.SessionLifetime > c.SessionMaxLifetime {
		errs = append(errs, errors.New("SESSION_LIFETIME must not exceed SESSION_MAX_LIFETIME"))
	}

	var err error
	if c.InImage, err = parseBool(env("SOULBRIDGE_IMAGE", "false")); err != nil {
		errs = append(errs, fmt.Errorf("SOULBRIDGE_IMAGE (set by the image): %w", err))
	}
	if c.TrustProxyHeaders, err = parseBool(env("TRUST_PROXY_HEADERS", strconv.FormatBool(c.OnRailway))); err != nil {
		errs = append(errs, fmt.Errorf("TRUST_PROXY_HEADERS: %w", err))
	}
	c.LogFormat = "text"
	if c.Production {
		c.LogFormat = "json"
	}
	c.LogFormat = env("LOG_FORMAT", c.LogFormat)
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("LOG_FORMAT=%q: must be json or text", c.LogFormat))
	}

	if err := c.readMetricsAddr(getenv); err != nil {
		errs = append(errs, err)
	}
	if err := c.resolveDataDir(getenv); err != nil {
		errs = append(errs, err)
	}
	if err := c.readKeysFromEnv(getenv); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// readMetricsAddr reads METRICS_ADDR: host:port with a numeric port, the
// host empty, an IP address or a name. Its port must not be PORT's,
// whatever the host: the site listens on :PORT, every address of the
// machine (IPv4 and IPv6), so any address with that port overlaps the
// public listener, and metrics must never be served where the public
// can reach them.
func (c *Config) readMetricsAddr(getenv func(string) string) error {
	c.MetricsAddr = strings.TrimSpace(getenv("METRICS_ADDR"))
	if c.MetricsAddr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(c.MetricsAddr)
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil || p < 1 || p > 65535 {
		return fmt.Errorf("METRICS_ADDR=%q: must be host:port with a port number 1-65535, such as [::]:9090 or 127.0.0.1:9090", c.MetricsAddr)
	}
	if pub, err := strconv.Atoi(c.Port); err == nil && pub == p {
		return fmt.Errorf("METRICS_ADDR=%q uses PORT's port %s: the site listens there on every address, and metrics must never be served on the public port; pick another port (such as 9090) on a private network", c.MetricsAddr, c.Port)
	}
	return nil
}

// portFrom is PORT, default 8080 (also for `soulbridge healthcheck`).
func portFrom(getenv func(string) string) string {
	if p := strings.TrimSpace(getenv("PORT")); p != "" {
		return p
	}
	return "8080"
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", v)
}

// resolveDataDir picks the data dir and decides whether it is persistent.
func (c *Config) resolveDataDir(getenv func(string) string) error {
	c.VolumePath = strings.TrimSpace(getenv("RAILWAY_VOLUME_MOUNT_PATH"))
	switch {
	case strings.TrimSpace(getenv("DATA_DIR")) != "":
		c.DataDir, c.DataDirSource = strings.TrimSpace(getenv("DATA_DIR")), "DATA_DIR"
	case c.VolumePath != "":
		c.DataDir, c.DataDirSource = c.VolumePath, "RAILWAY_VOLUME_MOUNT_PATH"
	default:
		c.DataDir, c.DataDirSource = "data", "default"
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("DATA_DIR=%q: %w", c.DataDir, err)
	}
	c.DataDir = abs
	if !c.OnRailway {
		c.Persistent = true
		return nil
	}
	if c.VolumePath == "" {
		c.Persistent = false
		return nil
	}
	vol, err := filepath.Abs(c.VolumePath)
	if err != nil {
		return fmt.Errorf("RAILWAY_VOLUME_MOUNT_PATH=%q: %w", c.VolumePath, err)
	}
	if rel, err := filepath.Rel(vol, abs); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("data dir %s is outside the Railway volume mounted at %s: everything written there would vanish on the next deploy; set DATA_DIR=%s (or unset DATA_DIR), or mount the volume at %s",
			abs, vol, vol, abs)
	}
	c.Persistent = true
	return nil
}

// readKeysFromEnv parses SECRET_KEY / FLASK_SECRET_KEY and SECRET_KEY_FALLBACKS.
func (c *Config) readKeysFromEnv(getenv func(string) string) error {
	secret, flask := strings.TrimSpace(getenv("SECRET_KEY")), strings.TrimSpace(getenv("FLASK_SECRET_KEY"))
	var errs []error
	switch {
	case secret != "" && flask != "" && secret != flask:
		errs = append(errs, errors.New("SECRET_KEY and FLASK_SECRET_KEY are both set and differ: set only one (FLASK_SECRET_KEY is an alias)"))
	case secret != "":
		c.secretKeySource = "SECRET_KEY"
	case flask != "":
		c.secretKeySource, secret = "FLASK_SECRET_KEY", flask
	}
	if c.secretKeySource != "" {
		k, err := parseKey(secret)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.secretKeySource, err))
		}
		c.secretKey = k
	}
	if fb := getenv("SECRET_KEY_FALLBACKS"); strings.TrimSpace(fb) != "" {
		for i, part := range strings.Split(fb, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			k, err := parseKey(part)
			if err != nil {
				errs = append(errs, fmt.Errorf("SECRET_KEY_FALLBACKS entry %d: %w", i+1, err))
				continue
			}
			c.fallbackKeys = append(c.fallbackKeys, k)
		}
	}
	if c.secretKeySource == "" && c.Production && !c.Persistent {
		errs = append(errs, errors.New("no SECRET_KEY set in production: the data dir is not on a persistent volume, so a generated key "+
			"would change on every deploy and log everyone out; run `soulbridge keygen` and set SECRET_KEY to its output"))
	}
	return errors.Join(errs...)
}

// serveKeyRule refuses to serve with REDIS_URL and no SECRET_KEY, in
// production or not: instances that share sessions through Redis must sign
// cookies with one key, and a key file in the data dir is each instance's
// own (a generated one differs on every instance, so a cookie from one is
// refused by the next). backup and restore are exempt: they do not serve.
func (c *Config) serveKeyRule() error {
	if c.secretKeySource != "" || c.RedisURL == "" {
		return nil
	}
	return fmt.Errorf("REDIS_URL is set but SECRET_KEY is not: instances sharing Redis must share one signing key, "+
		"and a key generated into each data dir would differ, so a session made on one instance would be refused by another; "+
		"run `soulbridge keygen` and set SECRET_KEY to its output on every instance (if this data dir already has %s, "+
		"set SECRET_KEY to that file's contents instead and nobody is logged out)", filepath.Join(c.DataDir, keyFileName))
}
