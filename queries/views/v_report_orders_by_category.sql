-- BI view of the orders_by_category report, for every ingestion date.
-- WHERE ingest_date = 'YYYY-MM-DD' ORDER BY category, sub_category gives that day's CSV.
CREATE OR REPLACE VIEW "${database}"."v_report_orders_by_category" AS
SELECT
    ingest_date,
    category,
    sub_category,
    COUNT(DISTINCT order_id) AS order_count
FROM "${database}"."${table}"
GROUP BY ingest_date, category, sub_category
