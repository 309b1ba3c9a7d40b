-- Orders x line items of one data interval, in the row contract (see the README).
-- One row per line item; ORDER BY event_id keeps an order's rows together, so they become
-- one event with one contents item per row. The window bounds are rendered by Airflow from
-- the run's data interval (ISO-8601 UTC), not user input.
SELECT o.order_id AS event_id,
       'purchase' AS event_type,
       o.created_at AS event_time,
       'web' AS action_source,
       o.page_url AS source_url,
       o.oppref,
       o.email,
       o.phone,
       o.customer_id AS external_id,
       o.first_name,
       o.last_name,
       o.city,
       o.region,
       o.postal_code,
       o.country,
       o.ip_address,
       o.user_agent,
       o.total AS value,
       o.currency,
       o.marketing_consent AS consent,
       i.sku AS item_id,
       i.product_name AS item_name,
       i.quantity AS item_quantity,
       i.unit_price AS item_price
FROM orders o
JOIN order_items i ON i.order_id = o.order_id
WHERE o.created_at >= '{{ data_interval_start | ts }}'
  AND o.created_at < '{{ data_interval_end | ts }}'
ORDER BY o.order_id, i.line_no
