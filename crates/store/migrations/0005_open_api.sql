-- The open API for business systems: registered applications (secrets sealed; a rotated secret
-- keeps working until its overlap ends), request nonces (replay protection), idempotency keys,
-- orders created through the API (with their hosted-cashier token), receivables pushed in bulk,
-- and webhook events with every delivery attempt.

CREATE TABLE api_apps (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    sealed_previous_secret TEXT,
    previous_valid_until_ms BIGINT,
    rsa_public_key_pem TEXT,
    notify_url TEXT NOT NULL,
    return_url TEXT NOT NULL,
    ip_allowlist TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE api_app_items (
    app_id TEXT NOT NULL REFERENCES api_apps(id),
    fee_item_id TEXT NOT NULL REFERENCES fee_items(id),
    PRIMARY KEY (app_id, fee_item_id)
);

CREATE TABLE api_nonces (
    app_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    seen_at_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, nonce)
);
CREATE INDEX api_nonces_seen ON api_nonces (seen_at_ms);

CREATE TABLE api_idempotency (
    app_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status BIGINT NOT NULL,
    response TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, idem_key)
);

CREATE TABLE api_orders (
    order_id TEXT PRIMARY KEY REFERENCES orders(id),
    app_id TEXT NOT NULL REFERENCES api_apps(id),
    out_order_no TEXT NOT NULL,
    cashier_token TEXT NOT NULL UNIQUE,
    return_url TEXT NOT NULL,
    description TEXT NOT NULL,
    metadata TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (app_id, out_order_no)
);
CREATE INDEX api_orders_app ON api_orders (app_id, order_id);

CREATE TABLE api_receivable_refs (
    app_id TEXT NOT NULL REFERENCES api_apps(id),
    ref TEXT NOT NULL,
    receivable_id TEXT NOT NULL REFERENCES receivables(id),
    PRIMARY KEY (app_id, ref)
);

CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES api_apps(id),
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT,
    delivered_at_ms BIGINT,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX webhook_events_app ON webhook_events (app_id, created_at_ms);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES webhook_events(id),
    attempt BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    status_code BIGINT,
    error TEXT NOT NULL,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id, attempt);
