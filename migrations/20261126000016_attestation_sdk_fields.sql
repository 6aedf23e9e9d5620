-- What the Go and TypeScript SDKs report with an attestation
-- (`PUT /api/v1/workers/{id}/attest`): the species the package implements
-- (checked against the worker's registered species), its version and the
-- path of its manifest. Absent for the Python SDK's body and for cards.
ALTER TABLE attestations
    ADD COLUMN worker_species_id text,
    ADD COLUMN worker_version    text,
    ADD COLUMN manifest_path     text;
