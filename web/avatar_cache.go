package web

import (
	"encoding/json"
	"net/http"
	"sync"

	"soulbridge/avatar"
)

// avatarBodies remembers the JSON body of GET /community/avatar per user,
// so the hot path encodes nothing: an entry is used only when the choice
// just read equals the one it was encoded from (the body is a function of
// the choice and the static asset URLs), so a change is answered exactly
// as without it. Bounded: past maxAvatarBodies entries an arbitrary one is
// dropped per insertion.
type avatarBodies struct {
	mu      sync.RWMutex
	entries map[string]avatarBody
}

type avatarBody struct {
	choice avatar.Choice
	body   []byte
}

const maxAvatarBodies = 16_384

func newAvatarBodies() *avatarBodies {
	return &avatarBodies{entries: make(map[string]avatarBody)}
}

// writeAvatar writes c as GET and PUT /community/avatar answer it: what
// writeJSON(w, 200, s.avatarResponse(c)) writes, byte for byte.
func (s *Server) writeAvatar(w http.ResponseWriter, c avatar.Choice) {
	b := s.avatarBodies
	b.mu.RLock()
	e, ok := b.entries[c.Username]
	b.mu.RUnlock()
	if !ok || e.choice != c {
		body, err := json.Marshal(s.avatarResponse(c))
		if err != nil {
			writeJSON(w, http.StatusOK, s.avatarResponse(c))
			return
		}
		e = avatarBody{choice: c, body: append(body, '\n')}
		b.mu.Lock()
		if _, ok := b.entries[c.Username]; !ok && len(b.entries) >= maxAvatarBodies {
			for k := range b.entries {
				delete(b.entries, k)
				break
			}
		}
		b.entries[c.Username] = e
		b.mu.Unlock()
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType
	delete(h, "Content-Length")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(e.body)
}

// Header values shared by every JSON answer (net/http never changes them).
var jsonContentType = []string{"application/json; charset=utf-8"}
