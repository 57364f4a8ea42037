-- Search tokens of each customer (words of the name, the e-mail and its parts,
-- phone digits forwards and backwards; see core::search). `?q=` matches token
-- prefixes with a range scan of the primary key instead of reading every
-- customer with LIKE. Filled by the workers as customers are created or
-- filled in; `crm migrate` indexes customers that existed before.
CREATE TABLE customer_search (
    token TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (token, customer_id)
);
CREATE INDEX customer_search_customer ON customer_search (customer_id);
