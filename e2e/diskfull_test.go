package e2e

// Full volume: the real binary on a small real filesystem (a tmpfs) that
// another file fills. Badger writes through mmap, so without the guard a
// write on the full filesystem kills the process with SIGBUS; with it,
// writes answer 507, reads, sessions and log-out go on, and writes resume
// once space is back. Both tests mount, so they need root (requireRoot).

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"soulbridge/internal/testbin"
)

// volumeSize is the test volume: room for the store, its memtable log and
// its space reserve, small enough to fill in a moment.
const volumeSize = "64m"

// fullJSON is the body every refused write answers on an API path.
const fullJSON = `{"error":"the site's storage is full; changes cannot be saved right now"}`

// smallVolume mounts a tmpfs of volumeSize under a fresh testbin.Root (so
// the unprivileged service uid can reach it) and returns its path; it is
// unmounted when the test ends, after the processes the test started have
// been stopped (cleanups run last-registered first).
func smallVolume(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	mnt := filepath.Join(testbin.Root(t), "vol")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+volumeSize+",mode=0755", "tmpfs", mnt).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount a tmpfs: %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s; detaching it", mnt, err, out)
			exec.Command("umount", "-l", mnt).Run()
		}
	})
	return mnt
}

// fill writes path until the filesystem has no byte left (ENOSPC), as the
// other program on the volume does, and returns how much it wrote. It takes
// the free space in one fallocate first, so the store's once-a-second
// measure sees the volume either before or after (a program still writing
// when the store releases its reserve would take that too; the test wants
// one that stopped at "no space left"), then writes what is left.
func fill(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if free := int64(freeBytes(t, filepath.Dir(path))); free > 0 {
		if err := syscall.Fallocate(int(f.Fd()), 0, fi.Size(), free); err != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("fallocate %s: %v", path, err)
		}
	}
	if _, err := f.Seek(0, 2); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256<<10)
	n := fi.Size()
	for {
		w, err := f.Write(buf)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			st, _ := f.Stat()
			return st.Size() - fi.Size()
		}
		if err != nil {
			t.Fatalf("fill %s: %v", path, err)
		}
	}
}

func freeBytes(t *testing.T, dir string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Bavail * uint64(st.Bsize)
}

// readyz returns /readyz's status code and body.
func readyz(t *testing.T, c *http.Client, base string) (int, map[string]any) {
	t.Helper()
	r := testbin.Must(t, c, http.MethodGet, base+"/readyz", "", "", nil)
	var body map[string]any
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatalf("/readyz: %v in %q", err, r.Body)
	}
	return r.Status, body
}

// checkReadOnly requires the answers of a store that a full volume made
// read-only: /readyz 200 degraded/read-only with a reason and the free
// bytes, /healthz 200.
func checkReadOnly(t *testing.T, c *http.Client, p *testbin.Proc) {
	t.Helper()
	code, rd := readyz(t, c, p.Base())
	if code != http.StatusOK || rd["status"] != "degraded" || rd["store"] != "read-only" {
		t.Errorf("/readyz on a full volume: %d %v, want 200 degraded read-only", code, rd)
	}
	if reason, _ := rd["reason"].(string); !strings.Contains(reason, "full") {
		t.Errorf("/readyz reason %q, want one that says the volume is full", rd["reason"])
	}
	if _, ok := rd["disk_free_bytes"].(float64); !ok {
		t.Errorf("/readyz has no disk_free_bytes: %v", rd)
	}
	if r := testbin.Must(t, c, http.MethodGet, p.Base()+"/healthz", "", "", nil); r.Status != http.StatusOK {
		t.Errorf("/healthz on a full volume: %d", r.Status)
	}
}

