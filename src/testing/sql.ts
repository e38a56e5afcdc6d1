/**
 * Every statement the testing module sends to PostgreSQL, named once: those
 * `createThrowawayDatabase` creates, watches and drops its database
 * with. Database names arrive already validated and are quoted here with
 * `quoteIdent`; values travel as parameters.
 *
 * Every built-in function, catalog and operator a statement names is named
 * with its schema: the server URL's `search_path` may put another schema
 * first, with a look-alike in it.
 *
 * @module
 */
import type { Statement } from '../_internals/pg.js';
import { quoteIdent } from '../_internals/sql-identifier.js';

/** Creates database `name`, cloned from `template` when given. */
export const createDatabase = (name: string, template: string | undefined): Statement => ({
  text: `CREATE DATABASE ${quoteIdent(name)}${template === undefined ? '' : ` TEMPLATE ${quoteIdent(template)}`}`,
});

/**
 * Whether a client session other than this one is connected to database
 * `name`: one row, `connected`. Background processes (autovacuum) are not
 * counted: they do not leave on their own, and terminating them harms no one.
 */
export const otherClientSessions = (name: string): Statement => ({
  text: `SELECT EXISTS (
      SELECT FROM pg_catalog.pg_stat_activity
      WHERE datname OPERATOR(pg_catalog.=) $1
        AND backend_type OPERATOR(pg_catalog.=) 'client backend'
        AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
    ) AS connected`,
  values: [name],
});

/** Drops database `name` if it exists, terminating every session still connected to it. */
export const dropDatabaseForce = (name: string): Statement => ({
  text: `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`,
});
