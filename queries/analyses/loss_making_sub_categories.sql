-- Sub-categories whose total profit is negative, biggest loss first, with how often
-- their lines lose money and how deep their discounts go.
-- Parameter ?: the ingestion date 'YYYY-MM-DD' (one day's loads) or 'ALL' (all history).
WITH lines AS (
    SELECT
        category,
        sub_category,
        order_id,
        discount_percent,
        list_price * (1 - discount_percent / 100) * quantity AS revenue,
        profit
    FROM "${database}"."${table}"
    WHERE ingest_date = COALESCE(NULLIF(?, 'ALL'), ingest_date)
)
SELECT
    category,
    sub_category,
    COUNT(DISTINCT order_id) AS orders,
    COUNT(*) AS order_lines,
    COUNT_IF(profit < 0) AS loss_lines,
    ROUND(SUM(revenue), 2) AS revenue,
    ROUND(SUM(profit), 2) AS total_profit,
    ROUND(100 * SUM(profit) / NULLIF(SUM(revenue), 0), 2) AS margin_pct,
    ROUND(AVG(discount_percent), 2) AS avg_discount_percent
FROM lines
GROUP BY category, sub_category
HAVING SUM(profit) < 0
ORDER BY total_profit ASC, category ASC, sub_category ASC
