# Run inside the database container by the flexmeasures role (sh -s -- USER DB ACCOUNT EMAIL, with
# PGPASSWORD in the environment): everything the role compares in the database, in one exec,
# printed as one JSON object. Exits non-zero only when PostgreSQL cannot be asked at all.
set -u
user=$1 db=$2 account=$3 email=$4

# A container just (re)started needs a few seconds before it accepts connections.
tries=0
until pg_isready -q -h 127.0.0.1 -U "$user" </dev/null; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "PostgreSQL did not accept connections within 60 s" >&2
    exit 3
  fi
  sleep 1
done

# The password the inventory holds, tried over TCP the way FlexMeasures connects.
if psql -h 127.0.0.1 -U "$user" -d "$db" -tAc 'select 1' </dev/null >/dev/null 2>&1; then
  password_ok=true
else
  password_ok=false
fi

# The rest over the local socket (trusted inside the container), whatever the password.
unset PGPASSWORD
psql -U "$user" -d "$db" -X -q -tA -v ON_ERROR_STOP=1 -v password_ok="$password_ok" \
  -v account="$account" -v email="$email" <<'SQL'
select to_regclass('public.alembic_version') is not null as has_alembic,
       to_regclass('public.role') is not null and to_regclass('public.account') is not null
         and to_regclass('public.fm_user') is not null as has_users \gset
\if :has_alembic
select coalesce(string_agg(version_num, ' ' order by version_num), '') as revision from alembic_version \gset
\else
\set revision ''
\endif
\if :has_users
select (select count(*) from role) as roles,
       coalesce((select id::text from account where name = :'account'), '') as account_id,
       (select count(*) from fm_user where email = :'email') as admins \gset
\else
\set roles 0
\set account_id ''
\set admins 0
\endif
select json_build_object(
  'password_ok', :'password_ok'::boolean,
  'extensions', coalesce((select string_agg(extname, ',' order by extname) from pg_extension
                          where extname in ('cube', 'earthdistance')), ''),
  'has_alembic', :'has_alembic'::boolean,
  'revision', :'revision',
  'roles', :'roles'::int,
  'account_id', :'account_id',
  'admins', :'admins'::int);
SQL
