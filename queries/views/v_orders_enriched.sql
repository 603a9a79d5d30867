-- BI view: one row per order line with the measures analysts ask for.
--   order_year, order_month (1-12), order_year_month ('YYYY-MM'), order_month_start (DATE)
--   gross_revenue   = list_price * quantity (before discount)
--   discount_amount = gross_revenue * discount_percent / 100
--   revenue         = gross_revenue - discount_amount (after discount)
--   cost            = cost_price * quantity
--   profit          = revenue - cost (the table's column)
--   margin          = profit / revenue, a fraction (NULL when revenue is 0)
--   discount_band   = '0%', '0-10%', '10-20%', '20-30%', '30-50%', 'over 50%'
CREATE OR REPLACE VIEW "${database}"."v_orders_enriched" AS
SELECT
    line.*,
    CASE WHEN line.revenue = 0 THEN NULL ELSE line.profit / line.revenue END AS margin
FROM (
    SELECT
        order_id,
        order_date,
        year(order_date) AS order_year,
        month(order_date) AS order_month,
        date_format(order_date, '%Y-%m') AS order_year_month,
        date_trunc('month', order_date) AS order_month_start,
        ship_mode,
        segment,
        country,
        city,
        state,
        postal_code,
        region,
        category,
        sub_category,
        product_id,
        quantity,
        list_price,
        cost_price,
        discount_percent,
        CASE
            WHEN discount_percent <= 0 THEN '0%'
            WHEN discount_percent <= 10 THEN '0-10%'
            WHEN discount_percent <= 20 THEN '10-20%'
            WHEN discount_percent <= 30 THEN '20-30%'
            WHEN discount_percent <= 50 THEN '30-50%'
            ELSE 'over 50%'
        END AS discount_band,
        list_price * quantity AS gross_revenue,
        list_price * quantity * discount_percent / 100 AS discount_amount,
        list_price * (1 - discount_percent / 100) * quantity AS revenue,
        cost_price * quantity AS cost,
        profit,
        profit < 0 AS is_loss,
        source_key,
        ingested_at,
        ingest_date
    FROM "${database}"."${table}"
) AS line
