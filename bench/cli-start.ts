/**
 * `ops` start time: `ops --help` and `ops plan` (which loads the catalogue and the registry) against
 * `node -e ''` measured in the same run, interleaved, medians of N. Target: `ops --help` ≤ 300 ms here.
 * Run with `npm run bench:cli` (`-- --runs 30`). Builds dist/ first when it is stale.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const runsFlag = process.argv.indexOf("--runs");
const runs = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 15;

execFileSync("bash", ["scripts/ensure-deps.sh"], { cwd: root, stdio: "inherit" });

const cases: Record<string, string[]> = {
  "node -e ''": ["-e", ""],
  "ops --help": ["bin/ops.js", "--help"],
  "ops plan --system demo": ["bin/ops.js", "plan", "--system", "demo"],
};

function timeOnce(args: string[]): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: "ignore" });
  if (result.status !== 0) throw new Error(`node ${args.join(" ")} exited ${result.status}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const samples = new Map<string, number[]>(Object.keys(cases).map((k) => [k, []]));
for (let i = 0; i < runs; i++) {
  for (const [name, args] of Object.entries(cases)) samples.get(name)?.push(timeOnce(args));
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};
const base = median(samples.get("node -e ''") ?? []);
console.log(`ops start time, medians of ${runs} interleaved runs (node ${process.version})`);
for (const [name, xs] of samples) {
  const m = median(xs);
  const verdict = name === "ops --help" ? (m <= 300 ? "  (target ≤ 300 ms: met)" : "  (target ≤ 300 ms: NOT met)") : "";
  console.log(`  ${name.padEnd(24)} ${m.toFixed(0).padStart(5)} ms   ÷ node -e '' ${(m / base).toFixed(2)}${verdict}`);
}
