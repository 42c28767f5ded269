package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// WebSession is one browser's session of the web chat. The session id lives
// only in the resident's cookie; the store keeps its hash.
type WebSession struct {
	TokenHash  string
	ExternalID string // the web identity the browser speaks as
	Bound      string // fingerprint of the resident and phone last seen; a change rotates the session
	CreatedAt  time.Time
	SeenAt     time.Time
}

func scanWebSession(row interface{ Scan(...any) error }) (WebSession, error) {
	var w WebSession
	var created, seen sql.NullInt64
	err := row.Scan(&w.TokenHash, &w.ExternalID, &w.Bound, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return w, ErrNotFound
	}
	w.CreatedAt, w.SeenAt = fromUnix(created), fromUnix(seen)
	return w, err
}

// CreateWebSession stores a new session.
func (s *Store) CreateWebSession(ctx context.Context, w WebSession) error {
	_, err := s.exec(ctx, `INSERT INTO web_sessions (token_hash, external_id, bound, created_at, seen_at) VALUES (?, ?, ?, ?, ?)`,
		w.TokenHash, w.ExternalID, w.Bound, w.CreatedAt.Unix(), w.SeenAt.Unix())
	return err
}

// WebSessionByHash returns a session seen at or after notBefore, or ErrNotFound.
func (s *Store) WebSessionByHash(ctx context.Context, tokenHash string, notBefore time.Time) (WebSession, error) {
	return scanWebSession(s.db.QueryRowContext(ctx, `SELECT token_hash, external_id, bound, created_at, seen_at
		FROM web_sessions WHERE token_hash = ? AND seen_at >= ?`, tokenHash, notBefore.Unix()))
}

// TouchWebSession records that a session was used at at.
func (s *Store) TouchWebSession(ctx context.Context, tokenHash string, at time.Time) error {
	_, err := s.exec(ctx, "UPDATE web_sessions SET seen_at = ? WHERE token_hash = ?", at.Unix(), tokenHash)
	return err
}

// SetWebSessionBound records the fingerprint a session was last seen with.
func (s *Store) SetWebSessionBound(ctx context.Context, tokenHash, bound string) error {
	_, err := s.exec(ctx, "UPDATE web_sessions SET bound = ? WHERE token_hash = ?", bound, tokenHash)
	return err
}

// RotateWebSession replaces a session by a new one for the same identity in
// one transaction: the old id stops working the moment the new one exists.
// ErrNotFound: the old session was gone already (rotated by another request).
func (s *Store) RotateWebSession(ctx context.Context, oldHash string, next WebSession) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM web_sessions WHERE token_hash = ?", oldHash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO web_sessions (token_hash, external_id, bound, created_at, seen_at) VALUES (?, ?, ?, ?, ?)`,
			next.TokenHash, next.ExternalID, next.Bound, next.CreatedAt.Unix(), next.SeenAt.Unix())
		return err
	})
}

// DeleteWebSessionsSeenBefore removes sessions idle since before t and returns how many.
func (s *Store) DeleteWebSessionsSeenBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.exec(ctx, "DELETE FROM web_sessions WHERE seen_at < ?", t.Unix())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// WebUpload is a photo a resident sent from the browser.
type WebUpload struct {
	Token      string // the file's name and its URL's unguessable part
	ExternalID string // the web identity that sent it
	MIME       string // sniffed: image/jpeg, image/png or image/webp
	Size       int64
	CreatedAt  time.Time
}

// AddWebUpload records an uploaded photo.
func (s *Store) AddWebUpload(ctx context.Context, u WebUpload) error {
	_, err := s.exec(ctx, "INSERT INTO web_uploads (token, external_id, mime, size, created_at) VALUES (?, ?, ?, ?, ?)",
		u.Token, u.ExternalID, u.MIME, u.Size, u.CreatedAt.Unix())
	return err
}

// WebUploadByToken returns one upload, or ErrNotFound.
func (s *Store) WebUploadByToken(ctx context.Context, token string) (WebUpload, error) {
	var u WebUpload
	var created sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT token, external_id, mime, size, created_at FROM web_uploads WHERE token = ?", token).
		Scan(&u.Token, &u.ExternalID, &u.MIME, &u.Size, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return u, ErrNotFound
	}
	u.CreatedAt = fromUnix(created)
	return u, err
}
