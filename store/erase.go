package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ErasedMarker replaces what a resident wrote where the row itself must stay
// (a ticket's description, a staff alert that quoted them).
const ErasedMarker = "[已删除 erased]"

// Erasure is what EraseResident did, for the caller's own clean-up and log.
type Erasure struct {
	Identities int
	// Tickets are the numbers of the resident's tickets, kept anonymised.
	Tickets []string
	// UploadTokens are web chat photos whose rows are gone; the caller
	// deletes their files (the store does not know the upload directory).
	UploadTokens []string
	// OutboxCancelled counts rows to the resident that were still to be sent.
	OutboxCancelled int64
	// Messages counts the message log lines deleted.
	Messages int64
}

// erasureCoverage is every table of the schema and its columns, with what
// EraseResident does to it. TestErasureCoversEverySchemaTable compares it
// with sqlite_master: a table or a column added by a later migration fails
// that test until its author decides here whether it holds personal data
// and, if so, erases it in eraseResidentTx.
var erasureCoverage = []struct{ table, columns, how string }{
	{"residents", "id name phone language building unsubscribed consent_at created_at erased_at phone_verified_at",
		"kept as a tombstone: every field blank, erased_at set"},
	{"identities", "id resident_id channel external_id chat_id display_name unreachable last_inbound_at created_at",
		"deleted: the next message from the same channel id is a new resident"},
	{"conversations", "resident_id flow state updated_at", "deleted (holds the flow's answers)"},
	{"message_log", "id resident_id direction channel text created_at", "deleted"},
	{"resident_tags", "resident_id tag created_at", "deleted"},
	{"tickets", "id number resident_id request_key category description photo photo_url latitude longitude location_label address contact_phone channel status assignee created_at due_at first_response_at resolved_at rating rated_at",
		"kept for the office's figures: resident_id NULL, description replaced by ErasedMarker, photo, place and phone cleared"},
	{"ticket_events", "id ticket_id kind actor note created_at",
		"kept: the resident's notes on their tickets, and any note quoting them, blanked"},
	{"outbox", "id kind resident_id target_channel target_address body ref dedupe_key urgent due_at status attempts lease_until channel provider provider_id error created_at sent_at delivered_at sms_phone sms_template sms_out_id sms_try_at receipt_checks broadcast_id hold_channel hold_address hold_until",
		"rows to them: cancelled if unsent, body, addresses (hold_address too), phone and error blanked, unlinked; staff rows about their tickets or quoting them: body replaced by ErasedMarker; dedupe keys naming them dropped"},
	{"bookings", "id code resident_id service slot_at party status offer_until created_at updated_at",
		"future ones cancelled by the caller first; all unlinked (resident_id NULL), counts kept"},
	{"registrations", "id code event_id resident_id companions party status offer_until checked_in_at companions_in checked_in_by created_at updated_at",
		"future ones cancelled by the caller first; all unlinked (resident_id NULL), attendance kept"},
	{"web_sessions", "token_hash external_id bound created_at seen_at", "deleted for their web identities"},
	{"web_uploads", "token external_id mime size created_at", "deleted for their web identities and ticket photos; files returned to the caller"},
	{"inbound_keys", "channel key created_at", "keys naming one of their ids (WeChat event keys, web message ids) deleted"},
	{"kv", "key value expires_at", "keys naming one of their ids (the WeChat window counter) deleted"},
	{"audit", "id actor action target detail allowed created_at",
		"an actor naming their channel id becomes <channel>:erased; details quoting them blanked; the erasure itself recorded"},
	{"broadcasts", "id created_by audience_kind audience_key text policy urgent lang due_at status total created_at started_at reported_at finished_at",
		"no personal data: staff's notices to many"},
	{"events", "id key title title_en kind starts_at ends_at deadline place capacity companions description created_by created_at cancelled_at",
		"no personal data: the office's events"},
	{"counters", "name value", "no personal data"},
	{"schema_migrations", "version name applied_at", "no personal data"},
}

