-- The intake spine: accounts, pipeline, inbound events, customers and everything hung on them.
-- Same schema as migrations/sqlite/0001_intake_spine.sql; only BLOB/BYTEA differ.
-- Ids are TEXT (ULIDs from Rust), times BIGINT unix milliseconds, JSON as TEXT.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE pipelines (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    is_default BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE stages (
    id TEXT PRIMARY KEY,
    pipeline_id TEXT NOT NULL,
    name TEXT NOT NULL,
    position BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX stages_pipeline ON stages (pipeline_id, position);

-- Every webhook / intake request, committed before we answer 2xx. It is the outbox
-- the sweeper re-pushes from, and the place a bad payload is kept for inspection.
CREATE TABLE inbound_events (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    content_type TEXT,
    body BYTEA NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    received_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    processed_at BIGINT
);
CREATE INDEX inbound_events_status ON inbound_events (status, next_attempt_at);
CREATE INDEX inbound_events_received ON inbound_events (received_at, id);

CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    name TEXT,
    phone TEXT,
    email TEXT,
    wa_id TEXT,
    owner_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX customers_created ON customers (created_at, id);
CREATE INDEX customers_phone ON customers (phone);
CREATE INDEX customers_email ON customers (email);

-- Natural keys that identify a person: phone keys, e-mail, WhatsApp BSUID,
-- Messenger PSID, Instagram IGSID. The primary key is what makes
-- "50 simultaneous leads for one new number make exactly one customer" hold.
CREATE TABLE customer_identities (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX customer_identities_customer ON customer_identities (customer_id);

CREATE TABLE possible_duplicates (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    other_customer_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    created_at BIGINT NOT NULL,
    UNIQUE (customer_id, other_customer_id)
);

CREATE TABLE cards (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    pipeline_id TEXT NOT NULL,
    stage_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (customer_id, pipeline_id)
);
CREATE INDEX cards_stage ON cards (stage_id, customer_id);

CREATE TABLE leads (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    event_id TEXT,
    received_at BIGINT NOT NULL,
    name TEXT,
    phone TEXT,
    email TEXT,
    message TEXT,
    utm_source TEXT,
    utm_medium TEXT,
    utm_campaign TEXT,
    utm_content TEXT,
    utm_term TEXT,
    campaign_id TEXT,
    campaign_name TEXT,
    adset_id TEXT,
    adset_name TEXT,
    ad_id TEXT,
    ad_name TEXT,
    form_id TEXT,
    page_id TEXT,
    ctwa_clid TEXT,
    fbclid TEXT,
    gclid TEXT,
    consent BIGINT,
    answers TEXT NOT NULL DEFAULT '{}',
    UNIQUE (source, external_id)
);
CREATE INDEX leads_customer ON leads (customer_id, received_at);
CREATE INDEX leads_source ON leads (source, customer_id);
CREATE INDEX leads_campaign ON leads (campaign_id);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    account_id TEXT NOT NULL,
    contact_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_message_at BIGINT NOT NULL,
    UNIQUE (channel, account_id, contact_key)
);
CREATE INDEX conversations_customer ON conversations (customer_id, last_message_at);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT,
    payload TEXT NOT NULL,
    status TEXT,
    status_rank BIGINT NOT NULL DEFAULT 0,
    status_at BIGINT,
    error_code BIGINT,
    sent_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX messages_conversation ON messages (conversation_id, sent_at);

-- Every delivery status seen, once per (message, status), even for messages we
-- do not know yet: an out-of-order status is applied when its message appears.
CREATE TABLE message_statuses (
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    status TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    error_code BIGINT,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (channel, external_id, status)
);

CREATE TABLE timeline (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    natural_key TEXT NOT NULL,
    summary TEXT,
    data TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (kind, natural_key)
);
CREATE INDEX timeline_customer ON timeline (customer_id, occurred_at);

CREATE TABLE lead_forms (
    form_id TEXT PRIMARY KEY,
    backfilled_until BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- One scheduler replica fires each tick: it holds the lease.
CREATE TABLE scheduler_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
