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

  it("replace the value a server message ends on, quoted or as bytes, and keep the identifiers", () => {
    expect(
      reportableErrorLine(
        'pg_restore: error: COPY failed for table "parts": ERROR:  invalid input syntax for type integer: "4111 1111 1111 1111"',
      ),
    ).toBe(
      'pg_restore: error: COPY failed for table "parts": ERROR:  invalid input syntax for type integer: [value removed]',
    );
    expect(
      reportableErrorLine(
        'pg_restore: error: COPY failed for table "t": ERROR:  invalid byte sequence for encoding "UTF8": 0xe9 0x20',
      ),
    ).toBe(
      'pg_restore: error: COPY failed for table "t": ERROR:  invalid byte sequence for encoding "UTF8": [value removed]',
    );
    // Cut at 500 characters mid-value: still removed.
    const long = `pg_restore: error: COPY failed for table "t": ERROR:  malformed array literal: "${"x".repeat(600)}`;
    expect(reportableErrorLine(long)).toBe(
      'pg_restore: error: COPY failed for table "t": ERROR:  malformed array literal: [value removed]',
    );
    expect(
      reportableErrorLine(
        'pg_restore: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "ops"',
      ),
    ).toBe(
      'pg_restore: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "ops"',
    );
    expect(reportableErrorLine("DETAIL:  Key (email)=(someone@example.com) already exists.")).toBeUndefined();
    // pg_restore 16's own prefix on the failed command.
    expect(
      reportableErrorLine("pg_restore: detail: Command was: INSERT INTO public.users VALUES (1, 'error@example.com');"),
    ).toBeUndefined();
  });
});
