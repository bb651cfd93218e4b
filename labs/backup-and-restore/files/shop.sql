-- The shop database as the team runs it: customers and their orders.
CREATE TABLE customers (
    id      serial PRIMARY KEY,
    name    text NOT NULL,
    email   text NOT NULL UNIQUE
);
CREATE TABLE orders (
    id          serial PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id),
    item        text NOT NULL,
    cents       integer NOT NULL CHECK (cents > 0),
    placed_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO customers (name, email) VALUES
    ('Ada Lovelace', 'ada@example.test'),
    ('Grace Hopper', 'grace@example.test'),
    ('Ken Thompson', 'ken@example.test');
INSERT INTO orders (customer_id, item, cents) VALUES
    (1, 'analytical engine oil', 1250),
    (2, 'compiler manual', 3900),
    (3, 'teletype ribbon', 800),
    (1, 'punched cards (box)', 2200);
