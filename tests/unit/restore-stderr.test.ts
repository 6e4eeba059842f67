import { describe, expect, it } from "vitest";
import { reportableErrorLine, StderrParser } from "../../lib/postgres/restore.js";

/** pg_restore 15's stderr, restoring a dump into a database whose table has a check the rows fail (captured). */
const STDERR = `pg_restore: connecting to database for restore
pg_restore: creating TABLE "public.secrets"
pg_restore: processing data for table "public.secrets"
pg_restore: from TOC entry 3344; 0 16480 TABLE DATA secrets postgres
pg_restore: error: COPY failed for table "secrets": ERROR:  new row for relation "secrets" violates check constraint "secrets_token_check"
DETAIL:  Failing row contains (1, tok_live_SECRET_error, 5).
CONTEXT:  COPY secrets, line 1: "1	tok_live_SECRET_error	5"
pg_restore: creating CONSTRAINT "public.secrets secrets_pkey"
pg_restore: error: could not execute query: ERROR:  multiple primary keys for table "secrets" are not allowed
Command was: ALTER TABLE ONLY public.secrets
    ADD CONSTRAINT error_if_any PRIMARY KEY (id);
pg_restore: warning: errors ignored on restore: 2
`;

describe("pg_restore's errors in a report", () => {
  it("keep pg_restore's own lines and drop the server's DETAIL, CONTEXT and command, which quote rows", () => {
    const parser = new StderrParser();
    // Split mid-line, as a pipe delivers it.
    parser.push(STDERR.slice(0, 400));
    parser.push(STDERR.slice(400));
    parser.end();
    expect(parser.errors).toEqual([
      'pg_restore: error: COPY failed for table "secrets": ERROR:  new row for relation "secrets" violates check constraint "secrets_token_check"',
      'pg_restore: error: could not execute query: ERROR:  multiple primary keys for table "secrets" are not allowed',
    ]);
    expect(parser.errors.join("\n")).not.toContain("tok_live");
    expect(parser.tablesCreated).toBe(1);
    expect(parser.tablesLoaded).toBe(1);
  });

  it("withhold any server message that is not known to name identifiers only, wherever a value sits in it", () => {
    const withheld = (head: string) => `${head}[server message withheld: it may quote row values]`;
    const copy = 'pg_restore: error: COPY failed for table "parts": ERROR:  ';
    for (const message of [
      'invalid input syntax for type integer: "4111 1111 1111 1111"',
      'value "99999999999" is out of range for type integer',
      '"1e999" is out of range for type double precision',
      // A RAISE in a check's function: free text.
      "token tok_live_SECRET could not be accepted",
      'invalid byte sequence for encoding "UTF8": 0xe9 0x20',
      `malformed array literal: "${"x".repeat(600)}`,
      // A server whose lc_messages is not English.
      "ungültige Eingabesyntax für Typ integer: »4111«",
    ]) {
      expect(reportableErrorLine(copy + message), message).toBe(withheld(copy));
    }
    // A server WARNING that pg_restore's notice processor prints under its own prefix.
    expect(reportableErrorLine("pg_restore: WARNING:  could not check tok_warn_SECRET")).toBe(
      withheld("pg_restore: WARNING:  "),
    );
  });

  it("keep server messages that name identifiers only, and pg_restore's own words without a trailing value", () => {
    for (const line of [
      'pg_restore: error: COPY failed for table "secrets": ERROR:  new row for relation "secrets" violates check constraint "secrets_token_check"',
      'pg_restore: error: could not execute query: ERROR:  relation "secrets" already exists',
      'pg_restore: error: COPY failed for table "sales": ERROR:  insert or update on table "sales" violates foreign key constraint "sales_part_id_fkey"',
      'pg_restore: error: COPY failed for table "parts": ERROR:  value too long for type character varying(5)',
      'pg_restore: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "ops"',
    ]) {
      expect(reportableErrorLine(line)).toBe(line);
    }
    expect(reportableErrorLine('pg_restore: error: could not open input file "/tmp/x.dump": No such file')).toBe(
      'pg_restore: error: could not open input file "/tmp/x.dump": No such file',
    );
    expect(reportableErrorLine('pg_restore: error: unrecognized data block type: "\x01secret"')).toBe(
      "pg_restore: error: unrecognized data block type: [value removed]",
    );
    expect(reportableErrorLine("DETAIL:  Key (email)=(someone@example.com) already exists.")).toBeUndefined();
    expect(
      reportableErrorLine("pg_restore: detail: Command was: INSERT INTO public.users VALUES (1, 'error@example.com');"),
    ).toBeUndefined();
  });
});