// checkRefused requires a PUT of the avatar and a sign-up to be refused
// with 507: the API in JSON, the form with a page that says the same.
func checkRefused(t *testing.T, c *http.Client, base, cookie string) {
	t.Helper()
	r, err := testbin.PutAvatar(c, base, cookie, "whale")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusInsufficientStorage || strings.TrimSpace(r.Body) != fullJSON {
		t.Errorf("PUT avatar on a full volume: %d %q, want 507 %s", r.Status, r.Body, fullJSON)
	}
	form := url.Values{"username": {"latecomer"}, "password": {"staple battery horse"}}
	r = testbin.Must(t, c, http.MethodPost, base+"/signup", "", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if r.Status != http.StatusInsufficientStorage || !strings.Contains(r.Body, "storage is full") || !strings.Contains(r.Header.Get("Content-Type"), "text/html") {
		t.Errorf("sign-up on a full volume: %d %s %.300q, want a 507 page saying the storage is full", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
}

func alive(t *testing.T, p *testbin.Proc) {
	t.Helper()
	if p.Exited() {
		t.Fatalf("the process died on a full volume:\n%s", p.Output())
	}
}

// TestDiskFullWhileServing: users sign up and change avatars while another
// file fills the volume. The process never dies; writes answer 507 (JSON on
// the API); every avatar acknowledged before is served; sessions and
// log-out keep working; when even the space reserve is taken, log-out is
// refused too but reads go on; once the volume is freed writes work again,
// and every acknowledged write is still there after a restart.
func TestDiskFullWhileServing(t *testing.T) {
	vol := smallVolume(t)
	data := filepath.Join(vol, "data")
	env := keyedEnv(t, data)
	p := testbin.Start(t, "diskfull", env)
	c := testbin.Client(t)

	users := []string{"ada", "bob", "cyd", "dee"}
	cookies := map[string]string{}
	for _, u := range users {
		cookies[u] = testbin.Signup(t, c, p.Base(), u, "staple battery horse")
	}
	ids := testbin.Catalogue(t, c, p.Base())

	// Writers change avatars while the volume fills; each remembers the
	// last avatar acknowledged (200). They stop after the guard refused
	// them a few times.
	var mu sync.Mutex
	acked := map[string]string{}
	refused := map[string]int{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, u := range users[:3] {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := ids[i%len(ids)]
				r, err := testbin.PutAvatar(c, p.Base(), cookies[u], id)
				if err != nil {
					t.Errorf("PUT avatar for %s: %v (process died?)", u, err)
					return
				}
				mu.Lock()
				switch r.Status {
				case http.StatusOK:
					acked[u] = id
				case http.StatusInsufficientStorage:
					refused[u]++
					if strings.TrimSpace(r.Body) != fullJSON {
						t.Errorf("507 body %q, want %s", r.Body, fullJSON)
					}
				default:
					t.Errorf("PUT avatar for %s: %d %s", u, r.Status, r.Body)
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	waitFor(t, 10*time.Second, "a few acknowledged avatar changes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) == 3
	})
	filler := filepath.Join(vol, "other-program.dat")
	wrote := fill(t, filler)
	t.Logf("filled the volume with %d MiB", wrote>>20)
	waitFor(t, 10*time.Second, "writes refused with 507", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return refused["ada"] >= 3 && refused["bob"] >= 3 && refused["cyd"] >= 3
	})
	close(stop)
	wg.Wait()
	alive(t, p)
	if !strings.Contains(p.Output(), "data volume is full") || !strings.Contains(p.Output(), data) {
		t.Errorf("no log line that names the data dir and says the volume is full:\n%s", p.Output())
	}

	// Reads and sessions go on: every acknowledged avatar is served.
	for u, id := range acked {
		if a, _ := testbin.GetAvatar(t, c, p.Base(), cookies[u]); a.Avatar != id {
			t.Errorf("%s's avatar on the full volume = %q, want the last acknowledged %q", u, a.Avatar, id)
		}
	}
	if r := testbin.Must(t, c, http.MethodGet, p.Base()+"/community", cookies["dee"], "", nil); r.Status != http.StatusOK {
		t.Errorf("community page on a full volume: %d", r.Status)
	}
	checkRefused(t, c, p.Base(), cookies["ada"])
	checkReadOnly(t, c, p)

	// Log-out works (its delete needs only the smaller reserve).
	r := testbin.Must(t, c, http.MethodPost, p.Base()+"/logout", cookies["dee"], "", nil)
	if r.Status != http.StatusSeeOther {
		t.Errorf("log-out on a full volume: %d %.300s, want 303", r.Status, r.Body)
	}
	if r := testbin.Must(t, c, http.MethodGet, p.Base()+"/community/avatar", cookies["dee"], "", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("after log-out on a full volume the session still answers %d", r.Status)
	}

	// The other program takes the released reserve as well: now log-out is
	// refused too, but the process still serves reads.
	fill(t, filler)
	time.Sleep(1500 * time.Millisecond) // past one measure of the guard
	if r := testbin.Must(t, c, http.MethodPost, p.Base()+"/logout", cookies["cyd"], "", nil); r.Status != http.StatusInsufficientStorage && r.Status != http.StatusSeeOther {
		t.Errorf("log-out on a volume with no byte free: %d %.300s, want 507 (or 303)", r.Status, r.Body)
	}
	if a, _ := testbin.GetAvatar(t, c, p.Base(), cookies["ada"]); a.Avatar != acked["ada"] {
		t.Errorf("ada's avatar with no byte free = %q, want %q", a.Avatar, acked["ada"])
	}
	checkRefused(t, c, p.Base(), cookies["ada"])
	alive(t, p)

	// Space is back: writes resume without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "writes to resume once space is back", func() bool {
		r, err := testbin.PutAvatar(c, p.Base(), cookies["ada"], "owl")
		return err == nil && r.Status == http.StatusOK
	})
	acked["ada"] = "owl"
	if code, rd := readyz(t, c, p.Base()); code != http.StatusOK || rd["status"] != "ok" || rd["store"] != "ok" {
		t.Errorf("/readyz once space is back: %d %v", code, rd)
	}
	cookies["eve"] = testbin.Signup(t, c, p.Base(), "eve", "staple battery horse")
	if r, err := testbin.PutAvatar(c, p.Base(), cookies["eve"], "fox"); err != nil || r.Status != http.StatusOK {
		t.Fatalf("PUT avatar once space is back: %v %v", r, err)
	}
	acked["eve"] = "fox"

	// Every acknowledged write survives a restart.
	p.Stop()
	p = testbin.Start(t, "diskfull-again", env)
	for u, id := range acked {
		if a, _ := testbin.GetAvatar(t, c, p.Base(), cookies[u]); a.Avatar != id {
			t.Errorf("after the restart %s's avatar = %q, want %q", u, a.Avatar, id)
		}
	}
	if r := testbin.Must(t, c, http.MethodGet, p.Base()+"/community/avatar", cookies["dee"], "", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("the session logged out on the full volume is back after the restart: %d", r.Status)
	}
}

// TestDiskFullAtStart: the process is killed (kill -9: its memtable log is
// left to replay), another file fills the volume, and the process starts
// again: it comes up read-only, serves the existing session and avatar,
// refuses writes with 507, /readyz says degraded/read-only and /healthz 200;
// once space is back, writes resume without a restart.
func TestDiskFullAtStart(t *testing.T) {
	vol, data, env, p, c, cookie := startWithOwl(t, "fullstart")
	p.Kill()

	filler := filepath.Join(vol, "other-program.dat")
	fill(t, filler)
	t.Logf("volume filled: %d bytes free", freeBytes(t, vol))

	p = testbin.Start(t, "fullstart-full", env)
	alive(t, p)
	if a, _ := testbin.GetAvatar(t, c, p.Base(), cookie); a.Avatar != "owl" {
		t.Errorf("avatar after a start on a full volume = %q, want owl", a.Avatar)
	}
	if r := testbin.Must(t, c, http.MethodGet, p.Base()+"/community", cookie, "", nil); r.Status != http.StatusOK {
		t.Errorf("community page after a start on a full volume: %d", r.Status)
	}
	checkRefused(t, c, p.Base(), cookie)
	checkReadOnly(t, c, p)
	for _, want := range []string{"data volume is full", data, "free_bytes", "total_bytes", "grow the volume"} {
		if !strings.Contains(p.Output(), want) {
			t.Errorf("start-up log does not mention %q:\n%s", want, p.Output())
		}
	}

	// Space is back: writes resume without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "writes to resume once space is back", func() bool {
		r, err := testbin.PutAvatar(c, p.Base(), cookie, "fox")
		return err == nil && r.Status == http.StatusOK
	})
	p.Stop()
	p = testbin.Start(t, "fullstart-after", env)
	if a, _ := testbin.GetAvatar(t, c, p.Base(), cookie); a.Avatar != "fox" {
		t.Errorf("after the restart the avatar = %q, want fox", a.Avatar)
	}
}

