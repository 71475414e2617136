-- Model versions uploaded at run time (cluster mode): one row per version, the ONNX file as bytea, with its SHA-256,
-- optional config overrides and reference profile (JSON). Every silo fetches a version once into a local cache
-- named by its hash. PostgresModelStore also creates this table on first use.
CREATE TABLE IF NOT EXISTS aifleet_model_versions (
    model text NOT NULL,
    version text NOT NULL,
    sha256 text NOT NULL,
    bytes bigint NOT NULL,
    config text NULL,
    profile text NULL,
    uploaded_at timestamptz NOT NULL,
    onnx bytea NOT NULL,
    PRIMARY KEY (model, version)
);
