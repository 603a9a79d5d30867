-- Ship-mode mix per customer segment: distinct orders per ship mode and their share
-- of the segment's orders. Missing values are shown as '(missing)'.
-- Scope: ingest_date = 'YYYY-MM-DD' (one day's loads) or 'ALL' (all history).
WITH mix AS (
    SELECT
        COALESCE(segment, '(missing)') AS segment,
        COALESCE(ship_mode, '(missing)') AS ship_mode,
        COUNT(DISTINCT order_id) AS orders,
        COUNT(*) AS order_lines
    FROM "${database}"."${table}"
    WHERE ('${ingest_date}' = 'ALL' OR ingest_date = '${ingest_date}')
    GROUP BY COALESCE(segment, '(missing)'), COALESCE(ship_mode, '(missing)')
)
SELECT
    segment,
    ship_mode,
    orders,
    order_lines,
    ROUND(100 * CAST(orders AS DOUBLE) / SUM(orders) OVER (PARTITION BY segment), 2) AS pct_of_segment_orders
FROM mix
ORDER BY segment ASC, orders DESC, ship_mode ASC
