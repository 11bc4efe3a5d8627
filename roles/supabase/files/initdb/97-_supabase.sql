-- selfhosted_ai.stack (role supabase): the database of Supabase's own services (the pooler's tenants, the logs).
\set pguser `echo "$POSTGRES_USER"`

CREATE DATABASE _supabase WITH OWNER :pguser;
