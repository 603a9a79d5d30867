-- The 20 products with the highest total profit (lines without a product_id are left out).
-- Parameter ?: the ingestion date 'YYYY-MM-DD' (one day's loads) or 'ALL' (all history).
WITH lines AS (
    SELECT
        product_id,
        category,
        sub_category,
        order_id,
        quantity,
        list_price * (1 - discount_percent / 100) * quantity AS revenue,
        profit
    FROM "${database}"."${table}"
    WHERE ingest_date = COALESCE(NULLIF(?, 'ALL'), ingest_date)
      AND product_id IS NOT NULL
)
SELECT
    product_id,
    category,
    sub_category,
    COUNT(DISTINCT order_id) AS orders,
    SUM(quantity) AS units,
    ROUND(SUM(revenue), 2) AS revenue,
    ROUND(SUM(profit), 2) AS total_profit,
    ROUND(100 * SUM(profit) / NULLIF(SUM(revenue), 0), 2) AS margin_pct
FROM lines
GROUP BY product_id, category, sub_category
ORDER BY total_profit DESC, product_id ASC, category ASC, sub_category ASC
LIMIT 20
