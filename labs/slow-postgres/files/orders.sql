-- The shop's orders, generated from the instance's seed (break.py loads them;
-- the checks regenerate them to prove the data and the answers unchanged).
-- __IDS__: a set of order ids (generate_series(1, 1200000) for the full table).
-- __SEED__: the instance's seed, an integer expression.
SELECT i::bigint AS id,
       (1 + (h & 2147483647) % 40000)::integer AS customer_id,
       timestamptz '2023-06-01 00:00:00+00' + make_interval(secs => i * 60 + ((h >> 31) & 63) % 60) AS placed_at,
       (ARRAY['delivered', 'delivered', 'delivered', 'delivered', 'delivered', 'shipped', 'shipped', 'processing', 'cancelled', 'refunded'])[1 + ((h >> 37) & 1023) % 10] AS status,
       (ARRAY['web', 'web', 'web', 'app', 'app', 'phone', 'marketplace'])[1 + (g & 1023) % 7] AS channel,
       'EUR'::char(3) AS currency,
       (499 + ((h >> 47) & 65535) % 40000)::integer AS total_cents,
       (ARRAY['DE', 'FR', 'NL', 'BE', 'AT', 'ES', 'IT', 'PL', 'SE', 'DK'])[1 + ((g >> 10) & 1023) % 10]::char(2) AS shipping_country
FROM __IDS__ AS i,
     LATERAL (SELECT hashint8extended(i, __SEED__) AS h, hashint8extended(i, __SEED__ + 1) AS g) AS x
