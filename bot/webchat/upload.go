package webchat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"linli/bot"
	"linli/store"
)

// photoTypes are the pictures accepted, by their sniffed content type: what
// the browser's header claims is not trusted.
var photoTypes = map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}

// sniffPhoto names the type of an image by its first bytes, or "".
func sniffPhoto(b []byte) string {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return "image/jpeg"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	case len(b) >= 16 && bytes.Equal(b[:4], []byte("RIFF")) && bytes.Equal(b[8:15], []byte("WEBPVP8")):
		return "image/webp"
	}
	return ""
}

var tokenRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// photo stores an uploaded picture and hands it to the conversation as an
// image message. Bodies over MaxPhoto are refused with 413 (the page
// downscales before it uploads), anything but JPEG, PNG or WebP with 415.
func (s *Server) photo(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > MaxPhoto {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "too_large"})
		return
	}
	body, ok := bot.ReadBody(w, r, MaxPhoto)
	if !ok {
		return
	}
	mime := sniffPhoto(body)
	if mime == "" {
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "type"})
		return
	}
	id := r.URL.Query().Get("id")
	if id != "" && !clientIDRe.MatchString(id) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request"})
		return
	}
	sess, ok := s.session(w, r)
	if !ok {
		return
	}
	if !s.allow(w, s.sessionMsgs, sess.ext) || !s.allow(w, s.uploads, s.clientAddr(r)) {
		return
	}
	var m bot.Message
	if id != "" {
		m.DedupeKey = sess.ext + ":" + id
	}
	// The file is stored by the first copy only: a retried upload is
	// answered with the first one's replies and leaves no second file.
	s.turn(w, r, sess, m, func(ctx context.Context, m *bot.Message) error {
		token := randomToken(16)
		if err := s.saveFile(token, body); err != nil {
			return err
		}
		now := s.opt.Now()
		if err := s.st.AddWebUpload(ctx, store.WebUpload{Token: token, ExternalID: sess.ext, MIME: mime, Size: int64(len(body)), CreatedAt: now}); err != nil {
			os.Remove(filepath.Join(s.opt.UploadDir, token))
			return fmt.Errorf("webchat: record upload: %w", err)
		}
		m.Image = &bot.Image{Ref: token, URL: s.MediaURL(token)}
		return nil
	})
}

// MediaURL is where staff see an uploaded photo: an unguessable address
// under the public URL, given only to staff (in the ticket) and the owner.
func (s *Server) MediaURL(token string) string {
	return strings.TrimSuffix(s.public.String(), "/") + "/media/" + token
}

// saveFile writes a photo whole or not at all.
func (s *Server) saveFile(token string, b []byte) error {
	f, err := os.CreateTemp(s.opt.UploadDir, ".upload-*")
	if err != nil {
		return fmt.Errorf("webchat: save photo: %w", err)
	}
	_, werr := f.Write(b)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("webchat: save photo: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(s.opt.UploadDir, token)); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("webchat: save photo: %w", err)
	}
	return nil
}

// media serves an uploaded photo to whoever holds its address, with the type
// recorded at upload and nothing a browser could run.
func (s *Server) media(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if !tokenRe.MatchString(token) {
		http.NotFound(w, r)
		return
	}
	u, err := s.st.WebUploadByToken(r.Context(), token)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.log.Error("webchat: media", "err", err)
		http.Error(w, "unavailable", http.StatusInternalServerError)
		return
	}
	f, err := os.Open(filepath.Join(s.opt.UploadDir, token))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	securityHeaders(h, "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Type", u.MIME)
	h.Set("Cache-Control", "private, max-age=86400")
	h.Set("Content-Disposition", "inline")
	http.ServeContent(w, r, "", st.ModTime(), f)
}
