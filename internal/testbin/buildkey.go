package testbin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// buildEnv is the environment of every go command testbin runs: the
// test's own, as go test had it (Binary says why).
func buildEnv() []string { return os.Environ() }

// toolVars are the go env variables that change what go build makes from
// the same source: the toolchain, GOFLAGS, the target and its options.
// Paths that only hold caches (GOCACHE, GOMODCACHE) are left out, so a
// fresh build cache does not make a new key.
var toolVars = []string{"GOVERSION", "GOROOT", "GOFLAGS", "GOOS", "GOARCH", "GOEXPERIMENT",
	"GOWORK", "GOAMD64", "GOARM", "GOARM64", "GO386", "GOPPC64", "GORISCV64", "GOMIPS",
	"GOMIPS64", "GOWASM", "GOFIPS140", "GODEBUG", "CGO_ENABLED", "CC", "CGO_CFLAGS", "CGO_LDFLAGS"}

// sourceKey names a build of the module at root: it hashes the go command's
// settings (toolVars), the build's arguments, go.mod, and the content of
// every file of the main package and of the packages it imports that live
// outside the module cache (this module's, uncommitted changes included,
// and any replaced by a local directory); packages from the module cache
// count by module version, standard ones by GOVERSION and GOROOT. The file
// lists come from go list with the build's tags, so a file a tag leaves out
// does not count.
func sourceKey(root, tags string, args []string) (string, error) {
	h := sha256.New()
	if err := hashToolchain(h, root, args); err != nil {
		return "", err
	}
	if err := hashFile(h, root, "go.mod"); err != nil {
		return "", err
	}
	pkgs, err := listDeps(root, tags)
	if err != nil {
		return "", err
	}
	for _, p := range pkgs {
		if err := hashPackage(h, root, p); err != nil {
			return "", err
		}
	}
	return keyName("main", h), nil
}

// revisionKey names a build of a commit: the commit fixes the source.
func revisionKey(commit string, args []string) (string, error) {
	h := sha256.New()
	if err := hashToolchain(h, "", args); err != nil {
		return "", err
	}
	fmt.Fprintf(h, "commit %s\n", commit)
	return keyName("rev-"+commit[:min(12, len(commit))], h), nil
}

// keyName is a readable kind and the first 128 bits of the hash.
func keyName(kind string, h hash.Hash) string {
	return kind + "-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// hashToolchain hashes the build's arguments and the go command's
// toolVars, asked of the go command in dir (which GOTOOLCHAIN and go.work
// depend on).
func hashToolchain(h io.Writer, dir string, args []string) error {
	cmd := exec.Command("go", append([]string{"env", "-json"}, toolVars...)...)
	cmd.Dir = dir
	cmd.Env = buildEnv()
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go env -json: %v%s", err, stderrOf(err))
	}
	fmt.Fprintf(h, "args %q\nenv %s\n", args, out)
	return nil
}

// listedPackage is what go list -json tells of a package the build needs.
type listedPackage struct {
	ImportPath string
	Dir        string
	Standard   bool
	Module     *struct {
		Path, Version string
		Main          bool
		Replace       *struct{ Path, Version string }
	}
	GoFiles, CgoFiles, SFiles, HFiles, CFiles, SysoFiles, EmbedFiles []string
}

// listDeps lists the main package and every package it imports, with the
// build's tags and environment.
func listDeps(root, tags string) ([]listedPackage, error) {
	args := []string{"list", "-deps", "-json=ImportPath,Dir,Standard,Module,GoFiles,CgoFiles,SFiles,HFiles,CFiles,SysoFiles,EmbedFiles"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = root
	cmd.Env = buildEnv()
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s . in %s: %v%s", strings.Join(args, " "), root, err, stderrOf(err))
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("reading go list's output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// hashPackage hashes one package: its name alone when standard, its
// module version when it comes from the module cache (whose content the
// version and go.sum fix), else every file the build reads from it.
func hashPackage(h io.Writer, root string, p listedPackage) error {
	m := p.Module
	switch {
	case p.Standard:
		fmt.Fprintf(h, "std %s\n", p.ImportPath)
		return nil
	case m != nil && !m.Main && (m.Replace == nil || m.Replace.Version != ""):
		fmt.Fprintf(h, "pkg %s %s@%s", p.ImportPath, m.Path, m.Version)
		if m.Replace != nil {
			fmt.Fprintf(h, " => %s@%s", m.Replace.Path, m.Replace.Version)
		}
		fmt.Fprintln(h)
		return nil
	}
	fmt.Fprintf(h, "local %s\n", p.ImportPath)
	files := slices.Concat(p.GoFiles, p.CgoFiles, p.SFiles, p.HFiles, p.CFiles, p.SysoFiles, p.EmbedFiles)
	slices.Sort(files)
	for _, f := range files {
		if err := hashFile(h, root, filepath.Join(p.Dir, f)); err != nil {
			return err
		}
	}
	return nil
}

// hashFile hashes a file's name (relative to root when inside it, so the
// key does not depend on where the clone is) and content.
func hashFile(h io.Writer, root, name string) error {
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, name)
	}
	if rel, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(rel, "..") {
		name = rel
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	fmt.Fprintf(h, "file %s %x\n", name, sum)
	return nil
}

// stderrOf is ": " and what a failed command printed on stderr, if
// exec.Cmd.Output kept it.
func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return ": " + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}
