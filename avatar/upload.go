package avatar

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"runtime"
	"strings"
	"sync"
	"time"

	"soulbridge/kv"
)

// Uploaded images are stored once per content: image:<hash> holds the PNG
// (hash = hex SHA-256 of it), and each upload that pointed a user's record
// at it holds a reference key imageref:<hash>:<username>:<nonce>, the nonce
// fresh for every upload and kept in the record (Choice.ImageRef). An image
// is removed when no reference key is left. The store has no compare-and-set
// and no counter shared by every instance, so removal follows a protocol
// that can never remove an image in use (docs/architecture.md, "Uploaded
// avatars"):
//
//   - an upload writes its reference before the image (which it writes even
//     when it exists), and only then points the record at both;
//   - a reference is dropped only once the record names another one (its
//     nonce makes it unique: no other upload, not even the same user's of
//     the same image, can drop it), or, by the sweep, when it is an hour old
//     and its user's record does not name it (an upload that died half-way);
//   - a collector reads the image, finds no reference, deletes it, then
//     looks again: if a reference appeared meanwhile (or the shared tier
//     went away, so it cannot tell), it writes the image back.
//
// Whatever the interleaving, an uploader's write of the image comes after
// its reference, so it lands after a collector's delete, or the collector's
// second look sees the reference and restores the image.
const (
	imagePrefix = "image:"
	refPrefix   = "imageref:"

	// DefaultUploadInterval is the least time between two stored uploads
	// of one user.
	DefaultUploadInterval = 5 * time.Second
	// collectAfter is the price (Cost.Bytes) from which a decode is
	// followed by a collection.
	collectAfter = 32 << 20
	// refGrace is how old a reference must be before the sweep may drop it
	// for not matching its user's record: far longer than any upload takes
	// between writing the reference and the record.
	refGrace = time.Hour
)

// ErrNoImage is returned by Image for a hash no stored image has.
var ErrNoImage = errors.New("avatar: no such image")

// LimitError is returned by Upload (and UploadWait) while the user's last
// upload was stored less than the upload interval ago.
type LimitError struct{ RetryAfter time.Duration }

func (e *LimitError) Error() string {
	return fmt.Sprintf("avatar: one upload per interval: retry after %v", e.RetryAfter)
}

func imageKey(hash string) string { return imagePrefix + hash }
func refKey(hash, username, nonce string) string {
	return refPrefix + hash + ":" + username + ":" + nonce
}
func refsOf(hash string) kv.Range { return kv.Range{Prefix: refPrefix + hash + ":", Limit: 1} }
func (s *Service) userLock(username string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(username))
	return &s.users[h.Sum32()%uint32(len(s.users))]
}

