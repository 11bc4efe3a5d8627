-- selfhosted_ai.stack (role supabase): Logflare (the logs overlay) keeps its tables in _supabase, schema _analytics.
\set pguser `echo "$POSTGRES_USER"`

\c _supabase
CREATE SCHEMA IF NOT EXISTS _analytics;
ALTER SCHEMA _analytics OWNER TO :pguser;
\c postgres
