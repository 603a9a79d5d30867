-- Report orders_by_category.csv: distinct orders per category and sub-category.
-- Parameter ?: the ingestion date 'YYYY-MM-DD' (one day's loads, the daily report) or 'ALL' (all history).
SELECT
    category,
    sub_category,
    COUNT(DISTINCT order_id) AS order_count
FROM "${database}"."${table}"
WHERE ingest_date = COALESCE(NULLIF(?, 'ALL'), ingest_date)
GROUP BY category, sub_category
ORDER BY category ASC, sub_category ASC
