-- Ship-mode mix per customer segment: for each segment and ship mode, the distinct orders
-- with at least one line shipped that way, and their share of the segment's distinct orders.
-- pct_of_segment_orders = 100 * orders / segment_orders, where segment_orders counts each
-- order of the segment once, whatever its modes. An order whose lines carry two ship modes
-- counts once in segment_orders and once in each of its modes, so a segment's shares add up
-- to 100 only when every order has one mode (more than 100 otherwise). An order whose lines
-- carry two segments counts in both segments. Missing values are shown as '(missing)'.
-- Parameter ?: the ingestion date 'YYYY-MM-DD' (one day's loads) or 'ALL' (all history).
WITH lines AS (
    SELECT
        COALESCE(segment, '(missing)') AS segment,
        COALESCE(ship_mode, '(missing)') AS ship_mode,
        order_id
    FROM "${database}"."${table}"
    WHERE ingest_date = COALESCE(NULLIF(?, 'ALL'), ingest_date)
),
mix AS (
    SELECT
        segment,
        ship_mode,
        COUNT(DISTINCT order_id) AS orders,
        COUNT(*) AS order_lines
    FROM lines
    GROUP BY segment, ship_mode
),
segments AS (
    SELECT
        segment,
        COUNT(DISTINCT order_id) AS segment_orders
    FROM lines
    GROUP BY segment
)
SELECT
    mix.segment,
    mix.ship_mode,
    mix.orders,
    mix.order_lines,
    segments.segment_orders,
    ROUND(100 * CAST(mix.orders AS DOUBLE) / segments.segment_orders, 2) AS pct_of_segment_orders
FROM mix
INNER JOIN segments ON mix.segment = segments.segment
ORDER BY mix.segment ASC, mix.orders DESC, mix.ship_mode ASC
