package avatar_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"soulbridge/avatar"
	"soulbridge/internal/testimage"
	"soulbridge/kv"
	"soulbridge/kv/kvtest"
)

// clock is a settable clock for the upload interval.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func uploadService(t *testing.T, store avatar.Store, clk *clock) *avatar.Service {
	t.Helper()
	s, err := avatar.New(store, avatar.Config{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// keys lists the store's keys under prefix.
func keys(t *testing.T, store kv.Store, prefix string) []string {
	t.Helper()
	var out []string
	if err := store.Scan(context.Background(), kv.Range{Prefix: prefix}, func(k string, _ []byte) error {
		out = append(out, k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOldRecordStillDecodes: a record as every release before uploads wrote
// it ({"username","avatar","updated_at"}) reads as it did.
func TestOldRecordStillDecodes(t *testing.T) {
	store := kvtest.Memory(t)
	s := uploadService(t, store, &clock{t: fixedNow})
	ctx := context.Background()
	old := `{"username":"alice","avatar":"owl","updated_at":"2026-02-03T04:05:06Z"}`
	if err := store.Set(ctx, "avatar:alice", []byte(old), 0); err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	c, err := s.Get(ctx, "alice")
	if err != nil || c.Avatar != "owl" || !c.UpdatedAt.Equal(want) || c.Image != "" || !c.UploadedAt.IsZero() {
		t.Fatalf("old record reads as %+v, %v", c, err)
	}
	many, err := s.GetMany(ctx, []string{"alice"})
	if err != nil || many[0].Avatar != "owl" {
		t.Fatalf("GetMany of an old record: %+v, %v", many, err)
	}
	if err := s.UploadWait(ctx, "alice"); err != nil {
		t.Fatalf("an old record limits uploads: %v", err)
	}
	// And the new fields are additions: an old reader's three fields are
	// still there, with the same names.
	if _, err := s.Set(ctx, "alice", "fox", nil); err != nil {
		t.Fatal(err)
	}
	raw, _ := store.Get(ctx, "avatar:alice")
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil || rec["username"] != "alice" || rec["avatar"] != "fox" || rec["updated_at"] == nil {
		t.Fatalf("new record %s lacks the old fields", raw)
	}
}

// TestCustomRecordWithoutImageReadsAsDefault: "custom" without a valid
// hash is not trusted (the hash becomes a URL).
func TestCustomRecordWithoutImageReadsAsDefault(t *testing.T) {
	store := kvtest.Memory(t)
	s := uploadService(t, store, &clock{t: fixedNow})
	ctx := context.Background()
	for _, rec := range []string{
		`{"username":"alice","avatar":"custom","updated_at":"2026-02-03T04:05:06Z"}`,
		`{"username":"alice","avatar":"custom","image":"../../etc/passwd","updated_at":"2026-02-03T04:05:06Z"}`,
		`{"username":"alice","avatar":"custom","image":"ABCDEF","updated_at":"2026-02-03T04:05:06Z"}`,
	} {
		if err := store.Set(ctx, "avatar:alice", []byte(rec), 0); err != nil {
			t.Fatal(err)
		}
		c, err := s.Get(ctx, "alice")
		if err != nil || c.Avatar != avatar.Default || c.Image != "" || c.ImageFile() != "" {
			t.Errorf("%s reads as %+v, %v; want the default", rec, c, err)
		}
	}
}

func TestUploadStoresUnderContentHash(t *testing.T) {
	store := kvtest.Memory(t)
	clk := &clock{t: fixedNow}
	s := uploadService(t, store, clk)
	ctx := context.Background()
	c, err := s.Upload(ctx, "alice", testimage.JPEGWithGPS(640, 480), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Avatar != avatar.Custom || c.Username != "alice" || !c.UpdatedAt.Equal(fixedNow) || !c.UploadedAt.Equal(fixedNow) {
		t.Fatalf("Upload = %+v", c)
	}
	png, err := s.Image(ctx, c.Image)
	if err != nil {
		t.Fatal(err)
	}
	if err := testimage.Check(png, avatar.Size); err != nil {
		t.Fatalf("stored image %v", err)
	}
	sum := sha256.Sum256(png)
	if c.Image != hex.EncodeToString(sum[:]) || c.ImageFile() != c.Image+".png" {
		t.Fatalf("image %q is not the SHA-256 of the stored PNG", c.Image)
	}
	got, err := s.Get(ctx, "alice")
	if err != nil || got.Avatar != avatar.Custom || got.Image != c.Image {
		t.Fatalf("Get after Upload = %+v, %v", got, err)
	}
	if refs := keys(t, store, "imageref:"); len(refs) != 1 || !strings.HasPrefix(refs[0], "imageref:"+c.Image+":alice:") {
		t.Fatalf("references %q, want one of alice's", refs)
	}
	for _, h := range []string{"", "x", strings.Repeat("0", 64), "../avatar:alice", strings.ToUpper(c.Image)} {
		if _, err := s.Image(ctx, h); !errors.Is(err, avatar.ErrNoImage) {
			t.Errorf("Image(%q) = %v, want ErrNoImage", h, err)
		}
	}
}

// TestImagesAreSharedAndRemovedWhenUnused: identical uploads share one
// image; it stays while anyone uses it and goes with its last user, be it
// by a new upload, a preset or account deletion.
func TestImagesAreSharedAndRemovedWhenUnused(t *testing.T) {
	store := kvtest.Memory(t)
	clk := &clock{t: fixedNow}
	s := uploadService(t, store, clk)
	ctx := context.Background()
	same := testimage.PNG(300, 200)
	a, err := s.Upload(ctx, "alice", same, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Upload(ctx, "bob", same, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Image != b.Image {
		t.Fatalf("identical uploads got hashes %s and %s", a.Image, b.Image)
	}
	if imgs := keys(t, store, "image:"); len(imgs) != 1 {
		t.Fatalf("images %q, want one", imgs)
	}
	wantImage := func(hash string, want bool) {
		t.Helper()
		_, err := s.Image(ctx, hash)
		if want && err != nil {
			t.Fatalf("image %s gone while in use: %v", hash[:8], err)
		}
		if !want && !errors.Is(err, avatar.ErrNoImage) {
			t.Fatalf("image %s still stored after its last user left: %v", hash[:8], err)
		}
	}

	// Alice replaces it: bob still uses it.
	clk.add(time.Minute)
	a2, err := s.Upload(ctx, "alice", testimage.GIF(100, 100), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantImage(a.Image, true)
	wantImage(a2.Image, true)
	// Bob goes back to a preset: the shared image has no user left.
	if _, err := s.Set(ctx, "bob", "owl", nil); err != nil {
		t.Fatal(err)
	}
	wantImage(a.Image, false)
	// Bob uploads again, then uploads the same image once more (a new
	// reference each time; the old one released): it stays.
	clk.add(time.Minute)
	b2, err := s.Upload(ctx, "bob", same, nil)
	if err != nil {
		t.Fatal(err)
	}
	clk.add(time.Minute)
	if b3, err := s.Upload(ctx, "bob", same, nil); err != nil || b3.Image != b2.Image {
		t.Fatalf("second identical upload: %+v, %v", b3, err)
	}
	wantImage(b2.Image, true)
	if refs := keys(t, store, "imageref:"+b2.Image); len(refs) != 1 {
		t.Fatalf("bob's references %q, want one", refs)
	}
	// Account deletion releases the image.
	if err := s.Delete(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	wantImage(a2.Image, false)
	if err := s.Delete(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	wantImage(b2.Image, false)
	if left := append(keys(t, store, "image"), keys(t, store, "avatar:")...); len(left) != 0 {
		t.Fatalf("left behind: %q", left)
	}
}

func TestUploadInterval(t *testing.T) {
	store := kvtest.Memory(t)
	clk := &clock{t: fixedNow}
	s := uploadService(t, store, clk)
	ctx := context.Background()
	// Refused uploads do not count.
	for i := 0; i < 3; i++ {
		if _, err := s.Upload(ctx, "alice", []byte(testimage.SVG), nil); !errors.Is(err, avatar.ErrUnsupportedType) {
			t.Fatalf("svg: %v", err)
		}
	}
	if err := s.UploadWait(ctx, "alice"); err != nil {
		t.Fatalf("refused uploads counted: %v", err)
	}
	if _, err := s.Upload(ctx, "alice", testimage.PNG(64, 64), nil); err != nil {
		t.Fatal(err)
	}
	clk.add(avatar.DefaultUploadInterval - time.Second)
	var le *avatar.LimitError
	if _, err := s.Upload(ctx, "alice", testimage.PNG(65, 64), nil); !errors.As(err, &le) || le.RetryAfter != time.Second {
		t.Fatalf("second upload within the interval: %v, want a LimitError with 1s to wait", err)
	}
	if err := s.UploadWait(ctx, "alice"); !errors.As(err, &le) {
		t.Fatalf("UploadWait within the interval: %v", err)
	}
	// Other users are not limited, and a preset change is not an upload.
	if _, err := s.Upload(ctx, "bob", testimage.PNG(65, 64), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set(ctx, "alice", "owl", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.UploadWait(ctx, "alice"); !errors.As(err, &le) {
		t.Fatalf("choosing a preset reset the upload interval: %v", err)
	}
	clk.add(time.Second)
	if err := s.UploadWait(ctx, "alice"); err != nil {
		t.Fatalf("after the interval: %v", err)
	}
	if _, err := s.Upload(ctx, "alice", testimage.PNG(65, 64), nil); err != nil {
		t.Fatalf("after the interval: %v", err)
	}
}

// TestConcurrentUploadsOfOneUserStoreOne: a burst of one user's uploads
// passes the first check together; only one is stored.
func TestConcurrentUploadsOfOneUserStoreOne(t *testing.T) {
	store := kvtest.Memory(t)
	s := uploadService(t, store, &clock{t: fixedNow})
	var stored, limited atomic.Int32
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			_, err := s.Upload(context.Background(), "alice", testimage.PNG(40+i, 40), nil)
			var le *avatar.LimitError
			switch {
			case err == nil:
				stored.Add(1)
			case errors.As(err, &le):
				limited.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if stored.Load() != 1 || limited.Load() != 5 {
		t.Fatalf("stored %d, limited %d; want 1 and 5", stored.Load(), limited.Load())
	}
	if imgs := keys(t, store, "image:"); len(imgs) != 1 {
		t.Fatalf("images %q, want one", imgs)
	}
}

func TestUploadNeedsTheSharedTier(t *testing.T) {
	store := kvtest.Memory(t)
	var shared atomic.Bool
	s, err := avatar.New(store, avatar.Config{Now: func() time.Time { return fixedNow }, Shared: shared.Load})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Upload(ctx, "alice", testimage.PNG(50, 50), nil); !errors.Is(err, kv.ErrUnavailable) {
		t.Fatalf("upload with the shared tier down: %v, want ErrUnavailable", err)
	}
	shared.Store(true)
	c, err := s.Upload(ctx, "alice", testimage.PNG(50, 50), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Released while the shared tier is down: the reference goes, the
	// image stays until a sweep can see every instance.
	shared.Store(false)
	if _, err := s.Set(ctx, "alice", "fox", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Image(ctx, c.Image); err != nil {
		t.Fatalf("image removed while the shared tier was down: %v", err)
	}
	if st, err := s.Sweep(ctx); err != nil || st.Removed != 0 {
		t.Fatalf("sweep while down: %+v, %v", st, err)
	}
	shared.Store(true)
	if st, err := s.Sweep(ctx); err != nil || st.Removed != 1 {
		t.Fatalf("sweep: %+v, %v; want one image removed", st, err)
	}
	if _, err := s.Image(ctx, c.Image); !errors.Is(err, avatar.ErrNoImage) {
		t.Fatalf("after the sweep: %v", err)
	}
}

// TestSweepDropsStaleReferences: a reference an upload left without
// pointing the record at it (it died between the two writes) is dropped an
// hour later, and then its image; a fresh one is left alone, and so is
// every image in use.
func TestSweepDropsStaleReferences(t *testing.T) {
	store := kvtest.Memory(t)
	clk := &clock{t: fixedNow}
	s := uploadService(t, store, clk)
	ctx := context.Background()
	inUse, err := s.Upload(ctx, "alice", testimage.PNG(80, 80), nil)
	if err != nil {
		t.Fatal(err)
	}
	png, err := avatar.Process(testimage.PNG(90, 90))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(png)
	leaked := hex.EncodeToString(sum[:])
	if err := store.Set(ctx, "imageref:"+leaked+":bob:0011223344556677", []byte(clk.now().Format(time.RFC3339Nano)), 0); err != nil {
		t.Fatal(err)
	}
	if err := store.Set(ctx, "image:"+leaked, png, 0); err != nil {
		t.Fatal(err)
	}
	clk.add(30 * time.Minute)
	if st, err := s.Sweep(ctx); err != nil || st.StaleRefs != 0 || st.Removed != 0 || st.Images != 2 {
		t.Fatalf("sweep of a fresh reference: %+v, %v", st, err)
	}
	clk.add(31 * time.Minute)
	if st, err := s.Sweep(ctx); err != nil || st.StaleRefs != 1 || st.Removed != 1 {
		t.Fatalf("sweep: %+v, %v; want the stale reference and its image removed", st, err)
	}
	if _, err := s.Image(ctx, inUse.Image); err != nil {
		t.Fatalf("the image in use was removed: %v", err)
	}
	if _, err := s.Image(ctx, leaked); !errors.Is(err, avatar.ErrNoImage) {
		t.Fatalf("the leaked image stayed: %v", err)
	}
}

// raceStore runs hook (once) just before it deletes an image: another
// instance's upload landing in the collector's window.
type raceStore struct {
	avatar.Store
	once sync.Once
	hook func()
}

func (r *raceStore) Delete(ctx context.Context, key string) error {
	if strings.HasPrefix(key, "image:") {
		r.once.Do(r.hook)
	}
	return r.Store.Delete(ctx, key)
}

// TestCollectorRestoresAnImageTakenMeanwhile: alice releases an image at
// the moment bob, on another instance, uploads the same picture: bob's
// reference and image writes land between the collector's look and its
// delete. The image must survive; without the collector's second look it
// is gone while bob's record names it.
func TestCollectorRestoresAnImageTakenMeanwhile(t *testing.T) {
	store := kvtest.Memory(t)
	clk := &clock{t: fixedNow}
	pic := testimage.PNG(120, 120)
	other := uploadService(t, store, clk) // bob's instance
	rs := &raceStore{Store: store}
	s := uploadService(t, rs, clk) // alice's instance
	ctx := context.Background()
	a, err := s.Upload(ctx, "alice", pic, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b avatar.Choice
	rs.hook = func() {
		if b, err = other.Upload(ctx, "bob", pic, nil); err != nil {
			t.Error(err)
		}
	}
	if _, err := s.Set(ctx, "alice", "owl", nil); err != nil {
		t.Fatal(err)
	}
	if b.Image != a.Image {
		t.Fatalf("the hook did not run: bob %+v", b)
	}
	if _, err := other.Image(ctx, b.Image); err != nil {
		t.Fatalf("bob's image was removed while his record names it: %v", err)
	}
}

// TestRacingUploadsNeverLoseAnImageInUse: several instances (services over
// one store, each with its own locks) and users upload two pictures and
// presets in turn; whenever the dust settles, every custom record's image
// is there, and at the end no image is left that no one uses.
func TestRacingUploadsNeverLoseAnImageInUse(t *testing.T) {
	store := kvtest.Memory(t)
	var tick atomic.Int64
	now := func() time.Time { return fixedNow.Add(time.Duration(tick.Add(1)) * time.Hour) }
	var instances []*avatar.Service
	for range 3 {
		s, err := avatar.New(store, avatar.Config{Now: now, MaxDecodes: 2})
		if err != nil {
			t.Fatal(err)
		}
		instances = append(instances, s)
	}
	pics := [][]byte{testimage.PNG(64, 64), testimage.PNG(64, 65)}
	users := []string{"alice", "bob", "carol", "dave"}
	ctx := context.Background()
	for round := range 8 {
		var wg sync.WaitGroup
		for i, u := range users {
			wg.Go(func() {
				s := instances[(i+round)%len(instances)]
				for step := range 6 {
					var err error
					if (step+i)%3 == 2 {
						_, err = s.Set(ctx, u, "owl", nil)
					} else {
						_, err = s.Upload(ctx, u, pics[(step+i+round)%2], nil)
					}
					if err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		for _, u := range users {
			c, err := instances[0].Get(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			if c.Avatar == avatar.Custom {
				if _, err := instances[0].Image(ctx, c.Image); err != nil {
					t.Fatalf("round %d: %s's image %s is gone: %v", round, u, c.Image[:8], err)
				}
			}
		}
	}
	for _, u := range users {
		if err := instances[1].Delete(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if left := keys(t, store, "image"); len(left) != 0 {
		t.Fatalf("after every user left: %q", left)
	}
}

func ExampleChoice_ImageFile() {
	c := avatar.Choice{Avatar: avatar.Custom, Image: strings.Repeat("ab", 32)}
	fmt.Println(c.ImageFile())
	// Output: abababababababababababababababababababababababababababababababab.png
}
