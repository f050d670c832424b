-- One schema per service, owned by a role of its own (NOLOGIN), and two login
-- roles per service (<service>_a, <service>_b) that act as that owner: a
-- service's URL names one of them, and its password is rotated by moving the
-- service to the other (README, "Rotating secrets"). Login roles get no
-- password here: they cannot log in until the operator (or CloudNativePG's
-- managed roles) sets one. Idempotent: safe to run again.
DO $$
DECLARE
  service text;
  login text;
BEGIN
  FOREACH service IN ARRAY ARRAY['gateway', 'profiles', 'asb'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = service) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', service);
    END IF;
    FOREACH login IN ARRAY ARRAY[service || '_a', service || '_b'] LOOP
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login) THEN
        EXECUTE format('CREATE ROLE %I LOGIN NOINHERIT', login);
      END IF;
      EXECUTE format('GRANT %I TO %I', service, login);
      -- Every session of the login role acts as the owner, so tables the
      -- migrations create belong to the service, whichever login made them.
      EXECUTE format('ALTER ROLE %I SET role = %L', login, service);
    END LOOP;
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', service, service);
    EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', service);
  END LOOP;
  -- No service creates schemas or writes anywhere but its own.
  EXECUTE format('REVOKE CREATE, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
  REVOKE CREATE ON SCHEMA public FROM PUBLIC;
END
$$;
