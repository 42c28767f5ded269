package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Resident is a person the office serves, reachable through one or more identities.
type Resident struct {
	ID           int64
	Name         string
	Phone        string
	Language     string // the resident's own choice; empty: follow the channel or community default
	Building     string
	Unsubscribed bool
	ConsentAt    time.Time
	CreatedAt    time.Time
	ErasedAt     time.Time
}

// Identity is one way to reach a resident: a WeChat openid, a Telegram user,
// a web session, a console name or a phone.
type Identity struct {
	ID            int64
	ResidentID    int64
	Channel       string
	ExternalID    string
	ChatID        string
	DisplayName   string
	Unreachable   bool
	LastInboundAt time.Time
	CreatedAt     time.Time
}

const residentColumns = "id, name, phone, language, building, unsubscribed, consent_at, created_at, erased_at"

func scanResident(row interface{ Scan(...any) error }) (Resident, error) {
	var r Resident
	dest, done := residentDest(&r)
	err := row.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	done()
	return r, err
}

// residentDest returns the Scan destinations of residentColumns for r and
// the func that completes r once they are filled. A query that reads a
// resident among other columns (the turn's join) scans into these too.
func residentDest(r *Resident) (dest []any, done func()) {
	var consent, created, erased sql.NullInt64
	return []any{&r.ID, &r.Name, &r.Phone, &r.Language, &r.Building, &r.Unsubscribed, &consent, &created, &erased},
		func() { r.ConsentAt, r.CreatedAt, r.ErasedAt = fromUnix(consent), fromUnix(created), fromUnix(erased) }
}

const identityColumns = "id, resident_id, channel, external_id, chat_id, display_name, unreachable, last_inbound_at, created_at"

func scanIdentity(row interface{ Scan(...any) error }) (Identity, error) {
	var i Identity
	dest, done := identityDest(&i)
	err := row.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return i, ErrNotFound
	}
	done()
	return i, err
}

// identityDest is residentDest for identityColumns.
func identityDest(i *Identity) (dest []any, done func()) {
	var last, created sql.NullInt64
	return []any{&i.ID, &i.ResidentID, &i.Channel, &i.ExternalID, &i.ChatID, &i.DisplayName, &i.Unreachable, &last, &created},
		func() { i.LastInboundAt, i.CreatedAt = fromUnix(last), fromUnix(created) }
}

// IdentityKey names an identity on a channel.
type IdentityKey struct {
	Channel     string
	ExternalID  string
	ChatID      string // where replies go when it differs from ExternalID (Telegram chats)
	DisplayName string
}

// ResolveIdentity finds the resident behind an identity, creating both on
// first contact, and records the inbound time (WeChat's 48-hour window is
// counted from it). created reports a first contact.
func (s *Store) ResolveIdentity(ctx context.Context, k IdentityKey, at time.Time) (Resident, Identity, bool, error) {
	if k.Channel == "" || k.ExternalID == "" {
		return Resident{}, Identity{}, false, errors.New("store: identity needs a channel and an id")
	}
	var (
		res     Resident
		id      Identity
		created bool
	)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		res, id, created, err = s.resolveIdentityTx(ctx, tx, k, at)
		return err
	})
	return res, id, created, err
}

const (
	findIdentitySQL  = "SELECT " + identityColumns + " FROM identities WHERE channel = ? AND external_id = ?"
	touchIdentitySQL = `UPDATE identities SET last_inbound_at = ?, unreachable = 0,
				chat_id = CASE WHEN ? <> '' THEN ? ELSE chat_id END,
				display_name = CASE WHEN ? <> '' THEN ? ELSE display_name END
				WHERE id = ?`
	residentByIDSQL = "SELECT " + residentColumns + " FROM residents WHERE id = ?"
)

