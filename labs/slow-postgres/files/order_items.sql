-- The lines of the orders in __IDS__ (1 to 3 per order), from the instance's seed.
SELECT (o * 4 + l)::bigint AS id,
       o::bigint AS order_id,
       l::smallint AS line_no,
       'SKU-' || lpad(((k & 65535) % 5000)::text, 5, '0') AS sku,
       (1 + ((k >> 16) & 3))::smallint AS quantity,
       (199 + ((k >> 18) & 65535) % 9000)::integer AS unit_price_cents
FROM __IDS__ AS o,
     LATERAL generate_series(1, 1 + ((hashint8extended(o, __SEED__ + 2) & 255) % 3)::integer) AS l,
     LATERAL (SELECT hashint8extended(o * 4 + l, __SEED__ + 3) AS k) AS y