// TestDiskFullAtStartWithoutReserve: the volume is full and the space
// reserve is gone too (another program took it while the process was
// down), after a clean stop. The store opens read-only: the session and the
// avatar are served, writes answer 507, /readyz says degraded/read-only.
// Once space is back the process exits non-zero so the platform restarts
// it, and the restarted process writes.
func TestDiskFullAtStartWithoutReserve(t *testing.T) {
	vol, data, env, p, c, cookie := startWithOwl(t, "noreserve")
	p.Stop()
	if err := os.Remove(filepath.Join(data, "soulbridge-space.reserve")); err != nil {
		t.Fatalf("the store left no space reserve: %v", err)
	}
	filler := filepath.Join(vol, "other-program.dat")
	fill(t, filler)

	p = testbin.Start(t, "noreserve-full", env)
	if a, _ := testbin.GetAvatar(t, c, p.Base(), cookie); a.Avatar != "owl" {
		t.Errorf("avatar after a read-only start = %q, want owl", a.Avatar)
	}
	checkRefused(t, c, p.Base(), cookie)
	checkReadOnly(t, c, p)
	if r := testbin.Must(t, c, http.MethodPost, p.Base()+"/logout", cookie, "", nil); r.Status != http.StatusInsufficientStorage {
		t.Errorf("log-out on a read-only store: %d, want 507", r.Status)
	}
	alive(t, p)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if code := p.WaitExit(15 * time.Second); code == 0 {
		t.Errorf("exit status 0 once space is back: a restart policy ON_FAILURE would not restart it")
	}
	if !strings.Contains(p.Output(), "restarts the store read-write") {
		t.Errorf("no log line saying why it exits:\n%s", p.Output())
	}
	p = testbin.Start(t, "noreserve-after", env)
	if r, err := testbin.PutAvatar(c, p.Base(), cookie, "fox"); err != nil || r.Status != http.StatusOK {
		t.Fatalf("PUT avatar after the restart: %v %v", r, err)
	}
}

