-- selfhosted_ai.stack (role supabase): the JWT secret and expiry as database settings, for SQL that reads
-- app.settings.jwt_secret. Written once at init: a rotated JWT secret must be set here too (docs/supabase.md).
\set jwt_secret `echo "$JWT_SECRET"`
\set jwt_exp `echo "$JWT_EXP"`

ALTER DATABASE postgres SET "app.settings.jwt_secret" TO :'jwt_secret';
ALTER DATABASE postgres SET "app.settings.jwt_exp" TO :'jwt_exp';