// validHash reports whether h is a lower-case hex SHA-256.
func validHash(h string) bool {
	if len(h) != 2*sha256.Size {
		return false
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// UploadInterval is the least time between two stored uploads of one user
// (Config.UploadInterval).
func (s *Service) UploadInterval() time.Duration { return s.interval }

// UploadWait returns a *LimitError while username's last stored upload is
// younger than the upload interval, else nil (or a store error).
func (s *Service) UploadWait(ctx context.Context, username string) error {
	c, err := s.Get(ctx, username)
	if err != nil {
		return err
	}
	return s.limit(c)
}

func (s *Service) limit(c Choice) error {
	if c.UploadedAt.IsZero() {
		return nil
	}
	if left := c.UploadedAt.Add(s.interval).Sub(s.now()); left > 0 {
		return &LimitError{RetryAfter: left}
	}
	return nil
}

// Upload makes data, an uploaded file, username's avatar: Process checks and
// re-encodes it (priced from its headers first; then decoded, at most
// MaxDecodes at a time, a caller waiting for a slot until ctx ends), then the image is stored under its content hash and the
// user's record points at it; the image the user had before is released.
// Errors: those of Process, *LimitError when another upload of the user was
// stored within the interval, an error matching kv.ErrUnavailable when the
// store cannot see every instance (an upload needs that, see Config.Shared),
// and store errors.
// still is asked as for Set, and an upload it refuses is undone.
func (s *Service) Upload(ctx context.Context, username string, data []byte, still Still) (Choice, error) {
	if !s.shared() {
		return Choice{}, fmt.Errorf("avatar: upload: %w", kv.ErrUnavailable)
	}
	// Priced before a decode slot is taken: a file refused from its
	// headers never waits for one, nor holds one.
	price, err := Estimate(data)
	if err != nil {
		return Choice{}, err
	}
	if err := s.decodes.acquire(ctx); err != nil {
		return Choice{}, err
	}
	started := time.Now()
	png, err := decodeAndScale(data)
	s.metrics.Decoded(time.Since(started))
	if price.Bytes >= collectAfter {
		// Hand a large decode's garbage (coefficients, pixels, the
		// scaler's buffer) back to the heap before the next decode: left
		// to its pacing, the collector lets the heap grow to twice its
		// last live size, so back-to-back decodes would stack up.
		runtime.GC()
	}
	s.decodes.release()
	if err != nil {
		return Choice{}, err
	}
	sum := sha256.Sum256(png)
	hash := hex.EncodeToString(sum[:])

	return s.replace(ctx, username, still, func(old Choice) (Choice, error) {
		// Checked again under the lock: of concurrent uploads, one is stored.
		if err := s.limit(old); err != nil {
			return Choice{}, err
		}
		now := s.now().UTC()
		var nonce [8]byte
		_, _ = rand.Read(nonce[:])
		ref := hex.EncodeToString(nonce[:])
		// The reference before the image (the protocol at the top of this file).
		if err := s.store.Set(ctx, refKey(hash, username, ref), []byte(now.Format(time.RFC3339Nano)), 0); err != nil {
			return Choice{}, fmt.Errorf("avatar: reference image: %w", err)
		}
		if err := s.store.Set(ctx, imageKey(hash), png, 0); err != nil {
			return Choice{}, fmt.Errorf("avatar: store image: %w", err)
		}
		return Choice{Username: username, Avatar: Custom, Image: hash, ImageRef: ref, UpdatedAt: now, UploadedAt: now}, nil
	})
}

// Image returns the stored PNG named by hash, or ErrNoImage.
func (s *Service) Image(ctx context.Context, hash string) ([]byte, error) {
	if !validHash(hash) {
		return nil, ErrNoImage
	}
	b, err := s.store.Get(ctx, imageKey(hash))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, ErrNoImage
	}
	if err != nil {
		return nil, fmt.Errorf("avatar: image: %w", err)
	}
	return b, nil
}

// release drops the reference old (a user's previous record) held, and
// removes its image if no one uses it any more. Called after the record
// changed. Failures are left to the sweep: the change the caller made stands
// either way.
func (s *Service) release(ctx context.Context, username string, old Choice) {
	if old.Image == "" || old.ImageRef == "" {
		return
	}
	if err := s.store.Delete(ctx, refKey(old.Image, username, old.ImageRef)); err != nil {
		return
	}
	_, _ = s.collect(ctx, old.Image)
}

// collect removes the image hash if no reference to it is left, following
// the protocol at the top of this file; it reports whether it did.
func (s *Service) collect(ctx context.Context, hash string) (bool, error) {
	if !s.shared() {
		return false, nil // the sweep comes back when every instance is in view
	}
	if used, err := s.referenced(ctx, hash); err != nil || used {
		return false, err
	}
	png, err := s.store.Get(ctx, imageKey(hash))
	if errors.Is(err, kv.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := s.store.Delete(ctx, imageKey(hash)); err != nil {
		return false, err
	}
	used, err := s.referenced(ctx, hash)
	if err != nil || used || !s.shared() {
		// Someone took a reference meanwhile (or we cannot tell): put the
		// image back. It is the same bytes an uploader writes.
		if err := s.store.Set(context.WithoutCancel(ctx), imageKey(hash), png, 0); err != nil {
			return false, fmt.Errorf("avatar: restore image %s: %w", hash, err)
		}
		return false, err
	}
	return true, nil
}

func (s *Service) referenced(ctx context.Context, hash string) (bool, error) {
	found := false
	err := s.store.Scan(ctx, refsOf(hash), func(string, []byte) error {
		found = true
		return nil
	})
	return found, err
}

// SweepStats is what one Sweep did.
type SweepStats struct {
	Images, Removed, StaleRefs int
}

// Sweep removes what uploads left behind: references older than an hour
// whose user's record names another image (an upload that failed between
// the two writes, or a user deleted while the store was unreachable), then
// every image no reference names. It does nothing while the store cannot
// see every instance. The server runs it periodically.
func (s *Service) Sweep(ctx context.Context) (SweepStats, error) {
	var st SweepStats
	if !s.shared() {
		return st, nil
	}
	now := s.now()
	var stale []string
	err := s.store.Scan(ctx, kv.Range{Prefix: refPrefix}, func(key string, val []byte) error {
		parts := strings.Split(strings.TrimPrefix(key, refPrefix), ":")
		at, err := time.Parse(time.RFC3339Nano, string(val))
		if len(parts) != 3 || (err == nil && now.Sub(at) < refGrace) {
			return nil
		}
		c, err := s.Get(ctx, parts[1])
		if err != nil {
			return err
		}
		if c.Image != parts[0] || c.ImageRef != parts[2] {
			stale = append(stale, key)
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("avatar: sweep references: %w", err)
	}
	for _, key := range stale {
		if err := s.store.Delete(ctx, key); err != nil {
			return st, fmt.Errorf("avatar: sweep references: %w", err)
		}
		st.StaleRefs++
	}
	// Images are paged a few at a time: each value is up to MaxStoredBytes.
	after := ""
	for {
		var page []string
		err := s.store.Scan(ctx, kv.Range{Prefix: imagePrefix, After: after, Limit: 8}, func(key string, _ []byte) error {
			page = append(page, key)
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("avatar: sweep images: %w", err)
		}
		for _, key := range page {
			st.Images++
			removed, err := s.collect(ctx, strings.TrimPrefix(key, imagePrefix))
			if err != nil {
				return st, fmt.Errorf("avatar: sweep images: %w", err)
			}
			if removed {
				st.Removed++
			}
		}
		if len(page) < 8 {
			return st, nil
		}
		after = page[len(page)-1]
	}
}
