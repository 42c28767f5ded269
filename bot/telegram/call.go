package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// The calls every update makes (sendMessage, sendPhoto by file_id or URL,
// answerCallbackQuery, editMessageReplyMarkup) go to the Bot API as JSON,
// which it accepts for every method without a file upload. go-telegram/bot
// streams each call as a multipart form through a pipe and a goroutine
// with chunked encoding; for a reply of a few hundred bytes that was a
// third of an update's CPU in BenchmarkTelegramUpdate. The library's
// parameter and result types are kept, and call returns the same error
// values its methods do (ErrorForbidden, ErrorBadRequest,
// TooManyRequestsError, MigrateError, …), so classify and retry treat both
// paths alike. Long polling (getUpdates, which the library does not offer
// on its own) is a call too; setup calls (commands, webhook) still go
// through the library.

// maxAnswer bounds a Bot API answer read into memory: a message's JSON is
// a few kilobytes, a getUpdates answer at most 100 updates of that.
const maxAnswer = 16 << 20

// apiAnswer is the Bot API's envelope.
type apiAnswer struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	Description string          `json:"description"`
	ErrorCode   int             `json:"error_code"`
	Parameters  struct {
		RetryAfter      int `json:"retry_after"`
		MigrateToChatID int `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// call posts params as JSON to method through client and decodes the
// result into dest (nil: the result is not needed). Errors never contain
// the token.
func (c *Channel) call(ctx context.Context, client *http.Client, method string, params, dest any) error {
	body, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("error encode request for method %s, %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/bot"+c.cfg.Token+"/"+method, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("error create request for method %s, %s", method, c.redact(err.Error()))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = c.redact(ue.URL)
		}
		return fmt.Errorf("error do request for method %s, %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("error read response body for method %s, %w", method, err)
	}
	var a apiAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		// A proxy's error page, say: temporary for classify.
		return fmt.Errorf("error decode response body for method %s, HTTP %d: %w", method, resp.StatusCode, err)
	}
	if !a.OK {
		return answerError(method, a)
	}
	if dest == nil {
		return nil
	}
	if err := json.Unmarshal(a.Result, dest); err != nil {
		return fmt.Errorf("error decode response result for method %s, %w", method, err)
	}
	return nil
}

// answerError is the error go-telegram/bot returns for the same answer.
func answerError(method string, a apiAnswer) error {
	switch a.ErrorCode {
	case http.StatusForbidden:
		return fmt.Errorf("%w, %s", tgbot.ErrorForbidden, a.Description)
	case http.StatusBadRequest:
		if a.Parameters.MigrateToChatID != 0 {
			return &tgbot.MigrateError{Message: fmt.Sprintf("%s: %s", tgbot.ErrorBadRequest, a.Description), MigrateToChatID: a.Parameters.MigrateToChatID}
		}
		return fmt.Errorf("%w, %s", tgbot.ErrorBadRequest, a.Description)
	case http.StatusUnauthorized:
		return fmt.Errorf("%w, %s", tgbot.ErrorUnauthorized, a.Description)
	case http.StatusNotFound:
		return fmt.Errorf("%w, %s", tgbot.ErrorNotFound, a.Description)
	case http.StatusConflict:
		return fmt.Errorf("%w, %s", tgbot.ErrorConflict, a.Description)
	case http.StatusTooManyRequests:
		return &tgbot.TooManyRequestsError{Message: fmt.Sprintf("%s, %s", tgbot.ErrorTooManyRequests, a.Description), RetryAfter: a.Parameters.RetryAfter}
	}
	return fmt.Errorf("error response from telegram for method %s, %d %s", method, a.ErrorCode, a.Description)
}

func (c *Channel) sendMessage(ctx context.Context, p *tgbot.SendMessageParams) (*models.Message, error) {
	m := new(models.Message)
	if err := c.call(ctx, c.opt.HTTPClient, "sendMessage", p, m); err != nil {
		return nil, err
	}
	return m, nil
}

// sendPhoto sends a photo by file_id or URL (linli never uploads one).
func (c *Channel) sendPhoto(ctx context.Context, p *tgbot.SendPhotoParams) (*models.Message, error) {
	ref, ok := p.Photo.(*models.InputFileString)
	if !ok {
		return c.api.SendPhoto(ctx, p) // an upload needs the multipart form
	}
	// InputFileString's own MarshalJSON quotes without escaping: a URL with
	// a quote or a backslash would fail to encode or arrive changed.
	params := struct {
		*tgbot.SendPhotoParams
		Photo string `json:"photo"`
	}{p, ref.Data}
	m := new(models.Message)
	if err := c.call(ctx, c.opt.HTTPClient, "sendPhoto", params, m); err != nil {
		return nil, err
	}
	return m, nil
}

func (c *Channel) answerCallback(ctx context.Context, p *tgbot.AnswerCallbackQueryParams) error {
	return c.call(ctx, c.opt.HTTPClient, "answerCallbackQuery", p, nil)
}

func (c *Channel) editReplyMarkup(ctx context.Context, p *tgbot.EditMessageReplyMarkupParams) error {
	return c.call(ctx, c.opt.HTTPClient, "editMessageReplyMarkup", p, nil)
}
