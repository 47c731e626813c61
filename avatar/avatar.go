// Package avatar owns the preset catalogue and each user's avatar choice.
// It knows nothing about HTTP; the images themselves live in assets/.
package avatar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"soulbridge/kv"
)

// Default is the avatar id shown before a user picks one.
const Default = "default"

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

// Choice is a user's avatar. UpdatedAt is zero while the user has not chosen.
type Choice struct {
	Username  string    `json:"username"`
	Avatar    string    `json:"avatar"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Store is what avatars need from the key-value store (kv.Store keeps it).
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	GetMany(ctx context.Context, keys []string) ([][]byte, error)
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
}

const keyPrefix = "avatar:"

// Config configures a Service.
type Config struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Service reads and writes avatar choices.
type Service struct {
	store   Store
	now     func() time.Time
	decoded *decodedCache // cache.go
}

// New returns a Service over store.
func New(store Store, cfg Config) (*Service, error) {
	if store == nil {
		return nil, errors.New("avatar: a store is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{store: store, now: cfg.Now, decoded: newDecodedCache()}, nil
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
		return Choice{}, fmt.Errorf("avatar: decode %s: %w", username, err)
	}
	if _, ok := Lookup(c.Avatar); !ok {
		// A preset removed from the catalogue reads as "never chosen".
		c.Avatar, c.UpdatedAt = Default, time.Time{}
	}
	return c, nil
}

// Set stores username's choice of a catalogue preset (not Default); it is on
// disk when Set returns. An id outside the catalogue returns ErrUnknown.
func (s *Service) Set(ctx context.Context, username, id string) (Choice, error) {
	if _, ok := Lookup(id); !ok || id == Default {
		return Choice{}, ErrUnknown
	}
	c := Choice{Username: username, Avatar: id, UpdatedAt: s.now().UTC()}
	b, err := json.Marshal(c)
	if err != nil {
		return Choice{}, fmt.Errorf("avatar: encode: %w", err)
	}
	if err := s.store.Set(ctx, keyPrefix+username, b, 0); err != nil {
		return Choice{}, fmt.Errorf("avatar: set: %w", err)
	}
	return c, nil
}

// Delete forgets username's avatar (an account being deleted): afterwards
// Get answers Default. Deleting a user who never chose is not an error; the
// delete is on disk when Delete returns.
func (s *Service) Delete(ctx context.Context, username string) error {
	if err := s.store.Delete(ctx, keyPrefix+username); err != nil {
		return fmt.Errorf("avatar: delete: %w", err)
	}
	return nil
}
