-- The totals that reached zero (seconds every connection has moved on from), so the
-- fold drops them without reading the others.
CREATE INDEX partner_counts_empty ON partner_counts (tenant_id) WHERE n = 0;
