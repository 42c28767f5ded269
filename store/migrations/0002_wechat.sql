-- 0002 wechat: find an outbox row by the id its provider gave (template msgid) when the delivery report arrives.
CREATE INDEX outbox_provider_id ON outbox (provider, provider_id);
