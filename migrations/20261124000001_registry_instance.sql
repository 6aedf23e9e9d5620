-- One row naming this registry installation. Written by the first server to
-- start against an empty database; later starts (and other replicas) read it.
CREATE TABLE registry_instance (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    instance_id uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
