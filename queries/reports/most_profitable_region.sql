-- Report most_profitable_region.csv: every region by total profit, highest first.
-- Same rows as the Lambda's CSV: profit rounded to 2 decimals (half away from zero),
-- ties broken by region ascending.
-- Parameter ?: the ingestion date 'YYYY-MM-DD' (one day's loads, the daily report) or 'ALL' (all history).
SELECT
    region,
    ROUND(SUM(profit), 2) AS total_profit
FROM "${database}"."${table}"
WHERE ingest_date = COALESCE(NULLIF(?, 'ALL'), ingest_date)
GROUP BY region
ORDER BY total_profit DESC, region ASC
