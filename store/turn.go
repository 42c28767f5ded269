package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// One write transaction per message.
//
// A message's turn used to commit twice: the dedupe key and the identity
// first (ClaimAndResolve), the conversation and the message log after the
// step (FlushWrites). On this machine a commit costs about as much as the
// rest of the turn, and every page it dirties is a WAL frame written with
// two system calls. StartTurn therefore only reads: one statement finds
// the identity, its resident, its conversation and whether the key was
// seen before. The claim of the key and the identity's touch are held with
// the turn's other writes and committed by FlushWrites in one transaction.
//
// The key is still never acted on without being claimed: it is claimed
// atomically with the turn's effects. Effects that a step writes at once
// (a ticket, an outbox row, a language choice) carry the held claim and
// touch in their own transaction, so nothing of a message is stored before
// its key; the conversation and the log follow at FlushWrites. A
// redelivery handled by this process waits for the first delivery on the
// router's per-sender queue and then sees the key. A redelivery handled by
// another process at the same moment may also run the step, but only one
// of the two transactions that claim the key commits: the other gets
// ErrClaimed, rolls back and its replies are dropped (the router reports a
// duplicate). Only writes made with the turn's context carry the claim; a
// step that writes through a detached context commits that write on its
// own, as before.

// ErrClaimed is returned when the inbound key a turn holds was claimed by
// someone else (another process) before the turn could commit it: the
// message is a duplicate, and nothing of the turn was stored.
var ErrClaimed = errors.New("store: inbound key claimed elsewhere")

// TurnStart is what StartTurn learned about a message and its sender.
type TurnStart struct {
	// Seen reports a key claimed before: a redelivery; nothing else is set.
	Seen     bool
	Resident Resident
	// Identity is as it will be once the turn commits (touched).
	Identity Identity
	// Created reports a first contact: the resident and identity were
	// created (and the key claimed) before StartTurn returned.
	Created bool
}

// turnIdentityColumns and turnResidentColumns are the usual column lists
// qualified for the join, so the turn reads exactly what FindIdentity and
// Resident read.
var (
	turnIdentityColumns = qualify("i", identityColumns)
	turnResidentColumns = qualify("r", residentColumns)
	startTurnSQL        = "SELECT " + turnIdentityColumns + ", " + turnResidentColumns + `,
		c.flow, c.state, c.updated_at,
		CASE WHEN ? = '' THEN 0 ELSE EXISTS (SELECT 1 FROM inbound_keys k WHERE k.channel = ? AND k.key = ?) END
		FROM identities i JOIN residents r ON r.id = i.resident_id
		LEFT JOIN conversations c ON c.resident_id = r.id
		WHERE i.channel = ? AND i.external_id = ?`
)

func qualify(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// StartTurn begins the handling of one inbound message: it finds the
// sender's resident, identity and conversation and whether key (may be
// empty: no de-duplication) was seen before, in one read. The returned
// context defers writes like DeferWrites and also holds the claim of key
// and the identity's touch (last inbound time, reachable, chat id, display
// name); FlushWrites commits them with the rest. A first contact is the
// exception: the resident and identity are created, and the key claimed,
// in one transaction before StartTurn returns.
//
// Within the returned context, the first Conversation read of the
// resident is answered from the same read.
func (s *Store) StartTurn(ctx context.Context, channel, key string, k IdentityKey, at time.Time) (context.Context, TurnStart, error) {
	if k.Channel == "" || k.ExternalID == "" {
		return ctx, TurnStart{}, errors.New("store: identity needs a channel and an id")
	}
	var ts TurnStart
	d := &deferred{}
	found, seen, conv, err := s.readTurn(ctx, channel, key, k, &ts)
	if err != nil {
		return ctx, TurnStart{}, fmt.Errorf("store: start turn: %w", err)
	}
	switch {
	case seen:
		return ctx, TurnStart{Seen: true}, nil
	case !found:
		// First contact (or an identity created a moment ago by another
		// process): create and claim at once, as a new resident has
		// nothing a later write could be atomic with.
		if key != "" {
			fresh, res, id, created, err := s.ClaimAndResolve(ctx, channel, key, k, at)
			if err != nil {
				return ctx, TurnStart{}, err
			}
			if !fresh {
				return ctx, TurnStart{Seen: true}, nil
			}
			ts = TurnStart{Resident: res, Identity: id, Created: created}
		} else {
			res, id, created, err := s.ResolveIdentity(ctx, k, at)
			if err != nil {
				return ctx, TurnStart{}, err
			}
			ts = TurnStart{Resident: res, Identity: id, Created: created}
		}
		if ts.Created {
			d.preload(ts.Resident.ID, nil) // a new resident has no conversation
		}
	default:
		if key != "" {
			d.pre = append(d.pre, func(ctx context.Context, tx *sql.Tx) error {
				st, err := s.txStmt(ctx, tx, claimInboundSQL)
				if err != nil {
					return err
				}
				r, err := st.ExecContext(ctx, channel, key, at.Unix())
				if err != nil {
					return err
				}
				if n, err := r.RowsAffected(); err != nil || n != 1 {
					if err == nil {
						err = ErrClaimed
					}
					return err
				}
				return nil
			})
		}
		id := ts.Identity
		if !id.LastInboundAt.Equal(at) || id.Unreachable || (k.ChatID != "" && k.ChatID != id.ChatID) ||
			(k.DisplayName != "" && k.DisplayName != id.DisplayName) {
			// The same touch as ResolveIdentity's; skipped when it would
			// change nothing.
			d.pre = append(d.pre, func(ctx context.Context, tx *sql.Tx) error {
				return s.txExec(ctx, tx, touchIdentitySQL, at.Unix(), k.ChatID, k.ChatID, k.DisplayName, k.DisplayName, id.ID)
			})
		}
		ts.Identity.LastInboundAt, ts.Identity.Unreachable = at, false
		if k.ChatID != "" {
			ts.Identity.ChatID = k.ChatID
		}
		if k.DisplayName != "" {
			ts.Identity.DisplayName = k.DisplayName
		}
		d.preload(ts.Resident.ID, conv)
	}
	return context.WithValue(ctx, deferKey{}, d), ts, nil
}

// readTurn runs startTurnSQL. found is false when the identity does not
// exist yet; conv is nil when the resident has no conversation. The join's
// columns are scanned straight into the identity and the resident, through
// the same destination lists as scanIdentity and scanResident.
func (s *Store) readTurn(ctx context.Context, channel, key string, k IdentityKey, ts *TurnStart) (found, seen bool, conv *Conversation, err error) {
	var (
		flow    sql.NullString
		state   sql.NullString
		updated sql.NullInt64
	)
	idDest, idDone := identityDest(&ts.Identity)
	resDest, resDone := residentDest(&ts.Resident)
	dest := make([]any, 0, len(idDest)+len(resDest)+4)
	dest = append(append(append(dest, idDest...), resDest...), &flow, &state, &updated, &seen)
	err = s.queryRowPrepared(ctx, startTurnSQL, key, channel, key, k.Channel, k.ExternalID).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil, nil
	}
	if err != nil {
		return false, false, nil, err
	}
	if seen {
		ts.Identity, ts.Resident = Identity{}, Resident{}
		return true, true, nil, nil
	}
	idDone()
	resDone()
	if flow.Valid {
		conv = &Conversation{ResidentID: ts.Resident.ID, Flow: flow.String, State: []byte(state.String), UpdatedAt: time.Unix(updated.Int64, 0)}
	}
	return true, false, conv, nil
}
