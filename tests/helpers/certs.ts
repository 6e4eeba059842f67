import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Files of a throwaway CA and a server certificate it signed, made with openssl for one test run. */
export interface TestCertificates {
  caFile: string;
  /** A second CA that signed nothing the server presents (the "wrong CA"). */
  otherCaFile: string;
  certFile: string;
  keyFile: string;
  /** The only name the server certificate carries (a DNS subjectAltName; no IP address). */
  hostname: string;
}

async function openssl(args: string[]): Promise<void> {
  await run("openssl", args, { timeout: 60_000 });
}

async function makeCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "2",
    "-subj",
    `/CN=ops-autopilot test ${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return { cert, key };
}

/** A CA, a second unrelated CA, and a server certificate for `localhost` signed by the first. */
export async function makeTestCertificates(dir: string, hostname = "localhost"): Promise<TestCertificates> {
  const ca = await makeCa(dir, "ca");
  const other = await makeCa(dir, "other-ca");
  const keyFile = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const certFile = join(dir, "server.crt");
  const ext = join(dir, "server.ext");
  await openssl([
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    csr,
    "-subj",
    `/CN=${hostname}`,
  ]);
  await writeFile(
    ext,
    `subjectAltName=DNS:${hostname}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-CAcreateserial",
    "-out",
    certFile,
    "-days",
    "2",
    "-extfile",
    ext,
  ]);
  return { caFile: ca.cert, otherCaFile: other.cert, certFile, keyFile, hostname };
}