// TestDiskFullStop: SIGTERM while another program holds every byte of the
// volume, the store's released reserve included. Closing Badger would flush
// the memtable through mmap; the process exits 0 instead of crashing, and
// nothing acknowledged is lost (the memtable log is synced).
func TestDiskFullStop(t *testing.T) {
	vol, data, env, p, c, cookie := startWithOwl(t, "fullstop")
	filler := filepath.Join(vol, "other-program.dat")
	fill(t, filler)
	waitFor(t, 5*time.Second, "the space reserve to be released", func() bool {
		_, err := os.Stat(filepath.Join(data, "soulbridge-space.reserve"))
		return errors.Is(err, os.ErrNotExist)
	})
	fill(t, filler)
	t.Logf("volume filled: %d bytes free", freeBytes(t, vol))
	p.Stop()
	closed := "closed Badger"
	if strings.Contains(p.Output(), "without flushing its memtable") {
		closed = "left the memtable log unflushed"
	}
	t.Logf("stop with %d bytes free: %s", freeBytes(t, vol), closed)

	// Still full: the start must not crash either (it serves, or it
	// exits with a message naming the fix).
	p = testbin.Spawn(t, "fullstop-full", env)
	deadline := time.Now().Add(10 * time.Second)
	for !p.Exited() && time.Now().Before(deadline) {
		if r, err := testbin.Do(c, http.MethodGet, p.Base()+"/community/avatar", cookie, "", nil); err == nil && r.Status == http.StatusOK {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p.Exited() {
		code := p.WaitExit(time.Second)
		if code != 1 || !strings.Contains(p.Output(), "grow the volume") {
			t.Errorf("start on a volume with no byte free exited %d without naming the fix:\n%s", code, p.Output())
		}
		t.Logf("start on a volume with no byte free: exited %d, naming the fix", code)
	} else {
		t.Logf("start on a volume with no byte free: serves read-only")
		checkReadOnly(t, c, p)
		p.Stop()
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	p = testbin.Start(t, "fullstop-after", env)
	if a, _ := testbin.GetAvatar(t, c, p.Base(), cookie); a.Avatar != "owl" {
		t.Errorf("avatar after a stop on a full volume = %q, want owl", a.Avatar)
	}
}

// startWithOwl starts the server on a fresh small volume, signs "ada" up
// and sets her avatar to owl: the start of every full-volume scenario.
func startWithOwl(t *testing.T, name string) (vol, data string, env testbin.Env, p *testbin.Proc, c *http.Client, cookie string) {
	t.Helper()
	vol = smallVolume(t)
	data = filepath.Join(vol, "data")
	env = keyedEnv(t, data)
	p = testbin.Start(t, name, env)
	c = testbin.Client(t)
	cookie = testbin.Signup(t, c, p.Base(), "ada", "staple battery horse")
	if r, err := testbin.PutAvatar(c, p.Base(), cookie, "owl"); err != nil || r.Status != http.StatusOK {
		t.Fatalf("PUT avatar: %v %v", r, err)
	}
	return vol, data, env, p, c, cookie
}
