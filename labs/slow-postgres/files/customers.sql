-- The shop's customers (ids 1 to 40000), from the instance's seed.
SELECT c::integer AS id,
       f || ' ' || s AS name,
       lower(f) || '.' || lower(s) || c || '@example.com' AS email,
       (ARRAY['DE', 'FR', 'NL', 'BE', 'AT', 'ES', 'IT', 'PL', 'SE', 'DK'])[1 + ((h >> 20) & 1023) % 10]::char(2) AS country,
       timestamptz '2019-01-01 00:00:00+00' + make_interval(days => ((h >> 30) & 4095)::integer % 1600) AS created_at
FROM generate_series(1, 40000) AS c,
     LATERAL (SELECT hashint8extended(c, __SEED__ + 4) AS h) AS x,
     LATERAL (SELECT (ARRAY['Anna', 'Ben', 'Chloe', 'David', 'Elif', 'Farid', 'Greta', 'Hugo', 'Ines', 'Jonas', 'Karin', 'Luca', 'Marta', 'Nils', 'Olga', 'Pablo', 'Queenie', 'Rasmus', 'Sofia', 'Tomasz', 'Ute', 'Viktor', 'Wiebke', 'Yusuf'])[1 + (h & 1023) % 24] AS f,
                     (ARRAY['Andersen', 'Bauer', 'Costa', 'Dubois', 'Eriksson', 'Fischer', 'Garcia', 'Hansen', 'Ivanova', 'Jansen', 'Kowalski', 'Lambert', 'Meyer', 'Nowak', 'Olsen', 'Peeters', 'Rossi', 'Schmidt', 'Thomas', 'Urban', 'Vogel', 'Weber', 'Yilmaz', 'Zimmermann'])[1 + ((h >> 10) & 1023) % 24] AS s) AS n
