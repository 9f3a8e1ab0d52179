-- Channels: merchant accounts (secrets sealed under the master key), which channels each fee
-- item accepts and into which merchant account, what the payer's browser does to pay, campus
-- cards, and imported offline collections.

CREATE TABLE merchant_accounts (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    merchant_no TEXT NOT NULL,
    name TEXT NOT NULL,
    -- Non-secret settings (base URL, app id, public keys), JSON.
    settings TEXT NOT NULL,
    -- Private keys and API keys: AES-256-GCM sealed JSON under the master key, never plain.
    sealed_secrets TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (channel, merchant_no)
);

CREATE TABLE fee_item_channels (
    fee_item_id TEXT NOT NULL REFERENCES fee_items(id),
    channel TEXT NOT NULL,
    merchant_account_id TEXT NOT NULL REFERENCES merchant_accounts(id),
    PRIMARY KEY (fee_item_id, channel)
);

-- JSON of what the payer's browser does next (QR, redirect, auto-posted form, JSAPI sheet).
ALTER TABLE payments ADD COLUMN pay_action TEXT;

CREATE TABLE campus_cards (
    card_no TEXT PRIMARY KEY,
    payer_id TEXT NOT NULL UNIQUE REFERENCES payers(id),
    password_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    locked_until_ms BIGINT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE offline_imports (
    id TEXT PRIMARY KEY,
    file_name TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    row_count BIGINT NOT NULL,
    imported BIGINT NOT NULL,
    already_imported BIGINT NOT NULL,
    operator_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
