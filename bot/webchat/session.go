package webchat

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"linli/store"
)

// CookieName is the session cookie of the web chat.
const CookieName = "linli_session"

// secretKey is where a generated signing key is kept, so that sessions
// survive a restart when the config gives none.
const secretKey = "webchat.session_secret"

// session is the browser a request came from.
type session struct {
	hash  string // SHA-256 of the id in the cookie; the store's key
	ext   string // the web identity's external id
	bound string
	id    string    // the id in the cookie (only to re-send the cookie)
	seen  time.Time // when the store last recorded a use
	fresh bool      // issued by this request
}

// loadSecret returns the configured signing key or, when none is set, the one
// generated on first start and kept in the store.
func loadSecret(ctx context.Context, st *store.Store, configured string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	v, _, err := st.GetValue(ctx, secretKey)
	if err == nil && len(v) >= 32 {
		return []byte(v), nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("webchat: session secret: %w", err)
	}
	if err := st.SetValue(ctx, secretKey, randomToken(32), time.Time{}); err != nil {
		return nil, fmt.Errorf("webchat: session secret: %w", err)
	}
	// Read back what was stored: if another process raced us, both use the winner's.
	v, _, err = st.GetValue(ctx, secretKey)
	if err != nil {
		return nil, fmt.Errorf("webchat: session secret: %w", err)
	}
	return []byte(v), nil
}

// randomToken returns n random bytes, hex-encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// sign returns the cookie value for a session id: the id and its MAC.
func (s *Server) sign(id string) string {
	return id + "." + s.mac("session", id)
}

func (s *Server) mac(purpose, v string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("linli webchat " + purpose + "\x00" + v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verify returns the session id of a cookie value the server signed; a value
// it did not sign is never adopted.
func (s *Server) verify(value string) (string, bool) {
	id, sig, ok := strings.Cut(value, ".")
	if !ok || len(id) != 64 || len(sig) != 43 {
		return "", false
	}
	want := s.mac("session", id)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return "", false
	}
	return id, true
}

func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// setCookie hands the browser its session id.
func (s *Server) setCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    s.sign(id),
		Path:     "/",
		MaxAge:   int(s.opt.SessionIdle / time.Second),
		HttpOnly: true,
		Secure:   s.public.Scheme == "https",
		SameSite: http.SameSiteLaxMode,
	})
}

// current returns the request's session, if its cookie is signed by this
// server and the session is still in the store.
func (s *Server) current(r *http.Request) (*session, error) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil, nil
	}
	id, ok := s.verify(c.Value)
	if !ok {
		return nil, nil
	}
	now := s.opt.Now()
	ws, err := s.st.WebSessionByHash(r.Context(), hashID(id), now.Add(-s.opt.SessionIdle))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("webchat: session: %w", err)
	}
	return &session{hash: ws.TokenHash, ext: ws.ExternalID, bound: ws.Bound, id: id, seen: ws.SeenAt}, nil
}

// existing returns the request's session without issuing one: a request
// without a session is answered 401. It has answered the request when ok
// is false.
func (s *Server) existing(w http.ResponseWriter, r *http.Request) (*session, bool) {
	sess, err := s.current(r)
	if err != nil {
		s.fail(w, err)
		return nil, false
	}
	if sess == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "session"})
		return nil, false
	}
	return sess, true
}

// session returns the request's session or, if it has none (or one the
// server did not sign), issues a new one, within the per-address limit on new
// sessions. It has answered the request when ok is false.
func (s *Server) session(w http.ResponseWriter, r *http.Request) (*session, bool) {
	sess, err := s.current(r)
	if err != nil {
		s.fail(w, err)
		return nil, false
	}
	now := s.opt.Now()
	if sess != nil {
		// Slide the expiry, at most once an hour per session to spare the writer.
		if now.Sub(sess.seen) > time.Hour {
			if err := s.st.TouchWebSession(r.Context(), sess.hash, now); err != nil {
				s.log.Warn("webchat: touch session", "err", err)
			} else {
				s.setCookie(w, sess.id)
			}
		}
		return sess, true
	}
	if !s.allow(w, s.newSessions, s.clientAddr(r)) {
		return nil, false
	}
	id := randomToken(32)
	sess = &session{hash: hashID(id), ext: "w" + randomToken(16), id: id, seen: now, fresh: true}
	if err := s.st.CreateWebSession(r.Context(), store.WebSession{TokenHash: sess.hash, ExternalID: sess.ext, CreatedAt: now, SeenAt: now}); err != nil {
		s.fail(w, fmt.Errorf("webchat: new session: %w", err))
		return nil, false
	}
	s.setCookie(w, id)
	s.purgeSessions(r.Context(), now)
	return sess, true
}

// purgeSessions drops idle sessions, at most once an hour.
func (s *Server) purgeSessions(ctx context.Context, now time.Time) {
	last := s.lastPurge.Load()
	if now.Unix()-last < 3600 || !s.lastPurge.CompareAndSwap(last, now.Unix()) {
		return
	}
	if n, err := s.st.DeleteWebSessionsSeenBefore(ctx, now.Add(-s.opt.SessionIdle)); err != nil {
		s.log.Warn("webchat: purge sessions", "err", err)
	} else if n > 0 {
		s.log.Info("webchat: idle sessions removed", "count", n)
	}
}

// fingerprint names the resident and phone a session speaks for, without
// keeping the phone number in the sessions table.
func (s *Server) fingerprint(residentID int64, phone string) string {
	return s.mac("bound", strconv.FormatInt(residentID, 10)+"\x00"+phone)[:22]
}

// afterTurn looks at the resident behind the session once a message was
// handled: it returns their language, and when the session now speaks for a
// different resident or phone (a phone was bound, residents were merged), it
// rotates the session id so that a copy of the old cookie, planted or stolen
// before, stops working.
func (s *Server) afterTurn(ctx context.Context, w http.ResponseWriter, sess *session) string {
	id, err := s.st.FindIdentity(ctx, channel, sess.ext)
	if err != nil {
		return ""
	}
	res, err := s.st.Resident(ctx, id.ResidentID)
	if err != nil {
		return ""
	}
	fp := s.fingerprint(res.ID, res.Phone)
	switch {
	case sess.bound == "":
		if err := s.st.SetWebSessionBound(ctx, sess.hash, fp); err != nil {
			s.log.Warn("webchat: bind session", "err", err)
		}
		sess.bound = fp
	case sess.bound != fp:
		now := s.opt.Now()
		newID := randomToken(32)
		next := store.WebSession{TokenHash: hashID(newID), ExternalID: sess.ext, Bound: fp, CreatedAt: now, SeenAt: now}
		if err := s.st.RotateWebSession(ctx, sess.hash, next); err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				s.log.Warn("webchat: rotate session", "err", err)
			}
			break
		}
		sess.hash, sess.bound, sess.id = next.TokenHash, fp, newID
		s.setCookie(w, newID)
	}
	return res.Language
}
