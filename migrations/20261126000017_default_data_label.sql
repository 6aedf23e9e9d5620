-- The data label of a decision request that names none (the no-code
-- integrations may omit it). RESTRICTED unless the tenant sets another:
-- an omitted label never widens access.
ALTER TABLE tenants ADD COLUMN default_data_label text NOT NULL DEFAULT 'RESTRICTED'
    CHECK (default_data_label IN ('PUBLIC', 'INTERNAL', 'RESTRICTED'));
