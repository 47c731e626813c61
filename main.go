// Command soulbridge serves a small community site in which people sign up,
// log in and pick an avatar, and in which nobody is logged out and no avatar
// is lost when the service is redeployed, restarted, killed or scaled out.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"soulbridge/ops"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soulbridge:", err)
		os.Exit(1)
	}
}

const usage = `usage: soulbridge [command]

commands:
  serve        run the server (the default)
  keygen       print a new random 32-byte key as 64 hex characters
  healthcheck  exit 0 if the server on $PORT answers /healthz with 200, else 1
  version      print the build's version
  backup [FILE|-]
               write a backup of the store in $DATA_DIR to FILE, or to stdout
               (-, the default); asks the running server if there is one
  restore [--force] [--unverified] FILE|-
               load a backup into the store in $DATA_DIR, or into the server
               running on it if its store is empty; refuses a store that
               holds records unless --force (with the server stopped), and
               a backup whose signature does not match SECRET_KEY or a
               fallback unless --unverified (then without its sessions:
               everyone logs in once)
` + ops.Usage + `
environment (README.md, "Configuration"):
  PORT                  listen on :PORT (default 8080)
  SECRET_KEY            the signing key (soulbridge keygen); without it, one is
                        generated into $DATA_DIR/secret.key; required with
                        REDIS_URL
  FLASK_SECRET_KEY      alias of SECRET_KEY
  SECRET_KEY_FALLBACKS  comma-separated previous keys, still accepted
  DATA_DIR              the store and key file (default
                        $RAILWAY_VOLUME_MOUNT_PATH, else ./data)
  REDIS_URL             turns on the Redis mirror (redis:// or rediss://);
                        REDIS_PRIVATE_URL is used when it is not set
  SESSION_KEY_PREFIX    prefix of every stored key (default soulbridge:)
  SESSION_LIFETIME      idle lifetime of a session (default 720h)
  SESSION_MAX_LIFETIME  absolute lifetime from log-in (default 2160h)
  DATA_LOCK_TIMEOUT     wait this long for another process's lock on the
                        data dir (default 60s)
  SHUTDOWN_TIMEOUT      SIGTERM waits this long for requests (default 10s)
  TRUST_PROXY_HEADERS   trust X-Real-IP, X-Forwarded-For and -Proto (default
                        true on Railway, else false)
  LOG_FORMAT            json or text (default json in production)
  PUBLIC_URL            the site's public address, for reset links (default
                        https://$RAILWAY_PUBLIC_DOMAIN on Railway)
  SMTP_URL              optional mail: smtp://user:pass@host:587 (STARTTLS
                        required) or smtps://user:pass@host:465; needs MAIL_FROM
                        and a public address (smtp+insecure:// loopback only)
  MAIL_FROM             the sender address of that mail
  SMTP_CA_FILE          PEM CA to trust for the mail server instead of the system's
  METRICS_ADDR          serve Prometheus metrics on this host:port, their own
                        listener on a private network (e.g. [::]:9090); never
                        PORT's port; off when unset
  SOULBRIDGE_IMAGE      set to 1 by the image: a root start that cannot drop
                        privileges refuses, as in production
  APP_ENV               production: the production rules off Railway
                        (on Railway, RAILWAY_ENVIRONMENT_NAME is enough)
`

// run is the whole program; main only adds the process's environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "backup":
		return backupCmd(ctx, args[1:], getenv, stdout, stderr)
	case "restore":
		return restoreCmd(ctx, args[1:], getenv, os.Stdin, stderr)
	case "users", "avatars":
		return operatorCmd(ctx, args, getenv, stdout, stderr)
	}
	if len(args) > 1 {
		return fmt.Errorf("%s takes no arguments\n%s", cmd, usage)
	}
	switch cmd {
	case "serve":
		return serve(ctx, getenv, stderr)
	case "keygen":
		k, err := newKeyHex()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, k)
		return err
	case "healthcheck":
		return healthcheck(ctx, portFrom(getenv))
	case "version":
		_, err := fmt.Fprintln(stdout, appVersion(getenv))
		return err
	case "help", "-h", "--help", "-help":
		_, err := fmt.Fprint(stdout, usage)
		return err
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

// healthcheck asks the local server on port for /healthz (for images without a shell).
func healthcheck(ctx context.Context, port string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %s", resp.Status)
	}
	return nil
}
