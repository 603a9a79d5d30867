-- Report shipping_method_by_category.csv: per category, the ship mode used by the most
-- distinct orders. Lines without a ship mode (NULL) are not candidates; ties go to the
-- alphabetically first mode; a category whose lines all lack a ship mode has no row.
-- Parameter ?: the ingestion date 'YYYY-MM-DD' (one day's loads, the daily report) or 'ALL' (all history).
WITH mode_orders AS (
    SELECT
        category,
        ship_mode,
        COUNT(DISTINCT order_id) AS order_count
    FROM "${database}"."${table}"
    WHERE ingest_date = COALESCE(NULLIF(?, 'ALL'), ingest_date)
      AND ship_mode IS NOT NULL
    GROUP BY category, ship_mode
),
ranked AS (
    SELECT
        category,
        ship_mode,
        order_count,
        ROW_NUMBER() OVER (PARTITION BY category ORDER BY order_count DESC, ship_mode ASC) AS rank_in_category
    FROM mode_orders
)
SELECT
    category,
    ship_mode,
    order_count
FROM ranked
WHERE rank_in_category = 1
ORDER BY category ASC
