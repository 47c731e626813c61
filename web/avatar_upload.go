package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"soulbridge/auth"
	"soulbridge/avatar"
	"soulbridge/session"
)

// Uploaded avatars: POST /community/avatar/upload takes the file, GET
// /avatars/{file} serves the stored images (docs/architecture.md,
// "Uploaded avatars").

const (
	uploadPath = "/community/avatar/upload"
	// maxUploadBody bounds an upload's whole body: the file and the
	// multipart framing around it (limitBody applies it to uploadPath
	// instead of maxBody).
	maxUploadBody = avatar.MaxUploadBytes + 64<<10
)

var errUploadTooLarge = errorf(http.StatusRequestEntityTooLarge, "the image is too large (limit 5 MiB)")

// uploadAvatar makes an uploaded image your avatar: multipart field "file".
// Checks, in this order: no session 401; your uploads turned off by an
// operator (`soulbridge avatars remove`) 403; an upload of yours stored within
// the last few seconds 429; body over 5 MiB 413; an upload of your account
// or your address already in flight, or one refused as an image a few
// seconds ago, 429 (upload_gate.go); too many uploads in flight 503; the
// body, read under a minimum rate (408 below it) into memory from the
// site's budget (503 when spent): no "file" field 400, over 5 MiB 413; not
// PNG, JPEG, GIF or WebP (by content) 415; dimensions over 4096, an image
// whose decode would cost more than an upload may (from its headers), or
// one that does not decode 422. Only then is a decode slot waited for.
// Success: 200 with the avatar document for Accept: application/json, else
// 303 to /community. Errors follow Accept too (a form post gets the HTML
// error page).
func (s *Server) uploadAvatar(w http.ResponseWriter, r *http.Request) error {
	sess, err := requireSession(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := s.uploadsAllowed(ctx, sess.Username); err != nil {
		return err
	}
	if err := s.avatars.UploadWait(ctx, sess.Username); err != nil {
		return uploadError(err)
	}
	if r.ContentLength > maxUploadBody {
		return errUploadTooLarge
	}
	addr := auth.AddrKey(s.clientIP(r))
	leave, err := s.uploadGate.enter(sess.Username, addr)
	if err != nil {
		return err
	}
	defer leave()
	endRate := underRate(w, r, s.uploadRate)
	data, err := s.readUploadFile(r)
	endRate()
	if err != nil {
		return err
	}
	defer s.uploadBytes.give(int64(len(data)))
	c, err := s.avatars.Upload(ctx, sess.Username, data, s.stillUploading(sess))
	if errors.Is(err, session.ErrNoSession) {
		return errUnauthorized // the account went or changed meanwhile: undone
	}
	if err != nil {
		err = uploadError(err)
		var refusal *Error
		if errors.As(err, &refusal) && refusal.Status == http.StatusUnprocessableEntity {
			// Refused as an image, after its price was read: the sender
			// waits before the next try (400, 413 and 415 cost no decode).
			s.uploadGate.refuse(sess.Username, addr)
		}
		return err
	}
	s.log.Info("avatar uploaded", "user", sess.Username, "image", c.Image[:12], "bytes", len(data))
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusOK, s.avatarResponse(c))
		return nil
	}
	http.Redirect(w, r, "/community", http.StatusSeeOther)
	return nil
}

// readUploadFile returns the first part named "file" of r's multipart body,
// reading at most maxUploadBody in all and MaxUploadBytes of any part (413
// past either; 400 for a body that is not multipart, has no such part, or
// an empty one; 408 for one sent too slowly; 503 when the site's upload
// memory is spent). The file's bytes are taken from s.uploadBytes: give
// len(data) back when done with them.
func (s *Server) readUploadFile(r *http.Request) ([]byte, error) {
	errField := errorf(http.StatusBadRequest, `send the image as multipart/form-data in a field named "file"`)
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "multipart/form-data" {
		return nil, errField
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, errField
	}
	for {
		part, err := mr.NextPart()
		if err := bodyError(err); err != nil {
			return nil, err
		}
		if errors.Is(err, io.EOF) {
			return nil, errField
		}
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "malformed multipart body")
		}
		if part.FormName() != "file" {
			// Other fields are skipped, each within the file's limit.
			n, err := io.Copy(io.Discard, io.LimitReader(part, avatar.MaxUploadBytes+1))
			if n > avatar.MaxUploadBytes {
				return nil, errUploadTooLarge
			}
			if err := bodyError(err); err != nil {
				return nil, err
			}
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "malformed multipart body")
			}
			continue
		}
		data, err := s.uploadBytes.readHeld(part, avatar.MaxUploadBytes)
		if err == nil && (len(data) > avatar.MaxUploadBytes || len(data) == 0) {
			s.uploadBytes.give(int64(len(data)))
			if len(data) == 0 {
				return nil, errorf(http.StatusBadRequest, "choose an image file to upload")
			}
			return nil, errUploadTooLarge
		}
		if err := bodyError(err); err != nil {
			return nil, err
		}
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "malformed multipart body")
		}
		return data, nil
	}
}

