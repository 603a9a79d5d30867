-- BI view of the most_profitable_region report, for every ingestion date.
-- WHERE ingest_date = 'YYYY-MM-DD' ORDER BY total_profit DESC, region gives that day's CSV.
CREATE OR REPLACE VIEW "${database}"."v_report_most_profitable_region" AS
SELECT
    ingest_date,
    region,
    ROUND(SUM(profit), 2) AS total_profit
FROM "${database}"."${table}"
GROUP BY ingest_date, region