// resolveIdentityTx is ResolveIdentity inside tx.
func (s *Store) resolveIdentityTx(ctx context.Context, tx *sql.Tx, k IdentityKey, at time.Time) (res Resident, id Identity, created bool, err error) {
	find, err := s.txStmt(ctx, tx, findIdentitySQL)
	if err != nil {
		return res, id, false, err
	}
	err = func() error {
		id, err = scanIdentity(find.QueryRowContext(ctx, k.Channel, k.ExternalID))
		switch {
		case errors.Is(err, ErrNotFound):
			created = true
			var rid int64
			if err := tx.QueryRowContext(ctx, "INSERT INTO residents (created_at) VALUES (?) RETURNING id", at.Unix()).Scan(&rid); err != nil {
				return fmt.Errorf("store: new resident: %w", err)
			}
			id, err = scanIdentity(tx.QueryRowContext(ctx, `INSERT INTO identities
				(resident_id, channel, external_id, chat_id, display_name, last_inbound_at, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING `+identityColumns,
				rid, k.Channel, k.ExternalID, k.ChatID, k.DisplayName, at.Unix(), at.Unix()))
			if err != nil {
				return fmt.Errorf("store: new identity: %w", err)
			}
		case err != nil:
			return fmt.Errorf("store: find identity: %w", err)
		default:
			// A message proves the identity reachable again (a resident who
			// unblocked the bot or followed the account anew).
			touch, err := s.txStmt(ctx, tx, touchIdentitySQL)
			if err != nil {
				return err
			}
			_, err = touch.ExecContext(ctx, at.Unix(), k.ChatID, k.ChatID, k.DisplayName, k.DisplayName, id.ID)
			if err != nil {
				return fmt.Errorf("store: touch identity: %w", err)
			}
			id.LastInboundAt, id.Unreachable = at, false
			if k.ChatID != "" {
				id.ChatID = k.ChatID
			}
			if k.DisplayName != "" {
				id.DisplayName = k.DisplayName
			}
		}
		byID, err := s.txStmt(ctx, tx, residentByIDSQL)
		if err != nil {
			return err
		}
		res, err = scanResident(byID.QueryRowContext(ctx, id.ResidentID))
		return err
	}()
	return res, id, created, err
}

// FindIdentity returns an identity without creating it.
func (s *Store) FindIdentity(ctx context.Context, channel, externalID string) (Identity, error) {
	return scanIdentity(s.db.QueryRowContext(ctx, "SELECT "+identityColumns+" FROM identities WHERE channel = ? AND external_id = ?", channel, externalID))
}

// Resident returns one resident.
func (s *Store) Resident(ctx context.Context, id int64) (Resident, error) {
	return scanResident(s.db.QueryRowContext(ctx, "SELECT "+residentColumns+" FROM residents WHERE id = ?", id))
}

// Identities lists a resident's identities, most recently active first.
func (s *Store) Identities(ctx context.Context, residentID int64) ([]Identity, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+identityColumns+` FROM identities WHERE resident_id = ?
		ORDER BY COALESCE(last_inbound_at, 0) DESC, id DESC`, residentID)
	return scanAll(rows, err, scanIdentity)
}

// SetResidentLanguage records the resident's own language choice.
func (s *Store) SetResidentLanguage(ctx context.Context, residentID int64, lang string) error {
	_, err := s.exec(ctx, "UPDATE residents SET language = ? WHERE id = ?", lang, residentID)
	return err
}

// SetResidentPhone records a resident's contact phone.
func (s *Store) SetResidentPhone(ctx context.Context, residentID int64, phone string) error {
	_, err := s.exec(ctx, "UPDATE residents SET phone = ? WHERE id = ?", phone, residentID)
	return err
}

// SetResidentBuilding records the building a resident gave, used to target notices.
func (s *Store) SetResidentBuilding(ctx context.Context, residentID int64, building string) error {
	_, err := s.exec(ctx, "UPDATE residents SET building = ? WHERE id = ?", building, residentID)
	return err
}

// SetUnsubscribed records whether a resident refuses non-essential notices.
func (s *Store) SetUnsubscribed(ctx context.Context, residentID int64, v bool) error {
	_, err := s.exec(ctx, "UPDATE residents SET unsubscribed = ? WHERE id = ?", v, residentID)
	return err
}

// SetConsent records when the resident agreed to the processing of their data.
func (s *Store) SetConsent(ctx context.Context, residentID int64, at time.Time) error {
	_, err := s.exec(ctx, "UPDATE residents SET consent_at = ? WHERE id = ?", unix(at), residentID)
	return err
}

// SetIdentityUnreachable marks an identity that can no longer receive pushes
// (blocked the bot, unfollowed the account); a later message clears it.
func (s *Store) SetIdentityUnreachable(ctx context.Context, channel, externalID string, v bool) error {
	_, err := s.exec(ctx, "UPDATE identities SET unreachable = ? WHERE channel = ? AND external_id = ?", v, channel, externalID)
	return err
}
