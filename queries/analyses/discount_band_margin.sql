-- Effect of discount on margin: lines grouped by discount band.
-- Bands: 0%, (0-10], (10-20], (20-30], (30-50], over 50%.
-- Parameter ?: the ingestion date 'YYYY-MM-DD' (one day's loads) or 'ALL' (all history).
WITH lines AS (
    SELECT
        CASE
            WHEN discount_percent <= 0 THEN 0
            WHEN discount_percent <= 10 THEN 1
            WHEN discount_percent <= 20 THEN 2
            WHEN discount_percent <= 30 THEN 3
            WHEN discount_percent <= 50 THEN 4
            ELSE 5
        END AS band,
        discount_percent,
        list_price * (1 - discount_percent / 100) * quantity AS revenue,
        list_price * quantity * discount_percent / 100 AS discount_amount,
        profit
    FROM "${database}"."${table}"
    WHERE ingest_date = COALESCE(NULLIF(?, 'ALL'), ingest_date)
)
SELECT
    CASE band
        WHEN 0 THEN '0%'
        WHEN 1 THEN '0-10%'
        WHEN 2 THEN '10-20%'
        WHEN 3 THEN '20-30%'
        WHEN 4 THEN '30-50%'
        ELSE 'over 50%'
    END AS discount_band,
    COUNT(*) AS order_lines,
    COUNT_IF(profit < 0) AS loss_lines,
    ROUND(AVG(discount_percent), 2) AS avg_discount_percent,
    ROUND(SUM(revenue), 2) AS revenue,
    ROUND(SUM(discount_amount), 2) AS discount_amount,
    ROUND(SUM(profit), 2) AS profit,
    ROUND(100 * SUM(profit) / NULLIF(SUM(revenue), 0), 2) AS margin_pct
FROM lines
GROUP BY band
ORDER BY band ASC
