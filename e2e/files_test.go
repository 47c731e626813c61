package e2e

// The deploy files (Dockerfile, railway.json, .railway/railway.ts) checked
// against each other, the README and the binary. They are read from the
// repository root (testbin.ModuleRoot), not from this package's directory.

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// stripTSComments removes // comments (whole-line and trailing) so
// that only code is matched.
func stripTSComments(src string) string {
	src = regexp.MustCompile(`(?m)^\s*//.*$`).ReplaceAllString(src, "")
	return regexp.MustCompile(`(?m)\s+//.*$`).ReplaceAllString(src, "")
}

// TestRailwayJSON checks railway.json's fields and types, that the binary
// answers its healthcheck path with 200 (started from a directory with no
// railway.json and with no RAILWAY_* variables: neither deploy file is
// needed to run), that drainingSeconds outlasts the binary's default
// SHUTDOWN_TIMEOUT, and that .railway/railway.ts carries the same settings.
func TestRailwayJSON(t *testing.T) {
	testbin.SkipShort(t)
	dec := json.NewDecoder(strings.NewReader(readRepoFile(t, "railway.json")))
	dec.UseNumber()
	var rj struct {
		Schema  string                     `json:"$schema"`
		Comment string                     `json:"$comment"`
		Build   map[string]any             `json:"build"`
		Deploy  map[string]json.RawMessage `json:"deploy"`
	}
	if err := dec.Decode(&rj); err != nil {
		t.Fatalf("railway.json: %v", err)
	}
	if rj.Schema != "https://railway.com/railway.schema.json" {
		t.Errorf("$schema = %q", rj.Schema)
	}
	// Railway no longer reads the file (issue 18 row 6): it says so itself.
	for _, want := range []string{"2026-12-01", ".railway/railway.ts", "railway config migrate"} {
		if !strings.Contains(rj.Comment, want) {
			t.Errorf("railway.json $comment %q does not mention %q", rj.Comment, want)
		}
	}
	if rj.Build["builder"] != "DOCKERFILE" {
		t.Errorf("build.builder = %v, want DOCKERFILE", rj.Build["builder"])
	}
	if p, _ := rj.Build["dockerfilePath"].(string); p != "" {
		if _, err := os.Stat(repoPath(t, p)); err != nil {
			t.Errorf("build.dockerfilePath %q: %v", p, err)
		}
	}
	str := func(k string) string {
		var s string
		if err := json.Unmarshal(rj.Deploy[k], &s); err != nil {
			t.Errorf("deploy.%s = %s: want a string", k, rj.Deploy[k])
		}
		return s
	}
	// num insists on a JSON number: Railway rejects "20" (a string) with
	// "Expected number, received string".
	num := func(k string) float64 {
		raw := strings.TrimSpace(string(rj.Deploy[k]))
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			t.Errorf("deploy.%s = %s: want a JSON number", k, raw)
		}
		return f
	}
	healthPath := str("healthcheckPath")
	if healthPath != "/healthz" {
		t.Errorf("deploy.healthcheckPath = %q, want /healthz", healthPath)
	}
	healthTimeout := num("healthcheckTimeout")
	if healthTimeout <= 0 {
		t.Errorf("deploy.healthcheckTimeout = %v, want > 0", healthTimeout)
	}
	if got := str("restartPolicyType"); got != "ON_FAILURE" {
		t.Errorf("deploy.restartPolicyType = %q, want ON_FAILURE", got)
	}
	if got := num("restartPolicyMaxRetries"); got <= 0 {
		t.Errorf("deploy.restartPolicyMaxRetries = %v, want > 0", got)
	}
	// Compared with the default SHUTDOWN_TIMEOUT below, once the binary
	// has said what it is.
	draining := num("drainingSeconds")
	if draining < 10 {
		t.Errorf("deploy.drainingSeconds = %v, want >= 10", draining)
	}
	if got := str("requiredMountPath"); got != "/data" {
		t.Errorf("deploy.requiredMountPath = %q, want /data", got)
	}

	// The binary answers the healthcheck path, run with no deploy files.
	root := testbin.Root(t)
	for _, f := range []string{"railway.json", "railway.toml", ".railway"} {
		if _, err := os.Stat(filepath.Join(root, f)); err == nil {
			t.Fatalf("%s exists in the fresh working dir", f)
		}
	}
	env := keyedEnv(t, filepath.Join(root, "data"))
	delete(env, "SHUTDOWN_TIMEOUT") // the default, read back from the log below
	p := serve(t, "no-deploy-files", root, env, nil)
	p.WaitHealthy(20 * time.Second)
	c := oneShotClient(5 * time.Second)
	for _, path := range []string{healthPath, "/readyz"} {
		resp, err := c.Get(p.Base() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d %s, want 200", path, resp.StatusCode, body)
		}
		if path == "/readyz" && !strings.Contains(string(body), `"version":"`+testbin.Version+`"`) {
			t.Errorf("GET /readyz = %s, want the linker-stamped version %s", body, testbin.Version)
		}
	}
	p.Signal(syscall.SIGTERM)
	if code := p.WaitExit(15 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}

	// Railway sends SIGKILL drainingSeconds after SIGTERM: the binary's
	// default SHUTDOWN_TIMEOUT, which it logs when SIGTERM starts the
	// drain, must end first.
	m := regexp.MustCompile(`shutting down.*\btimeout=(\S+)`).FindStringSubmatch(p.Output())
	if m == nil {
		t.Errorf("the binary did not log its shutdown timeout after SIGTERM:\n%s", p.Output())
	} else if shutdown, err := time.ParseDuration(m[1]); err != nil {
		t.Errorf("the binary logged the shutdown timeout %q: %v", m[1], err)
	} else if draining <= shutdown.Seconds() {
		t.Errorf("deploy.drainingSeconds = %v, want > the default SHUTDOWN_TIMEOUT (%s), or Railway's SIGKILL cuts the drain short",
			draining, shutdown)
	}

	// .railway/railway.ts names the same settings (read as text, comments
	// removed).
	ts := stripTSComments(readRepoFile(t, ".railway/railway.ts"))
	checks := []struct {
		what string
		re   string
	}{
		{"the railway/iac import", `from\s+["']railway/iac["']`},
		{"defineRailway", `export\s+default\s+defineRailway\(`},
		{"the Dockerfile builder", `builder\s*:\s*["']DOCKERFILE["']`},
		{"the healthcheck path " + healthPath, `healthcheck(?:Path)?\s*:\s*["']` + regexp.QuoteMeta(healthPath) + `["']`},
		{"the healthcheck timeout", `healthcheckTimeout\s*:\s*` + strconv.FormatFloat(healthTimeout, 'f', -1, 64) + `\b`},
		{"restart ON_FAILURE", `restartPolicyType\s*:\s*["']ON_FAILURE["']`},
		{"drainingSeconds " + strconv.FormatFloat(draining, 'f', -1, 64), `drainingSeconds\s*:\s*` + strconv.FormatFloat(draining, 'f', -1, 64) + `\b`},
		{"requiredMountPath /data", `requiredMountPath\s*:\s*["']/data["']`},
		{"a volume mounted at /data", `volumeMounts\s*:\s*\{[^}]*["']/data["']\s*:\s*\w+`},
		{"a volume(...) resource", `\bvolume\(\s*["'][^"']+["']`},
		{"SECRET_KEY kept in Railway", `SECRET_KEY\s*:\s*preserve\(\)`},
		{"REDIS_URL from a redis() service", `REDIS_URL\s*:\s*\w+\.env\.REDIS_URL`},
	}
	for _, c := range checks {
		if !regexp.MustCompile(c.re).MatchString(ts) {
			t.Errorf(".railway/railway.ts does not name %s (want a match for %s)", c.what, c.re)
		}
	}
	if regexp.MustCompile("SECRET_KEY\\s*:\\s*[\"'`]").MatchString(ts) {
		t.Errorf(".railway/railway.ts sets SECRET_KEY to a literal: a key must never be committed")
	}
}

