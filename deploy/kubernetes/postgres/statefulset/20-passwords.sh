#!/bin/bash
# Run once by the postgres image's entrypoint at first start, after 10-roles.sql:
# gives the login role each service starts on (<service>_a) its password from
# the environment (the involve-postgres Secret). The _b roles stay without one
# until a rotation needs them. Sourced by the entrypoint (which runs with
# errexit), so no `set` of its own. The SQL comes on stdin: psql interpolates
# variables (quoting them safely) there, not in -c.
for service in gateway profiles asb; do
  variable="${service^^}_PASSWORD"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v role="${service}_a" -v password="${!variable}" <<'SQL'
ALTER ROLE :"role" PASSWORD :'password';
SQL
done
