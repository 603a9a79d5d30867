-- BI view of the shipping_method_by_category report, for every ingestion date: per day
-- and category, the ship mode of the most distinct orders (NULL modes are not
-- candidates, ties go to the alphabetically first mode).
-- WHERE ingest_date = 'YYYY-MM-DD' ORDER BY category gives that day's CSV.
CREATE OR REPLACE VIEW "${database}"."v_report_shipping_method_by_category" AS
WITH mode_orders AS (
    SELECT
        ingest_date,
        category,
        ship_mode,
        COUNT(DISTINCT order_id) AS order_count
    FROM "${database}"."${table}"
    WHERE ship_mode IS NOT NULL
    GROUP BY ingest_date, category, ship_mode
),
ranked AS (
    SELECT
        ingest_date,
        category,
        ship_mode,
        order_count,
        ROW_NUMBER() OVER (
            PARTITION BY ingest_date, category ORDER BY order_count DESC, ship_mode ASC
        ) AS rank_in_category
    FROM mode_orders
)
SELECT
    ingest_date,
    category,
    ship_mode,
    order_count
FROM ranked
WHERE rank_in_category = 1