// instruction is one Dockerfile instruction (continuation lines
// joined).
type instruction struct {
	line    int
	keyword string // upper case
	args    string
}

// parseDockerfile splits a Dockerfile into instructions and its
// comment text.
func parseDockerfile(src string) (ins []instruction, comments string) {
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			comments += trimmed + "\n"
			continue
		}
		if trimmed == "" && cur.Len() == 0 {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		kw, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		ins = append(ins, instruction{line: start, keyword: strings.ToUpper(kw), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return ins, comments
}

// shellWords splits a command line into words, honouring single and
// double quotes (enough for a go build line).
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// buildFlags returns the flags of the first `go build` in cmd, in a
// comparable form: flag names, with -ldflags expanded into its own flags and
// every -X reduced to the variable it sets (values such as the version
// differ between the README and the Dockerfile). -o and its path are left
// out. env reports whether CGO_ENABLED=0 precedes the command.
func buildFlags(cmd string) (flags []string, cgoOff bool, ok bool) {
	words := shellWords(cmd)
	i := slices.Index(words, "build")
	if i < 1 || words[i-1] != "go" {
		return nil, false, false
	}
	for j := i - 2; j >= 0 && strings.Contains(words[j], "="); j-- {
		if words[j] == "CGO_ENABLED=0" {
			cgoOff = true
		}
	}
	for j := i + 1; j < len(words); j++ {
		w := words[j]
		switch {
		case w == "-o":
			j++
		case w == "-ldflags" && j+1 < len(words):
			j++
			ld := ldFields(words[j])
			for k := 0; k < len(ld); k++ {
				if ld[k] == "-X" && k+1 < len(ld) {
					k++
					name, _, _ := strings.Cut(ld[k], "=")
					flags = append(flags, "-ldflags:-X "+name)
					continue
				}
				flags = append(flags, "-ldflags:"+ld[k])
			}
		case strings.HasPrefix(w, "-"):
			flags = append(flags, w)
		case w == "&&" || w == ";" || w == "|":
			j = len(words)
		}
	}
	sort.Strings(flags)
	return flags, cgoOff, true
}

// ldFields splits an -ldflags value on blanks, keeping a shell
// command substitution such as $(git rev-parse --short HEAD) in one field.
func ldFields(s string) []string {
	var fields []string
	var cur strings.Builder
	depth := 0
	for i, r := range s {
		switch {
		case r == '(' && i > 0 && s[i-1] == '$':
			depth++
		case r == ')' && depth > 0:
			depth--
		case (r == ' ' || r == '\t') && depth == 0:
			if cur.Len() > 0 {
				fields = append(fields, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteRune(r)
	}
	if cur.Len() > 0 {
		fields = append(fields, cur.String())
	}
	return fields
}

// TestReadmeRailwayLeadsWithCode (issue 18 row 6): README's "Deploy on
// Railway" names .railway/railway.ts (Infrastructure as Code, which Railway
// reads) before railway.json (which it stopped reading on 2026-12-01), and
// gives `railway config migrate` for services set up with railway.json.
func TestReadmeRailwayLeadsWithCode(t *testing.T) {
	testbin.SkipShort(t) // a file check, but part of the e2e suite -short skips
	readme := readRepoFile(t, "README.md")
	_, section, ok := strings.Cut(readme, "\n## Deploy on Railway\n")
	if !ok {
		t.Fatal(`README.md has no "## Deploy on Railway" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	ts, js := strings.Index(section, ".railway/railway.ts"), strings.Index(section, "railway.json")
	if ts < 0 || js >= 0 && js < ts {
		t.Errorf("the Railway section names railway.json (at %d) before .railway/railway.ts (at %d)", js, ts)
	}
	for _, want := range []string{"railway config migrate", "railway config apply", "2026-12-01"} {
		if !strings.Contains(section, want) {
			t.Errorf("the Railway section does not mention %q", want)
		}
	}
}

// TestDockerfile checks the Dockerfile (no container engine runs in CI, so
// the image itself is not built there).
func TestDockerfile(t *testing.T) {
	testbin.SkipShort(t) // a file check, but part of the e2e suite -short skips
	ins, comments := parseDockerfile(readRepoFile(t, "Dockerfile"))
	if len(ins) == 0 {
		t.Fatal("Dockerfile has no instructions")
	}
	var froms []int
	for i, in := range ins {
		if in.keyword == "FROM" {
			froms = append(froms, i)
		}
		if in.keyword == "VOLUME" {
			t.Errorf("Dockerfile:%d: VOLUME %s: Railway's builder rejects VOLUME; attach a volume at /data instead", in.line, in.args)
		}
	}
	if len(froms) < 2 {
		t.Errorf("Dockerfile has %d FROM lines, want a multi-stage build", len(froms))
	}
	final := ins[froms[len(froms)-1]:]

	// The builder uses the toolchain go.mod names.
	goLine := regexp.MustCompile(`(?m)^go\s+(\d+\.\d+)`).FindStringSubmatch(readRepoFile(t, "go.mod"))
	if goLine == nil {
		t.Fatal("go.mod has no go line")
	}
	fromGo := regexp.MustCompile(`^docker\.io/library/golang:` + regexp.QuoteMeta(goLine[1]) + `(?:[.\-@ ]|$)`)
	if !slices.ContainsFunc(ins, func(in instruction) bool { return in.keyword == "FROM" && fromGo.MatchString(in.args) }) {
		t.Errorf("no build stage FROM docker.io/library/golang:%s (go.mod's go line)", goLine[1])
	}
	if strings.Contains(final[0].args, "/golang:") {
		t.Errorf("the final stage is %s: want a minimal runtime image", final[0].args)
	}
	// Every base image by its full name (registry host, then the path):
	// podman and buildah refuse short names ("did not resolve to an alias").
	stages := map[string]bool{}
	for _, i := range froms {
		f := strings.Fields(ins[i].args)
		image := f[0]
		host, _, found := strings.Cut(image, "/")
		fullName := found && (strings.ContainsAny(host, ".:") || host == "localhost")
		if !fullName && image != "scratch" && !stages[strings.ToLower(image)] {
			t.Errorf("Dockerfile:%d: FROM %s is a short name: name the registry (docker.io/library/..., gcr.io/...) so podman and buildah build it too", ins[i].line, image)
		}
		if len(f) >= 3 && strings.EqualFold(f[1], "AS") {
			stages[strings.ToLower(f[2])] = true
		}
	}

	// Exec-form ENTRYPOINT in the final stage: the binary is PID 1 and gets SIGTERM.
	var entry []string
	var env, expose, health []string
	var user string
	for _, in := range final {
		switch in.keyword {
		case "ENTRYPOINT":
			entry = nil
			if err := json.Unmarshal([]byte(in.args), &entry); err != nil {
				t.Errorf("Dockerfile:%d: ENTRYPOINT %s is not exec form (a JSON array): %v", in.line, in.args, err)
			}
		case "ENV":
			env = append(env, in.args)
		case "EXPOSE":
			expose = append(expose, strings.Fields(in.args)...)
		case "HEALTHCHECK":
			health = append(health, in.args)
		case "USER":
			user = in.args
		}
	}
	if len(entry) == 0 || !strings.HasSuffix(entry[0], "soulbridge") {
		t.Errorf("ENTRYPOINT = %q, want the exec form [\"/soulbridge\", ...]", entry)
	}

	// The build: static, trimmed, and the same flags as README's command.
	var build string
	for _, in := range ins {
		if in.keyword == "RUN" && strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	if build == "" {
		t.Fatal("no RUN ... go build in the Dockerfile")
	}
	dflags, dcgo, _ := buildFlags(build)
	if !dcgo && !slices.ContainsFunc(ins, func(in instruction) bool {
		return in.keyword == "ENV" && strings.Contains(in.args, "CGO_ENABLED=0")
	}) {
		t.Errorf("the Dockerfile's go build is not CGO_ENABLED=0: %s", build)
	}
	if !slices.Contains(dflags, "-trimpath") {
		t.Errorf("the Dockerfile's go build lacks -trimpath: %s", build)
	}
	readmeBuild := regexp.MustCompile("`((?:CGO_ENABLED=0 )?go build [^`]+)`").FindStringSubmatch(readRepoFile(t, "README.md"))
	if readmeBuild == nil {
		t.Fatal("README.md documents no `go build ...` command")
	}
	rflags, rcgo, _ := buildFlags(readmeBuild[1])
	if !rcgo {
		t.Errorf("README's build command %q is not CGO_ENABLED=0", readmeBuild[1])
	}
	if !slices.Equal(rflags, dflags) {
		t.Errorf("build flags differ:\n  README:     %q -> %v\n  Dockerfile: %q -> %v", readmeBuild[1], rflags, build, dflags)
	}

	// Runtime settings.
	dataDir := regexp.MustCompile(`(?:^|\s)DATA_DIR(?:=|\s+)/data(?:\s|$)`)
	if !slices.ContainsFunc(env, dataDir.MatchString) {
		t.Errorf("final stage ENV %q does not set DATA_DIR=/data", env)
	}
	// The image marks itself: a root start in it never serves as root.
	if !slices.ContainsFunc(env, regexp.MustCompile(`(?:^|\s)SOULBRIDGE_IMAGE(?:=|\s+)1(?:\s|$)`).MatchString) {
		t.Errorf("final stage ENV %q does not set SOULBRIDGE_IMAGE=1 (the image's mark, privileges.go)", env)
	}
	if !slices.Contains(expose, "8080") && !slices.Contains(expose, "8080/tcp") {
		t.Errorf("final stage EXPOSE %q, want 8080", expose)
	}
	if len(health) == 0 {
		t.Errorf("no HEALTHCHECK in the final stage")
	} else {
		h := health[len(health)-1]
		_, cmd, ok := strings.Cut(h, "CMD ")
		var argv []string
		if !ok || json.Unmarshal([]byte(strings.TrimSpace(cmd)), &argv) != nil || !slices.Contains(argv, "healthcheck") {
			t.Errorf("HEALTHCHECK %s: want exec-form CMD [\"/soulbridge\", \"healthcheck\"] (the image has no shell)", h)
		}
	}

	// Privileges: a non-root final USER, or the documented drop.
	root := user == "" || slices.Contains([]string{"0", "root", "0:0", "root:root"}, user)
	documented := strings.Contains(comments, strconv.Itoa(testbin.ServiceUID)) &&
		regexp.MustCompile(`(?i)drop`).MatchString(comments) && strings.Contains(comments, "root")
	if root && !documented {
		t.Errorf("the final stage runs as root (USER %q) and no comment documents the privilege drop to %d", user, testbin.ServiceUID)
	}
}