// bodyError is the answer for an error reading an upload's body that is
// not the body's own fault (nil for the others): too large 413, too slow
// 408, the site's upload memory spent 503.
func bodyError(err error) error {
	switch {
	case err == nil:
		return nil
	case bodyTooLarge(err):
		return errUploadTooLarge
	case errors.Is(err, errUploadTooSlow):
		return errUploadTooSlow
	case errors.Is(err, errBudget):
		return errUploadsBusy
	}
	return nil
}

// uploadError maps the avatar service's refusals to responses.
func uploadError(err error) error {
	var le *avatar.LimitError
	var ce *avatar.CostError
	switch {
	case errors.As(err, &le):
		return &Error{Status: http.StatusTooManyRequests, RetryAfter: le.RetryAfter,
			Message: "You just uploaded an avatar; please wait a few seconds before the next one."}
	case errors.Is(err, avatar.ErrUnsupportedType):
		return errorf(http.StatusUnsupportedMediaType, "unsupported image type: upload a PNG, JPEG, GIF or WebP image")
	case errors.As(err, &ce):
		return errorf(http.StatusUnprocessableEntity, "%s", capitalize(ce.Reason)+".")
	case errors.Is(err, avatar.ErrDimensions):
		return errorf(http.StatusUnprocessableEntity, "the image is too big: at most %d pixels on a side", avatar.MaxSide)
	case errors.Is(err, avatar.ErrUndecodable):
		return errorf(http.StatusUnprocessableEntity, "the image could not be read: the file is damaged or incomplete")
	}
	return err
}

// capitalize returns msg with its first letter upper-case (ASCII: the
// reasons are the avatar package's own sentences).
func capitalize(msg string) string {
	if msg != "" && 'a' <= msg[0] && msg[0] <= 'z' {
		return string(msg[0]-'a'+'A') + msg[1:]
	}
	return msg
}

// avatarImage serves an uploaded image, /avatars/<hash>.png: immutable (the
// name is its content's hash), as a PNG that browsers neither sniff nor run
// (nosniff, and a sandbox policy should it ever be opened as a document).
func (s *Server) avatarImage(w http.ResponseWriter, r *http.Request) error {
	hash, ok := strings.CutSuffix(r.PathValue("file"), ".png")
	if !ok {
		return errNotFound
	}
	png, err := s.avatars.Image(r.Context(), hash)
	if errors.Is(err, avatar.ErrNoImage) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", `"`+hash+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(png))
	return nil
}

// SweepImages runs the avatar service's sweep every interval until ctx
// ends: it removes uploaded images no one uses any more that the upload
// path itself could not (docs/architecture.md, "Uploaded avatars").
func (s *Server) SweepImages(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := s.avatars.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("avatar image sweep failed; it runs again later", "err", err)
		case st.Removed > 0 || st.StaleRefs > 0:
			s.log.Info("avatar image sweep", "images", st.Images, "removed", st.Removed, "stale_refs", st.StaleRefs)
		}
	}
}

// errUploadsOff answers an upload of a member whose uploads an operator
// turned off (`soulbridge avatars remove`).
var errUploadsOff = errorf(http.StatusForbidden,
	"An operator of this site turned off your avatar uploads; you can still pick one of the avatars shown. Contact the site's operator.")

// uploadsAllowed refuses (403) an upload by a member whose uploads an
// operator turned off.
func (s *Server) uploadsAllowed(ctx context.Context, username string) error {
	u, err := s.auth.Get(ctx, username)
	if errors.Is(err, auth.ErrNoAccount) {
		return errUnauthorized
	}
	if err != nil {
		return err
	}
	if !u.UploadsAllowed() {
		return errUploadsOff
	}
	return nil
}

// stillUploading is the re-check of a stored upload (avatar.Still): the
// session still stands for its account, and the account's uploads were not
// turned off while it ran (an operator's removal racing the upload undoes
// the upload, not the removal).
func (s *Server) stillUploading(sess *session.Session) avatar.Still {
	still := s.stillFor(sess)
	return func(ctx context.Context) error {
		if err := still(ctx); err != nil {
			return err
		}
		return s.uploadsAllowed(ctx, sess.Username)
	}
}
