-- Search tokens of each customer (words of the name, the e-mail and its parts,
-- phone digits forwards and backwards; see core::search). `?q=` matches token
-- prefixes with a range scan of the primary key instead of reading every
-- customer with LIKE. Filled by the workers as customers are created or
-- filled in; `crm migrate` indexes customers that existed before.
-- Byte order (COLLATE "C"), as in SQLite: a prefix's range ends at the
-- prefix followed by the highest character.
CREATE TABLE customer_search (
    token TEXT COLLATE "C" NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (token, customer_id)
);
CREATE INDEX customer_search_customer ON customer_search (customer_id);
