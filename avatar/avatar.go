// Package avatar owns the preset catalogue, each user's avatar choice and
// the images users upload (image.go: checking and re-encoding them;
// upload.go: storing them under their content hash and removing those no
// one uses). It knows nothing about HTTP; the preset images live in assets/.
package avatar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"soulbridge/kv"
	"soulbridge/metrics"
)

// Default is the avatar id shown before a user picks one.
const Default = "default"

// Custom is the avatar id of a user's uploaded image (Choice.Image names
// it); it is not in the catalogue and cannot be chosen through Set.
const Custom = "custom"

// errDecode marks a stored record that is not the JSON this package writes.
var errDecode = errors.New("avatar: decode")

// ErrUnknown is returned by Set for an id that is not in the catalogue.
var ErrUnknown = errors.New("avatar: unknown avatar")

// Preset is one avatar of the catalogue. Its image is assets file
// "avatars/<ID>.svg".
type Preset struct {
	ID   string
	Name string
}

// File is the preset's image, relative to the assets root.
func (p Preset) File() string { return "avatars/" + p.ID + ".svg" }

// presets is the fixed catalogue, in display order.
var presets = []Preset{
	{"owl", "Owl"},
	{"fox", "Fox"},
	{"cat", "Cat"},
	{"bear", "Bear"},
	{"panda", "Panda"},
	{"frog", "Frog"},
	{"rabbit", "Rabbit"},
	{"penguin", "Penguin"},
	{"koala", "Koala"},
	{"tiger", "Tiger"},
	{"whale", "Whale"},
	{"robot", "Robot"},
	{"octopus", "Octopus"},
	{"hedgehog", "Hedgehog"},
}

// Catalogue returns the presets in display order (a fresh copy).
func Catalogue() []Preset { return append([]Preset(nil), presets...) }

// Lookup returns the preset with id; "default" is found too (it is shown
// before a choice but cannot be chosen through Set).
func Lookup(id string) (Preset, bool) {
	if id == Default {
		return Preset{Default, "Default"}, true
	}
	for _, p := range presets {
		if p.ID == id {
			return p, true
		}
	}
	return Preset{}, false
}

