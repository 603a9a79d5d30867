-- Profit and margin by region and order month.
-- revenue = list_price * (1 - discount_percent / 100) * quantity (after discount);
-- margin_pct = 100 * profit / revenue (NULL when revenue is 0).
-- Parameter ?: the ingestion date 'YYYY-MM-DD' (one day's loads) or 'ALL' (all history).
WITH lines AS (
    SELECT
        region,
        date_format(order_date, '%Y-%m') AS order_month,
        order_id,
        quantity,
        list_price * (1 - discount_percent / 100) * quantity AS revenue,
        profit
    FROM "${database}"."${table}"
    WHERE ingest_date = COALESCE(NULLIF(?, 'ALL'), ingest_date)
)
SELECT
    region,
    order_month,
    COUNT(DISTINCT order_id) AS orders,
    SUM(quantity) AS units,
    ROUND(SUM(revenue), 2) AS revenue,
    ROUND(SUM(profit), 2) AS profit,
    ROUND(100 * SUM(profit) / NULLIF(SUM(revenue), 0), 2) AS margin_pct
FROM lines
GROUP BY region, order_month
ORDER BY region ASC, order_month ASC
