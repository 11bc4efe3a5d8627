-- selfhosted_ai.stack (role supabase): Realtime keeps its tenants in schema _realtime (DB_AFTER_CONNECT_QUERY).
\set pguser `echo "$POSTGRES_USER"`

CREATE SCHEMA IF NOT EXISTS _realtime;
ALTER SCHEMA _realtime OWNER TO :pguser;
