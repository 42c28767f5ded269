// Package tgfake is a fake Telegram Bot API on httptest for tests of code
// that uses github.com/go-telegram/bot. It checks what the real API checks
// where a community desk bot can trip (parameters, reply targets, inline
// buttons, command lists, webhooks, flood limits, blocked users) and
// answers with the real error codes and descriptions, and it records every
// call so a test can assert on what was sent and wait for it without
// sleeping.
//
//	f := tgfake.New()
//	t.Cleanup(f.Close)
//	b, _ := bot.New(f.Token(), bot.WithServerURL(f.URL()), bot.WithSkipGetMe())
//	f.Push(f.TextUpdate(1001, 1001, "报修"))      // for getUpdates
//	sent, err := f.WaitSent(ctx, 1001, 1)         // what the resident got
//
// # The world it keeps
//
// Each chat has one message-id sequence shared by incoming messages (made
// by the update helpers or pushed) and the bot's own, as in Telegram, so
// replies, edits, deletions and callback queries refer to messages that
// exist. Positive chat ids are private chats, ids at or below
// -1000000000000 supergroups, other negative ids basic groups (SetChat
// overrides). Photos made by PhotoUpdate or uploaded with sendPhoto are
// real JPEG/PNG data served through getFile and /file/bot<token>/<path>.
//
// # Faults and limits
//
// FailNext injects API errors (429 with retry_after, 5xx, …), FailNextHTTP
// a proxy's non-JSON answer, BlockChat the 403 of a user who blocked the
// bot, MigrateChat the 400 of a group that became a supergroup.
// EnableRateLimits turns on Telegram's flood limits (off by default),
// counted on the clock given with WithClock.
//
// # What go-telegram/bot v1.19.0 does (read from its source, pinned by
// this package's tests)
//
//   - Requests: every method is a POST with multipart/form-data, even
//     without parameters (then the body is empty). Values are JSON-encoded
//     with surrounding quotes trimmed; a nil ChatID goes as "null" (the API
//     answers "chat not found"), a nil InputFile likewise. Every
//     InlineKeyboardButton carries "copy_text":{"text":""} (a struct field,
//     so omitempty does nothing); the real API ignores it.
//   - bot.New calls getMe (5 s, WithCheckInitTimeout) unless WithSkipGetMe;
//     failure is "error call getMe, %w".
//   - Base URL and client: WithServerURL(url) (requests go to
//     url/bot<token>/<method>, downloads to url/file/bot<token>/<path>);
//     WithHTTPClient(pollTimeout, client) takes any Do(*http.Request)
//     and also sets the long-poll timeout: getUpdates asks for pollTimeout
//     minus one second, so the client's own timeout must exceed it.
//   - Errors: 403 → fmt.Errorf("%w, %s", bot.ErrorForbidden, description),
//     so errors.Is(err, bot.ErrorForbidden) and the reason (blocked,
//     kicked, deactivated) only in the text. 400 → bot.ErrorBadRequest the
//     same way, except with migrate_to_chat_id → *bot.MigrateError (not
//     wrapping ErrorBadRequest). 401, 404, 409 → ErrorUnauthorized,
//     ErrorNotFound, ErrorConflict. Other codes (5xx) → an untyped error
//     with the code in its text; a non-JSON answer → "error decode
//     response body".
//   - 429 → *bot.TooManyRequestsError{Message, RetryAfter} (RetryAfter in
//     seconds), returned unwrapped. It does not wrap
//     bot.ErrorTooManyRequests, and bot.IsTooManyRequestsError is a plain
//     type assertion that fails once the error is wrapped: use errors.As.
//     The library never retries a call. Its polling loop backs off 0.1 s
//     doubling to 5 s after any error and ignores retry_after.
//   - Webhook: WebhookHandler answers 200 with an empty body on a wrong
//     secret (it only calls the errors handler), on an undecodable body,
//     and before the update is handled; it reads the body without a size
//     limit and does not check the HTTP method. Wrap it (401, 413) or
//     decode updates yourself and call ProcessUpdate.
//   - Handlers: ProcessUpdate starts a goroutine per update, so handlers
//     run concurrently and in no order, even within one chat, and nothing
//     recovers a panic. WithNotAsyncHandlers runs them in the worker
//     goroutine (WithWorkers, default 1): serial, but one slow handler then
//     holds up every chat.
//   - MatchTypeCommand compares the text of the bot_command entity after
//     the "/", so "/open@linli_bot" does not match "open"; entity offsets
//     are UTF-16 units but are used as byte offsets, so any non-ASCII text
//     before the command makes it miss. MatchTypePrefix "/open" also
//     matches "/opened". Match commands with RegisterHandlerMatchFunc.
//   - Polling confirms an update (next offset) once it is queued in
//     memory, before its handler ran: a crash loses queued updates unless
//     the handler stored them first.
//   - The default handler and errors handler log with the standard log
//     package, the default handler whole updates (residents' messages);
//     WithDebug logs request payloads. Set both handlers.
package tgfake
