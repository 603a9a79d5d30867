-- Data quality per loaded source file (source_key) and ingestion date: rows loaded,
-- missing optional values, zero-priced lines, loss-making lines, order-date range.
-- Rows rejected at load time are not in the table: see rejects/ in the output bucket.
-- Parameter ?: the ingestion date 'YYYY-MM-DD' (one day's loads) or 'ALL' (all history).
SELECT
    ingest_date,
    source_key,
    COUNT(*) AS order_lines,
    COUNT(DISTINCT order_id) AS orders,
    COUNT_IF(ship_mode IS NULL) AS missing_ship_mode,
    COUNT_IF(segment IS NULL) AS missing_segment,
    COUNT_IF(product_id IS NULL) AS missing_product_id,
    COUNT_IF(postal_code IS NULL) AS missing_postal_code,
    COUNT_IF(list_price = 0) AS zero_priced_lines,
    COUNT_IF(cost_price = 0) AS zero_cost_lines,
    COUNT_IF(profit < 0) AS loss_lines,
    COUNT_IF(discount_percent > 0) AS discounted_lines,
    MIN(order_date) AS first_order_date,
    MAX(order_date) AS last_order_date,
    MAX(ingested_at) AS last_ingested_at
FROM "${database}"."${table}"
WHERE ingest_date = COALESCE(NULLIF(?, 'ALL'), ingest_date)
GROUP BY ingest_date, source_key
ORDER BY ingest_date ASC, source_key ASC