// EraseResident erases a resident's personal data in one transaction (the
// right to erasure of China's Personal Information Protection Law). What
// the office needs for its figures stays, with nothing left that points to
// the person: tickets, bookings and registrations are unlinked and stripped
// of what they wrote. The residents row stays as an erased tombstone, so a
// turn in progress (whose conversation is saved after the step) breaks no
// foreign key; it holds nothing but its id and times. The caller cancels
// future bookings and registrations first, through the normal path, so
// that waiting lists move up.
func (s *Store) EraseResident(ctx context.Context, residentID int64, at time.Time) (Erasure, error) {
	var out Erasure
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = eraseResidentTx(ctx, tx, residentID, at)
		return err
	})
	return out, err
}

type erasedIdentity struct{ channel, externalID, chatID, displayName string }

func eraseResidentTx(ctx context.Context, tx *sql.Tx, id int64, at time.Time) (Erasure, error) {
	var out Erasure
	var name, phone string
	err := tx.QueryRowContext(ctx, "SELECT name, phone FROM residents WHERE id = ?", id).Scan(&name, &phone)
	if errors.Is(err, sql.ErrNoRows) {
		return out, ErrNotFound
	}
	if err != nil {
		return out, fmt.Errorf("store: erase: %w", err)
	}
	var ids []erasedIdentity
	err = eachRow(ctx, tx, func(r *sql.Rows) error {
		var i erasedIdentity
		if err := r.Scan(&i.channel, &i.externalID, &i.chatID, &i.displayName); err != nil {
			return err
		}
		ids = append(ids, i)
		return nil
	}, "SELECT channel, external_id, chat_id, display_name FROM identities WHERE resident_id = ?", id)
	if err != nil {
		return out, err
	}
	out.Identities = len(ids)

	// Where they may be quoted in free text: phone, name, display names
	// and channel ids. Short ones would match unrelated text.
	var quotes, keyIDs, addresses []string
	addQuote := func(s string, minRunes int) {
		if utf8.RuneCountInString(strings.TrimSpace(s)) >= minRunes {
			quotes = append(quotes, strings.TrimSpace(s))
		}
	}
	addQuote(phone, 7)
	addQuote(name, 2)
	for _, i := range ids {
		addQuote(i.displayName, 2)
		addQuote(i.externalID, 5)
		keyIDs = append(keyIDs, i.externalID)
		addresses = append(addresses, i.externalID)
		if i.chatID != "" && i.chatID != i.externalID {
			addQuote(i.chatID, 5)
			keyIDs = append(keyIDs, i.chatID)
			addresses = append(addresses, i.chatID)
		}
	}
	if phone != "" {
		keyIDs = append(keyIDs, phone)
		addresses = append(addresses, phone)
	}

	// Tickets: kept, anonymised; notes they wrote blanked.
	var ticketIDs []int64
	err = eachRow(ctx, tx, func(r *sql.Rows) error {
		var tid int64
		var num string
		if err := r.Scan(&tid, &num); err != nil {
			return err
		}
		ticketIDs = append(ticketIDs, tid)
		out.Tickets = append(out.Tickets, num)
		return nil
	}, "SELECT id, number FROM tickets WHERE resident_id = ? ORDER BY id", id)
	if err != nil {
		return out, err
	}
	// Web photos: those of their web identities and those on their tickets.
	tokens := map[string]bool{}
	var webIDs []string
	for _, i := range ids {
		if i.channel == "web" {
			webIDs = append(webIDs, i.externalID)
		}
	}
	collect := func(r *sql.Rows) error {
		var t string
		if err := r.Scan(&t); err != nil {
			return err
		}
		if !tokens[t] {
			tokens[t] = true
			out.UploadTokens = append(out.UploadTokens, t)
		}
		return nil
	}
	if err := eachRow(ctx, tx, collect, "SELECT token FROM web_uploads WHERE token IN (SELECT photo FROM tickets WHERE resident_id = ?)", id); err != nil {
		return out, err
	}
	for _, w := range webIDs {
		if err := eachRow(ctx, tx, collect, "SELECT token FROM web_uploads WHERE external_id = ?", w); err != nil {
			return out, err
		}
	}
	for t := range tokens {
		if _, err := tx.ExecContext(ctx, "DELETE FROM web_uploads WHERE token = ?", t); err != nil {
			return out, fmt.Errorf("store: erase uploads: %w", err)
		}
	}
	for _, w := range webIDs {
		if _, err := tx.ExecContext(ctx, "DELETE FROM web_sessions WHERE external_id = ?", w); err != nil {
			return out, fmt.Errorf("store: erase sessions: %w", err)
		}
	}

	for _, tid := range ticketIDs {
		if _, err := tx.ExecContext(ctx, "UPDATE ticket_events SET note = '' WHERE ticket_id = ? AND kind = ?", tid, EventNote); err != nil {
			return out, fmt.Errorf("store: erase ticket notes: %w", err)
		}
		for _, q := range quotes {
			if _, err := tx.ExecContext(ctx, `UPDATE ticket_events SET note = '' WHERE ticket_id = ? AND note LIKE ? ESCAPE '\'`,
				tid, likeContains(q)); err != nil {
				return out, fmt.Errorf("store: erase ticket notes: %w", err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tickets SET resident_id = NULL, description = ?, photo = '', photo_url = '',
		latitude = NULL, longitude = NULL, location_label = '', address = '', contact_phone = '' WHERE resident_id = ?`,
		ErasedMarker, id); err != nil {
		return out, fmt.Errorf("store: erase tickets: %w", err)
	}

	if err := eraseOutboxTx(ctx, tx, id, out.Tickets, addresses, quotes, keyIDs, &out); err != nil {
		return out, err
	}

	res, err := tx.ExecContext(ctx, "DELETE FROM message_log WHERE resident_id = ?", id)
	if err != nil {
		return out, fmt.Errorf("store: erase message log: %w", err)
	}
	out.Messages, _ = res.RowsAffected()
	for _, q := range []string{
		"DELETE FROM conversations WHERE resident_id = ?",
		"DELETE FROM resident_tags WHERE resident_id = ?",
		"UPDATE bookings SET resident_id = NULL WHERE resident_id = ?",
		"UPDATE registrations SET resident_id = NULL WHERE resident_id = ?",
		"DELETE FROM identities WHERE resident_id = ?",
	} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return out, fmt.Errorf("store: erase: %s: %w", q, err)
		}
	}
	// Keys that name one of their ids as a whole ':'-separated part:
	// WeChat event dedupe keys (evt:OPENID:TIME), web message ids
	// (SESSION:ID), the WeChat window counter (wechat:cs_count:OPENID).
	for _, k := range keyIDs {
		where, args := keyPartWhere("key", k)
		if _, err := tx.ExecContext(ctx, "DELETE FROM inbound_keys WHERE "+where, args...); err != nil {
			return out, fmt.Errorf("store: erase inbound keys: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM kv WHERE "+where, args...); err != nil {
			return out, fmt.Errorf("store: erase kv: %w", err)
		}
	}
	// Refused staff commands are audited under channel:id; the attempt
	// stays, the person goes.
	for _, i := range ids {
		if _, err := tx.ExecContext(ctx, "UPDATE audit SET actor = ?, detail = '' WHERE actor = ?",
			i.channel+":erased", i.channel+":"+i.externalID); err != nil {
			return out, fmt.Errorf("store: erase audit: %w", err)
		}
	}
	for _, q := range quotes {
		if _, err := tx.ExecContext(ctx, `UPDATE audit SET detail = '' WHERE detail LIKE ? ESCAPE '\'`, likeContains(q)); err != nil {
			return out, fmt.Errorf("store: erase audit: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE residents SET name = '', phone = '', language = '', building = '', unsubscribed = 0,
		consent_at = NULL, phone_verified_at = NULL, erased_at = ? WHERE id = ?`, at.Unix(), id); err != nil {
		return out, fmt.Errorf("store: erase resident: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit (actor, action, target, detail, allowed, created_at) VALUES ('resident', 'erase', ?, ?, 1, ?)`,
		fmt.Sprintf("resident:%d", id), fmt.Sprintf("identities %d, tickets %d, messages %d", out.Identities, len(out.Tickets), out.Messages), at.Unix()); err != nil {
		return out, fmt.Errorf("store: erase audit: %w", err)
	}
	return out, nil
}

// eraseOutboxTx handles the outbox for EraseResident. Rows to the resident
// (theirs by resident_id, or addressed to one of their ids or their phone
// with no resident) are cancelled when not sent yet and stripped; staff
// rows about their tickets or quoting them keep their place in the history
// with a neutral body. Other residents' rows are never touched.
func eraseOutboxTx(ctx context.Context, tx *sql.Tx, id int64, tickets, addresses, quotes, keyIDs []string, out *Erasure) error {
	mine := []string{"resident_id = ?"}
	args := []any{id}
	for _, a := range addresses {
		mine = append(mine, "(resident_id IS NULL AND (target_address = ? OR sms_phone = ?))")
		args = append(args, a, a)
	}
	for _, k := range keyIDs {
		w, a := keyPartWhere("dedupe_key", k)
		mine = append(mine, "(resident_id IS NULL AND ("+w+"))")
		args = append(args, a...)
	}
	cond := strings.Join(mine, " OR ")
	res, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'cancelled', lease_until = NULL
		WHERE status IN ('pending', 'held', 'leased') AND (`+cond+`)`, args...)
	if err != nil {
		return fmt.Errorf("store: erase outbox: %w", err)
	}
	out.OutboxCancelled, _ = res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `UPDATE outbox SET resident_id = NULL, body = '{}', target_address = '', hold_address = '', sms_phone = '',
		error = '', dedupe_key = NULL WHERE `+cond, args...); err != nil {
		return fmt.Errorf("store: erase outbox: %w", err)
	}
	neutral, _ := json.Marshal(OutboxBody{Text: ErasedMarker})
	var staff []string
	var sargs []any
	for _, t := range tickets {
		staff = append(staff, "ref = ?")
		sargs = append(sargs, t)
	}
	for _, q := range quotes {
		staff = append(staff, `body LIKE ? ESCAPE '\'`)
		sargs = append(sargs, likeContains(q))
	}
	if len(staff) > 0 {
		if _, err := tx.ExecContext(ctx, "UPDATE outbox SET body = ? WHERE resident_id IS NULL AND ("+strings.Join(staff, " OR ")+")",
			append([]any{string(neutral)}, sargs...)...); err != nil {
			return fmt.Errorf("store: erase staff alerts: %w", err)
		}
	}
	// An SMS reply alert is keyed by the number it came from.
	for _, k := range keyIDs {
		w, a := keyPartWhere("dedupe_key", k)
		if _, err := tx.ExecContext(ctx, "UPDATE outbox SET dedupe_key = NULL WHERE resident_id IS NULL AND ("+w+")", a...); err != nil {
			return fmt.Errorf("store: erase outbox keys: %w", err)
		}
	}
	return nil
}

// keyPartWhere matches a column holding v as one whole ':'-separated part.
func keyPartWhere(col, v string) (string, []any) {
	e := likeEscape(v)
	return col + " = ? OR " + col + ` LIKE ? ESCAPE '\' OR ` + col + ` LIKE ? ESCAPE '\' OR ` + col + ` LIKE ? ESCAPE '\'`,
		[]any{v, e + ":%", "%:" + e, "%:" + e + ":%"}
}

// likeContains is a LIKE pattern matching s anywhere, s taken literally.
func likeContains(s string) string { return "%" + likeEscape(s) + "%" }

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// eachRow runs fn on every row of a query inside tx.
func eachRow(ctx context.Context, tx *sql.Tx, fn func(*sql.Rows) error, query string, args ...any) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store: erase: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// PurgeOutboxBodies blanks the bodies of outbox rows created before
// `before` that are done with (sent, delivered, failed, unreachable,
// cancelled): a WeChat reply or a staff answer is conversation too, and is
// kept no longer than the message log. The rows stay, for counts and for
// finding the ticket behind a staff-group message.
func (s *Store) PurgeOutboxBodies(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, `UPDATE outbox SET body = '{}', error = '' WHERE created_at < ? AND body <> '{}'
		AND status IN ('sent', 'delivered', 'failed', 'unreachable', 'cancelled')`, before.Unix())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
