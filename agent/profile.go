package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/atoauth/atoauth/scope"
	"github.com/atoauth/atoauth/xrpc"
)

// Profile is the account's app.bsky.actor.profile record (record key
// "self"). Fields this type does not name — pinnedPost, labels, pronouns,
// website, joinedViaStarterPack and any future ones — are kept in Other,
// so that an update preserves them.
type Profile struct {
	DisplayName string
	Description string
	// Avatar is the profile picture (PNG or JPEG, at most 1,000,000 bytes).
	Avatar *Blob
	// Banner is the wide image behind the profile.
	Banner    *Blob
	CreatedAt string
	// Other holds every other field of the record, as JSON.
	Other map[string]json.RawMessage
}

// Avatar limits of the app.bsky.actor.profile lexicon.
const maxAvatarSize = 1_000_000

// MarshalJSON encodes the record with its $type.
func (p Profile) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(p.Other)+6)
	for k, v := range p.Other {
		m[k] = v
	}
	m["$type"] = "app.bsky.actor.profile"
	set := func(k string, v any, present bool) {
		if present {
			m[k] = v
		} else {
			delete(m, k)
		}
	}
	set("displayName", p.DisplayName, p.DisplayName != "")
	set("description", p.Description, p.Description != "")
	set("avatar", p.Avatar, p.Avatar != nil)
	set("banner", p.Banner, p.Banner != nil)
	set("createdAt", p.CreatedAt, p.CreatedAt != "")
	return json.Marshal(m)
}

// UnmarshalJSON decodes the record, keeping unknown fields in Other.
func (p *Profile) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*p = Profile{}
	take := func(k string, v any) error {
		raw, ok := m[k]
		if !ok {
			return nil
		}
		delete(m, k)
		if err := json.Unmarshal(raw, v); err != nil {
			return fmt.Errorf("agent: profile field %q: %w", k, err)
		}
		return nil
	}
	if err := errors.Join(
		take("displayName", &p.DisplayName),
		take("description", &p.Description),
		take("avatar", &p.Avatar),
		take("banner", &p.Banner),
		take("createdAt", &p.CreatedAt),
	); err != nil {
		return err
	}
	delete(m, "$type")
	if len(m) > 0 {
		p.Other = m
	}
	return nil
}

// GetProfileRecord reads the account's profile record and its CID. An
// account without one gives an error matching xrpc.ErrRecordNotFound.
func (a *Agent) GetProfileRecord(ctx context.Context) (*Profile, string, error) {
	rec, err := a.GetRecord(ctx, "", "app.bsky.actor.profile", "self")
	if err != nil {
		return nil, "", err
	}
	var p Profile
	if err := rec.Decode(&p); err != nil {
		return nil, "", err
	}
	return &p, rec.CID, nil
}

// maxProfileAttempts bounds UpdateProfile's read-modify-write loop.
const maxProfileAttempts = 3

// UpdateProfile changes the account's profile: it reads the record (or
// starts an empty one), calls update on it, and writes it back with
// putRecord and swapRecord, so that a concurrent change is never
// overwritten — on xrpc.ErrInvalidSwap it reads again and calls update
// again, up to three times. It needs repo:app.bsky.actor.profile with
// create and update.
func (a *Agent) UpdateProfile(ctx context.Context, update func(p *Profile) error) (*WriteResult, error) {
	if err := a.xc.Check(scope.NeedRepo("app.bsky.actor.profile", "create"), scope.NeedRepo("app.bsky.actor.profile", "update")); err != nil {
		return nil, err
	}
	var lastErr error
	for range maxProfileAttempts {
		p, cid, err := a.GetProfileRecord(ctx)
		opts := &WriteOptions{SwapRecord: cid}
		switch {
		case errors.Is(err, xrpc.ErrRecordNotFound):
			p = &Profile{CreatedAt: a.timestamp()}
			opts = &WriteOptions{SwapRecordAbsent: true}
		case err != nil:
			return nil, err
		}
		if err := update(p); err != nil {
			return nil, err
		}
		res, err := a.PutRecord(ctx, "app.bsky.actor.profile", "self", p, opts)
		if errors.Is(err, xrpc.ErrInvalidSwap) {
			lastErr = err
			continue
		}
		return res, err
	}
	return nil, fmt.Errorf("agent: the profile kept changing during the update: %w", lastErr)
}

// SetAvatar uploads a profile picture (PNG or JPEG, at most 1,000,000
// bytes; mimeType "" sniffs it) and makes it the account's avatar with
// UpdateProfile. It needs blob:<type> and repo:app.bsky.actor.profile
// with create and update.
func (a *Agent) SetAvatar(ctx context.Context, r io.Reader, mimeType string) (*Blob, error) {
	data, mt, err := a.readBlob(r, mimeType)
	if err != nil {
		return nil, err
	}
	if mt != "image/png" && mt != "image/jpeg" {
		return nil, fmt.Errorf("agent: an avatar must be image/png or image/jpeg, not %s", mt)
	}
	if len(data) > maxAvatarSize {
		return nil, fmt.Errorf("agent: an avatar must be at most %d bytes, not %d: %w", maxAvatarSize, len(data), xrpc.ErrTooLarge)
	}
	if err := a.xc.Check(scope.NeedBlob(mt), scope.NeedRepo("app.bsky.actor.profile", "create"), scope.NeedRepo("app.bsky.actor.profile", "update")); err != nil {
		return nil, err
	}
	blob, err := a.uploadBytes(ctx, data, mt)
	if err != nil {
		return nil, err
	}
	if _, err := a.UpdateProfile(ctx, func(p *Profile) error { p.Avatar = blob; return nil }); err != nil {
		return nil, err
	}
	return blob, nil
}
