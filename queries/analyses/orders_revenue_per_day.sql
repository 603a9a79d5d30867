-- Orders, lines, units, revenue and profit per order date.
-- Parameter ?: the ingestion date 'YYYY-MM-DD' (one day's loads) or 'ALL' (all history).
SELECT
    order_date,
    COUNT(DISTINCT order_id) AS orders,
    COUNT(*) AS order_lines,
    SUM(quantity) AS units,
    ROUND(SUM(list_price * (1 - discount_percent / 100) * quantity), 2) AS revenue,
    ROUND(SUM(profit), 2) AS profit
FROM "${database}"."${table}"
WHERE ingest_date = COALESCE(NULLIF(?, 'ALL'), ingest_date)
GROUP BY order_date
ORDER BY order_date ASC
