// Adds up vitest JSON reports, names each failed test, and prints the
// closing line CI reads: "tests: N passed, N failed, N skipped". Each argument is `report.json=exitCode`;
// a run that exited non-zero with no failed test (vitest's unhandled errors)
// counts as one failure, so the line can't say green when the run was not.
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';

let passed = 0;
let failed = 0;
let skipped = 0;
let missing = 0;
for (const arg of process.argv.slice(2)) {
  const cut = arg.lastIndexOf('=');
  const file = cut === -1 ? arg : arg.slice(0, cut);
  const rc = cut === -1 ? 0 : Number(arg.slice(cut + 1));
  if (!existsSync(file)) {
    missing += 1;
    console.log(`${file}: no report (the run did not finish)`);
    continue;
  }
  const r = JSON.parse(readFileSync(file, 'utf8'));
  // Name every failure here, next to the closing line, where a truncated log still shows it.
  for (const f of r.testResults ?? []) {
    const where = relative(process.cwd(), f.name);
    const failedTests = (f.assertionResults ?? []).filter((a) => a.status === 'failed');
    if (f.status === 'failed' && failedTests.length === 0)
      console.log(`${file}: FAILED ${where} (${String(f.message ?? 'no test ran').split('\n')[0]})`);
    for (const a of failedTests)
      console.log(
        `${file}: FAILED ${where} > ${a.fullName}: ${String(a.failureMessages?.[0] ?? '')
          .split('\n')[0]
          .slice(0, 300)}`,
      );
  }
  passed += r.numPassedTests;
  // A file that failed before running any test (an import error) has no
  // assertion results; count it, so it can't hide.
  const brokenFiles = (r.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0).length;
  const runErrors = rc !== 0 && r.numFailedTests + brokenFiles === 0 ? 1 : 0;
  failed += r.numFailedTests + brokenFiles + runErrors;
  skipped += r.numPendingTests + r.numTodoTests;
  const note = runErrors ? ` (the run exited ${rc} with no failed test: unhandled errors, see its output)` : '';
  console.log(
    `${file}: ${r.numPassedTests} passed, ${r.numFailedTests + brokenFiles + runErrors} failed, ${r.numPendingTests} skipped${note}`,
  );
}
console.log(`tests: ${passed} passed, ${failed + missing} failed, ${skipped} skipped`);
process.exit(failed + missing > 0 || passed === 0 ? 1 : 0);