// Choice is a user's avatar, and the stored record under avatar:<username>.
// UpdatedAt is zero while the user has not chosen. Image and UploadedAt
// were added with uploads; records written before (username, avatar,
// updated_at) read as they always did.
type Choice struct {
	Username string `json:"username"`
	Avatar   string `json:"avatar"`
	// Image is the content hash of the uploaded image (hex SHA-256 of the
	// stored PNG) while Avatar is Custom, else "".
	Image string `json:"image,omitempty"`
	// ImageRef names the reference key this record holds on Image (see
	// upload.go).
	ImageRef  string    `json:"image_ref,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	// UploadedAt is when the user's last upload was stored; it is kept when
	// they go back to a preset, since the upload limit reads it.
	UploadedAt time.Time `json:"uploaded_at,omitzero"`
}

// ImageFile is the file name the uploaded image is served under
// ("<hash>.png"), or "" for a preset.
func (c Choice) ImageFile() string {
	if c.Avatar != Custom || c.Image == "" {
		return ""
	}
	return c.Image + ".png"
}

// Store is what avatars need from the key-value store (kv.Store keeps it).
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	GetMany(ctx context.Context, keys []string) ([][]byte, error)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
	Scan(ctx context.Context, r kv.Range, fn func(key string, val []byte) error) error
}

const keyPrefix = "avatar:"

// KeyPrefix starts every avatar choice's store key (read on every
// authenticated request: serve.go lets the Redis mirror cache it).
const KeyPrefix = keyPrefix

// Config configures a Service.
type Config struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// UploadInterval is the least time between two stored uploads of one
	// user; 0 means DefaultUploadInterval.
	UploadInterval time.Duration
	// MaxDecodes bounds the uploads decoded at once; 0 means 1.
	MaxDecodes int
	// Shared reports whether the store's reads see every instance's writes
	// (no Redis mirror, or the mirror up). Uploads need it, and images are
	// only removed while it holds; nil means always.
	Shared func() bool
	// Metrics, if set, times the decodes of uploaded images.
	Metrics *metrics.Metrics
}

// Service reads and writes avatar choices and uploaded images.
type Service struct {
	store    Store
	now      func() time.Time
	interval time.Duration
	shared   func() bool
	decodes  decodeSlots
	users    [64]sync.Mutex // striped by username: one user's changes, in order
	decoded  *decodedCache  // cache.go
	metrics  *metrics.Metrics
}

// New returns a Service over store.
func New(store Store, cfg Config) (*Service, error) {
	if store == nil {
		return nil, errors.New("avatar: a store is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.UploadInterval <= 0 {
		cfg.UploadInterval = DefaultUploadInterval
	}
	if cfg.MaxDecodes <= 0 {
		cfg.MaxDecodes = 1
	}
	if cfg.Shared == nil {
		cfg.Shared = func() bool { return true }
	}
	return &Service{store: store, now: cfg.Now, interval: cfg.UploadInterval, shared: cfg.Shared,
		decodes: make(decodeSlots, cfg.MaxDecodes), decoded: newDecodedCache(), metrics: cfg.Metrics}, nil
}

// Get returns username's choice; a user who never chose gets Default with a
// zero UpdatedAt.
func (s *Service) Get(ctx context.Context, username string) (Choice, error) {
	b, err := s.store.Get(ctx, keyPrefix+username)
	if errors.Is(err, kv.ErrNotFound) {
		return Choice{Username: username, Avatar: Default}, nil
	}
	if err != nil {
		return Choice{}, fmt.Errorf("avatar: get: %w", err)
	}
	return s.decoded.choice(username, b)
}

// GetMany returns the choices of usernames, in their order, from one store
// round trip; users who never chose get Default.
func (s *Service) GetMany(ctx context.Context, usernames []string) ([]Choice, error) {
	keys := make([]string, len(usernames))
	for i, u := range usernames {
		keys[i] = keyPrefix + u
	}
	vals, err := s.store.GetMany(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("avatar: get many: %w", err)
	}
	out := make([]Choice, len(usernames))
	for i, u := range usernames {
		if vals[i] == nil {
			out[i] = Choice{Username: u, Avatar: Default}
			continue
		}
		if out[i], err = decode(u, vals[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func decode(username string, b []byte) (Choice, error) {
	var c Choice
	if err := json.Unmarshal(b, &c); err != nil {
		return Choice{}, fmt.Errorf("%w %s: %w", errDecode, username, err)
	}
	if c.Avatar == Custom && validHash(c.Image) {
		return c, nil
	}
	c.Image, c.ImageRef = "", ""
	if _, ok := Lookup(c.Avatar); !ok {
		// A preset removed from the catalogue reads as "never chosen".
		c.Avatar, c.UpdatedAt = Default, time.Time{}
	}
	return c, nil
}

// Set stores username's choice of a catalogue preset (not Default); it is on
// disk when Set returns. An id outside the catalogue returns ErrUnknown. An
// uploaded image the user had is released (and removed if no one else uses
// it).
//
// still, if not nil, is asked once the choice is stored whether the writer
// still acts for username (its session's account was not deleted or
// changed meanwhile); if it errs, the choice is undone and its error
// returned (see replace).
func (s *Service) Set(ctx context.Context, username, id string, still Still) (Choice, error) {
	if _, ok := Lookup(id); !ok || id == Default {
		return Choice{}, ErrUnknown
	}
	return s.replace(ctx, username, still, func(old Choice) (Choice, error) {
		return Choice{Username: username, Avatar: id, UpdatedAt: s.now().UTC(), UploadedAt: old.UploadedAt}, nil
	})
}

// Still reports whether the writer of a change still acts for the user it
// was made for: nil if so, else the error to answer with.
type Still func(ctx context.Context) error

// replace changes username's choice under the user's lock: next gets the
// current choice and returns the new one, which is stored; then the image
// the old choice held, if any, is released. One user's changes so happen in
// order, and every change releases what it replaced.
//
// The store has no compare-and-set, so a write made in a user's name that
// may race the end of the writer's right to make it (an account deleted, or
// its password changed, while the request ran) is written, re-checked with
// still, and undone if the check fails: the old choice is put back (or the
// record removed, if there was none) and the new one's image released. So
// an upload that finishes after its account was deleted leaves nothing for
// the next owner of the name.
func (s *Service) replace(ctx context.Context, username string, still Still, next func(old Choice) (Choice, error)) (Choice, error) {
	mu := s.userLock(username)
	mu.Lock()
	defer mu.Unlock()
	old, err := s.Get(ctx, username)
	if err != nil {
		return Choice{}, err
	}
	c, err := next(old)
	if err != nil {
		return Choice{}, err
	}
	if err := s.put(ctx, c); err != nil {
		return Choice{}, err
	}
	if still != nil {
		if err := still(ctx); err != nil {
			if uerr := s.undo(ctx, username, old, c); uerr != nil {
				return Choice{}, uerr
			}
			return Choice{}, err
		}
	}
	s.release(ctx, username, old)
	return c, nil
}

// undo puts old back in place of c, a change just stored (replace), and
// releases c's image.
func (s *Service) undo(ctx context.Context, username string, old, c Choice) error {
	var err error
	if old.UpdatedAt.IsZero() && old.Image == "" { // there was no choice
		err = s.store.Delete(ctx, keyPrefix+username)
	} else {
		old.Username = username
		err = s.put(ctx, old)
	}
	if err != nil {
		return fmt.Errorf("avatar: undo: %w", err)
	}
	s.release(ctx, username, c)
	return nil
}

func (s *Service) put(ctx context.Context, c Choice) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("avatar: encode: %w", err)
	}
	if err := s.store.Set(ctx, keyPrefix+c.Username, b, 0); err != nil {
		return fmt.Errorf("avatar: set: %w", err)
	}
	return nil
}

// Delete forgets username's avatar (an account being deleted): afterwards
// Get answers Default, and the user's uploaded image, if any, is released
// (removed when no one else uses it). Deleting a user who never chose is not
// an error; the delete is on disk when Delete returns.
func (s *Service) Delete(ctx context.Context, username string) error {
	mu := s.userLock(username)
	mu.Lock()
	defer mu.Unlock()
	// A record that does not decode holds no image worth releasing; it is
	// deleted all the same.
	old, err := s.Get(ctx, username)
	if err != nil && !errors.Is(err, errDecode) {
		return err
	}
	if err := s.store.Delete(ctx, keyPrefix+username); err != nil {
		return fmt.Errorf("avatar: delete: %w", err)
	}
	s.release(ctx, username, old)
	return nil
}
